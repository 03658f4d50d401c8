"""Messaging API views (the api.line.me `/v2` role): thin faces over delivery and user data."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.typedefs import Handler

from line_simulator import account_link, channel_tokens, delivery, errors, ids
from line_simulator.errors import LineApiError, default_fault_body
from line_simulator.keys import LINE_REQUEST_ID, SIMULATOR
from line_simulator.state import Fault, SentRequest

if TYPE_CHECKING:
    from line_simulator.simulator import Simulator

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 2 * 1024 * 1024  # LINE answers 413 past 2 MB


@web.middleware
async def line_api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give `/v2` calls a request ID, check the bearer token and answer errors as LINE does."""
    if not request.path.startswith("/v2/"):
        return await handler(request)
    request_id = ids.request_id()
    request[LINE_REQUEST_ID] = request_id
    sim = request.app[SIMULATOR]
    try:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not channel_tokens.accepts(sim, token):
            raise LineApiError(401, errors.AUTH_FAILED)
        response = await handler(request)
    except LineApiError as error:
        response = error.response()
    except web.HTTPRequestEntityTooLarge:
        response = LineApiError(413, errors.TOO_LARGE).response()
    except web.HTTPException as error:  # the router's 404 and 405
        message = errors.NOT_FOUND if error.status == 404 else error.reason
        response = web.json_response({"message": message}, status=error.status)
    response.headers["x-line-request-id"] = request_id
    return response


def fault_error(fault: Fault) -> LineApiError:
    """Return the error an injected fault answers."""
    return LineApiError.with_body(fault.status, fault.body or default_fault_body(fault.status))


def _take_fault(sim: Simulator, endpoint: str) -> None:
    fault = sim.take_fault(endpoint)
    if fault is not None:
        raise fault_error(fault)


async def read_json(request: web.Request) -> Any:
    """Return the parsed JSON body, or raise LINE's 400 (bad JSON) or 413 (too large)."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as error:
        raise LineApiError(413, errors.TOO_LARGE) from error
    if len(raw) > MAX_BODY_BYTES:
        raise LineApiError(413, errors.TOO_LARGE)
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LineApiError(400, errors.BAD_JSON) from error


def _addressing(kind: str, body: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """Return the recipients and messages a body names, for the record, before validation."""
    if not isinstance(body, dict):
        return [], []
    messages = body.get("messages")
    messages = messages if isinstance(messages, list) else []
    to = body.get("to")
    if kind == "push" and isinstance(to, str):
        return [to], messages
    if kind == "multicast" and isinstance(to, list):
        return [t for t in to if isinstance(t, str)], messages
    return [], messages


async def _send(request: web.Request, kind: str) -> web.Response:
    sim = request.app[SIMULATOR]
    request_id = request[LINE_REQUEST_ID]
    retry_key = request.headers.get("X-Line-Retry-Key")
    record = SentRequest(kind, [], [], retry_key, request_id, 0)
    sim.sent.append(record)
    try:
        fault = sim.take_fault(kind)
        if fault is not None and not fault.deliver:
            raise fault_error(fault)
        chance = sim.roll_fault(kind)  # set_fault_rates: a random fault of this call
        if chance == "429":
            raise LineApiError(429, errors.RATE_LIMITED)
        if chance == "5xx":
            raise fault_error(Fault(500, 1, None))
        if not sim.allow_request(kind):
            raise LineApiError(429, errors.RATE_LIMITED)
        body = await read_json(request)
        record.to, record.messages = _addressing(kind, body)
        if kind == "reply":
            outcome = delivery.reply(sim, body, retry_key)
        elif kind == "push":
            outcome = delivery.push(sim, body, retry_key, request_id)
        else:
            outcome = delivery.multicast(sim, body, retry_key, request_id)
        record.to = outcome.recipients
        if fault is not None:  # done, but the answer is "lost"
            raise fault_error(fault)
    except LineApiError as error:
        record.status = error.status
        log.info("%s answered %s", kind, error.status)
        raise
    record.status = 200
    if chance == "drop" and request.transport is not None:
        # Done, but the answer never arrives: the client sees the connection drop.
        record.dropped = True
        log.info("%s done, connection dropped", kind)
        request.transport.abort()
    return web.json_response(outcome.body)


async def reply_message(request: web.Request) -> web.Response:
    """POST /v2/bot/message/reply."""
    return await _send(request, "reply")


async def push_message(request: web.Request) -> web.Response:
    """POST /v2/bot/message/push."""
    return await _send(request, "push")


async def multicast_message(request: web.Request) -> web.Response:
    """POST /v2/bot/message/multicast."""
    return await _send(request, "multicast")


async def get_profile(request: web.Request) -> web.Response:
    """GET /v2/bot/profile/{user_id}: only friends have a profile for the bot."""
    sim = request.app[SIMULATOR]
    _take_fault(sim, "profile")
    user = sim.users.get(request.match_info["user_id"])
    if user is None or not user.reachable:
        raise LineApiError(404, errors.NOT_FOUND)
    profile = {"userId": user.user_id, "displayName": user.display_name}
    if user.language:
        profile["language"] = user.language
    return web.json_response(profile)


async def issue_link_token(request: web.Request) -> web.Response:
    """POST /v2/bot/user/{user_id}/linkToken."""
    sim = request.app[SIMULATOR]
    _take_fault(sim, "linkToken")
    user_id = request.match_info["user_id"]
    if user_id not in sim.users:
        raise LineApiError(400, "The user ID is invalid")
    return web.json_response({"linkToken": account_link.issue_link_token(sim, user_id)})


async def get_quota(request: web.Request) -> web.Response:
    """GET /v2/bot/message/quota: the simulated channel has no monthly limit."""
    return web.json_response({"type": "none"})


async def get_quota_consumption(request: web.Request) -> web.Response:
    """GET /v2/bot/message/quota/consumption: billable deliveries (push and multicast)."""
    sim = request.app[SIMULATOR]
    return web.json_response({"totalUsage": sim.billable_deliveries})


async def not_found(request: web.Request) -> web.Response:
    """Any other `/v2` path."""
    raise LineApiError(404, errors.NOT_FOUND)
