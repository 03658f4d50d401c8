"""The durable webhook inbox: events are stored (deduplicated by `webhookEventId`) before
LINE gets its 200, then handled in the background, each exactly once.

Only what de-duplication needs outlives the handling: once an event is done or given up its
payload (chat text included) is dropped, and the row itself is purged after the retention
period (the seed's privacy FAQ: keep nothing from LINE we do not need)."""

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import Q

from domain.notify import Topic, notifier
from models import InboxEvent, InboxStatus

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# A failed event waits RETRY_BASE seconds before its first retry, twice as long before each
# next one, never more than RETRY_CAP (2, 4, 8, 16 s: given up about 30 s after it arrived).
RETRY_BASE = 2.0
RETRY_CAP = 300.0
# A claim older than this belongs to a process that died mid-event: take the event over.
CLAIM_TIMEOUT = timedelta(minutes=1)
# Handled rows are kept this long by default: long enough to recognise LINE's redeliveries.
RETENTION = timedelta(days=7)
PURGE_BATCH = 500

FINISHED = (InboxStatus.DONE, InboxStatus.FAILED)
# LINE's event types are short camelCase words; anything else is not kept as a type.
_EVENT_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")


class UnreadableEvent(Exception):
    """The stored event cannot be parsed: retrying it would fail the same way."""


async def store_events(events: list[dict[str, Any]]) -> int:
    """Write new events to the inbox in one statement; return how many were new.

    Redeliveries (and events arriving twice at once) are dropped by the unique key."""
    fresh: dict[str, dict[str, Any]] = {}
    for event in events:
        event_id = event.get("webhookEventId")
        if not isinstance(event_id, str) or not event_id or len(event_id) > 64:
            log.warning("webhook event without a usable webhookEventId dropped")
            continue
        fresh.setdefault(event_id, event)
    if not fresh:
        return 0
    known = set(
        await InboxEvent.filter(webhook_event_id__in=list(fresh)).values_list(
            "webhook_event_id", flat=True
        )
    )
    rows = [
        InboxEvent(webhook_event_id=event_id, event_type=event_type(event), payload=event)
        for event_id, event in fresh.items()
        if event_id not in known
    ]
    if rows:
        await InboxEvent.bulk_create(rows, ignore_conflicts=True)
        await notifier.publish(Topic.INBOX)
    return len(rows)


def event_type(event: dict[str, Any]) -> str:
    """The event's `type` when it looks like one of LINE's, else "" (missing, a list...)."""
    kind = event.get("type")
    return kind if isinstance(kind, str) and _EVENT_TYPE.fullmatch(kind) else ""


def retry_delay(attempts: int) -> float:
    """Seconds to wait before retrying an event that has failed `attempts` times."""
    return min(RETRY_BASE * 2 ** (attempts - 1), RETRY_CAP)


Dispatch = Callable[[dict[str, Any]], Awaitable[None]]


async def process_pending(dispatch: Dispatch, limit: int = 50) -> int:
    """Hand up to `limit` due events, in arrival order, to `dispatch`; return how many were
    taken. A failing event is retried with a growing pause and given up after MAX_ATTEMPTS;
    one `dispatch` rejects as UnreadableEvent is given up at once."""
    now = datetime.now(UTC)
    rows = (
        await InboxEvent.filter(status=InboxStatus.PENDING)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_TIMEOUT))
        .filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now))
        .order_by("id")
        .limit(limit)
    )
    taken = 0
    for row in rows:
        # Claim with a conditional update so two processes never handle one event.
        claimed = await InboxEvent.filter(
            id=row.id, status=InboxStatus.PENDING, attempts=row.attempts
        ).update(attempts=row.attempts + 1, claimed_at=now)
        if not claimed:
            continue
        taken += 1
        attempts = row.attempts + 1
        try:
            if not isinstance(row.payload, dict):
                raise UnreadableEvent("no payload")
            await dispatch(row.payload)
        except asyncio.CancelledError:
            raise
        except UnreadableEvent as exc:
            # One line, no traceback and never the body: it carries what people wrote.
            log.warning(
                "webhook event %s of type %r cannot be read (%s): given up",
                row.webhook_event_id,
                row.event_type,
                exc,
            )
            await _finish(row.id, InboxStatus.FAILED, UnreadableEvent.__name__)
        except Exception as exc:
            await _failed(row, attempts, exc)
        else:
            await _finish(row.id, InboxStatus.DONE)
    return taken


async def _failed(row: InboxEvent, attempts: int, exc: Exception) -> None:
    error = type(exc).__name__
    if attempts >= MAX_ATTEMPTS:
        log.error(
            "handling %s event %s failed %d times (%s): given up",
            row.event_type or "untyped",
            row.webhook_event_id,
            attempts,
            error,
            exc_info=exc,
        )
        await _finish(row.id, InboxStatus.FAILED, error)
        return
    delay = retry_delay(attempts)
    log.warning(
        "handling %s event %s failed (%s): retry %d of %d in %.1f s",
        row.event_type or "untyped",
        row.webhook_event_id,
        error,
        attempts,
        MAX_ATTEMPTS - 1,
        delay,
    )
    await InboxEvent.filter(id=row.id).update(
        last_error=error,
        claimed_at=None,
        retry_at=datetime.now(UTC) + timedelta(seconds=delay),
    )


async def _finish(row_id: int, status: InboxStatus, error: str | None = None) -> None:
    """Record the outcome and drop the payload: only what de-duplication needs stays."""
    values: dict[str, Any] = {"last_error": error} if error else {}
    await InboxEvent.filter(id=row_id).update(
        status=status,
        payload=None,
        processed_at=datetime.now(UTC),
        claimed_at=None,
        retry_at=None,
        **values,
    )


async def next_retry_in() -> float | None:
    """Seconds until the earliest waiting retry falls due (0 if one is due), or None."""
    row = (
        await InboxEvent.filter(
            status=InboxStatus.PENDING, claimed_at__isnull=True, retry_at__isnull=False
        )
        .order_by("retry_at")
        .first()
        .only("id", "retry_at")
    )
    if row is None or row.retry_at is None:
        return None
    return max((row.retry_at - datetime.now(UTC)).total_seconds(), 0.0)


async def purge_finished(retention: timedelta = RETENTION, limit: int = PURGE_BATCH) -> int:
    """Delete up to `limit` done or given-up events finished more than `retention` ago, and
    drop the payload of finished events that still hold one; return how many rows changed."""
    cutoff = datetime.now(UTC) - retention
    finished = InboxEvent.filter(status__in=FINISHED)
    expired = await (
        finished.filter(
            Q(processed_at__lt=cutoff) | Q(processed_at__isnull=True, received_at__lt=cutoff)
        )
        .limit(limit)
        .values_list("id", flat=True)
    )
    purged = await InboxEvent.filter(id__in=list(expired)).delete() if expired else 0
    # Rows finished before payloads were dropped on handling keep one until purged: not so.
    kept = await finished.filter(payload__isnull=False).limit(limit).values_list("id", flat=True)
    forgotten = await InboxEvent.filter(id__in=list(kept)).update(payload=None) if kept else 0
    return purged + forgotten
