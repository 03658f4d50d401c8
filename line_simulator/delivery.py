"""Reply, push and multicast as LINE performs them: check, deliver, bill, remember retry keys."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from line_simulator import errors, ids
from line_simulator.config import REPLY_TOKEN_TTL
from line_simulator.errors import LineApiError
from line_simulator.validation import validate_request

if TYPE_CHECKING:
    from line_simulator.simulator import Simulator


@dataclass
class Outcome:
    """What a send answered and to whom it went."""

    body: dict[str, Any]
    recipients: list[str] = field(default_factory=list)


MULTICAST_MAX = 500
USER_ID = re.compile(r"U[0-9a-f]{32}")  # the multicast schema's pattern for each recipient
PLACEHOLDER_USER = "U" + "0" * 32


def _check_body(operation: str, body: Any) -> None:
    details = validate_request(operation, body)
    if details:
        raise LineApiError(400, f"The request body has {len(details)} error(s)", details=details)


@functools.lru_cache(maxsize=64)
def _multicast_details(body_json: str) -> tuple[tuple[tuple[str, str], ...], ...]:
    details = validate_request("multicast", json.loads(body_json))
    return tuple(tuple(sorted(d.items())) for d in details)


def _check_multicast(body: Any) -> None:
    """The full check, made cheap for the usual body: 1-500 well-formed recipients and the
    same messages batch after batch. Validating 500 IDs through the schema costs ~10 ms a
    request, so well-formed recipients are checked here with the schema's own pattern and
    the rest of the body is validated once per distinct content (with one placeholder
    recipient); anything else takes the full check, whose details name the bad `to[i]`."""
    to = body.get("to") if isinstance(body, dict) else None
    if not (
        isinstance(to, list)
        and 0 < len(to) <= MULTICAST_MAX
        and all(isinstance(t, str) and USER_ID.fullmatch(t) for t in to)
    ):
        _check_body("multicast", body)
        return
    rest = json.dumps({**body, "to": [PLACEHOLDER_USER]}, sort_keys=True, ensure_ascii=False)
    details = [dict(d) for d in _multicast_details(rest)]
    if details:
        raise LineApiError(400, f"The request body has {len(details)} error(s)", details=details)


def _check_retry_key(sim: Simulator, retry_key: str | None, *, with_sent: bool) -> None:
    if retry_key is None:
        return
    if not ids.is_uuid(retry_key):
        raise LineApiError(400, errors.RETRY_KEY_INVALID)
    accepted = sim.accepted_retry(retry_key)
    if accepted is not None:
        extra = {"sentMessages": accepted.sent_messages} if with_sent else None
        raise LineApiError(
            409,
            errors.RETRY_KEY_ACCEPTED,
            headers={"x-line-accepted-request-id": accepted.request_id},
            extra=extra,
        )


def _sent_messages(count: int) -> list[dict[str, str]]:
    return [{"id": ids.message_id(), "quoteToken": ids.opaque_token()} for _ in range(count)]


def reply(sim: Simulator, body: Any, retry_key: str | None) -> Outcome:
    """Deliver a reply to the user whose event carried the (unused, fresh) reply token."""
    if retry_key is not None:
        raise LineApiError(400, errors.RETRY_KEY_NOT_SUPPORTED)
    _check_body("reply", body)
    token = body["replyToken"]
    record = sim.reply_tokens.get(token)
    if record is None or record.used or sim.clock.now() - record.issued_at > REPLY_TOKEN_TTL:
        raise LineApiError(400, errors.INVALID_REPLY_TOKEN)
    sim.reply_tokens[token] = record._replace(used=True)
    # Replies are free: not billed. A group event's reply lands in the group's chat.
    if record.group_id:
        recipients = [record.group_id]
        sim.groups.deliver(record.group_id, body["messages"])
    else:
        recipients = [record.user_id] if record.user_id else []
        if record.user_id:
            sim.deliver(record.user_id, body["messages"])
    return Outcome({"sentMessages": _sent_messages(len(body["messages"]))}, recipients)


def push(sim: Simulator, body: Any, retry_key: str | None, request_id: str) -> Outcome:
    """Deliver to one user (silently dropped for non-friends) or to a group the bot is in
    (billed per member), answering the sent message IDs."""
    _check_retry_key(sim, retry_key, with_sent=True)
    _check_body("push", body)
    to: str = body["to"]
    if to.startswith("C"):
        sim.billable_deliveries += sim.groups.deliver(to, body["messages"])
    elif sim.deliver(to, body["messages"]):
        sim.billable_deliveries += 1
    sent = _sent_messages(len(body["messages"]))
    if retry_key is not None:
        sim.remember_retry(retry_key, request_id, sent)
    return Outcome({"sentMessages": sent}, [to])


def multicast(sim: Simulator, body: Any, retry_key: str | None, request_id: str) -> Outcome:
    """Deliver to up to 500 users; LINE answers `{}` whoever was actually reached."""
    _check_retry_key(sim, retry_key, with_sent=False)
    _check_multicast(body)
    recipients = list(dict.fromkeys(body["to"]))
    for user_id in recipients:
        if sim.deliver(user_id, body["messages"]):
            sim.billable_deliveries += 1
    if retry_key is not None:
        sim.remember_retry(retry_key, request_id, None)
    return Outcome({}, recipients)
