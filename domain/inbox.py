"""The durable webhook inbox: events are stored (deduplicated by `webhookEventId`) before
LINE gets its 200, then handled in the background, each exactly once."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import Q

from domain.notify import Topic, notifier
from models import InboxEvent, InboxStatus

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# A claim older than this belongs to a process that died mid-event: take the event over.
CLAIM_TIMEOUT = timedelta(minutes=1)


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
        InboxEvent(
            webhook_event_id=event_id,
            event_type=str(event.get("type", ""))[:32],
            payload=event,
        )
        for event_id, event in fresh.items()
        if event_id not in known
    ]
    if rows:
        await InboxEvent.bulk_create(rows, ignore_conflicts=True)
        await notifier.publish(Topic.INBOX)
    return len(rows)


Dispatch = Callable[[dict[str, Any]], Awaitable[None]]


async def process_pending(dispatch: Dispatch, limit: int = 50) -> int:
    """Hand up to `limit` pending events, in arrival order, to `dispatch`; return how many
    were taken. A failing event is retried later and given up after MAX_ATTEMPTS."""
    now = datetime.now(UTC)
    rows = (
        await InboxEvent.filter(status=InboxStatus.PENDING)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_TIMEOUT))
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
        try:
            await dispatch(row.payload)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("handling %s event %s failed", row.event_type, row.webhook_event_id)
            failed = row.attempts + 1 >= MAX_ATTEMPTS
            await InboxEvent.filter(id=row.id).update(
                status=InboxStatus.FAILED if failed else InboxStatus.PENDING,
                last_error=type(exc).__name__,
                claimed_at=None,
            )
            continue
        await InboxEvent.filter(id=row.id).update(
            status=InboxStatus.DONE, processed_at=datetime.now(UTC)
        )
    return taken
