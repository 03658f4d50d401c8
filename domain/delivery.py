"""The delivery engine: claims pending deliveries, multicasts them 500 at a time under a
stored retry key, retries what LINE may still accept, and records every outcome.

A batch's retry key is written with the claim, before the request goes out, so a crash at
any point resumes with the same key and the same recipients: LINE answers 409 for a batch
it already accepted, and nobody gets a second copy. The engine knows LINE only through the
small `LineSender` protocol and renders each batch with the builder chosen by its kind."""

import asyncio
import enum
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from domain.usage import add_billable, japan_today, prepare_day
from models import Alert, AlertRound, Delivery, DeliveryKind, DeliveryStatus, Medium

log = logging.getLogger(__name__)

MULTICAST_LIMIT = 500  # LINE: at most 500 user IDs per multicast


class SendOutcome(enum.Enum):
    """How LINE answered a push or multicast."""

    ACCEPTED = "accepted"  # 2xx
    ALREADY_ACCEPTED = "already_accepted"  # 409 for our retry key: an earlier try went through
    RETRY = "retry"  # 429 rate limit, 5xx, timeout, connection error: try again, same key
    REJECTED = "rejected"  # other 4xx, or the month's quota is spent: retrying will not help


@dataclass(frozen=True)
class SendResult:
    """The outcome of one send, with LINE's status and message for the record."""

    outcome: SendOutcome
    status: int | None = None
    detail: str = ""


class LineSender(Protocol):
    """What the engine needs of LINE."""

    async def multicast(
        self, user_ids: list[str], messages: list[dict[str, Any]], retry_key: str
    ) -> SendResult:
        """Send to at most 500 users under one retry key."""
        ...


# Builds the one message of a batch from stored fields only, so a resumed send is identical.
Render = Callable[[Alert, DeliveryKind, AlertRound | None], dict[str, Any]]


@dataclass
class EngineSettings:
    """Tunables; tests shorten the waits."""

    batch_size: int = MULTICAST_LIMIT
    attempts_per_claim: int = 5
    max_attempts: int = 20
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    stale_after: timedelta = timedelta(minutes=2)
    idle_poll: float = 2.0


class DeliveryEngine:
    """Sends what the outbox holds; several engines (processes) may share one database."""

    def __init__(
        self, line: LineSender, render: Render, settings: EngineSettings | None = None
    ) -> None:
        self.line = line
        self.render = render
        self.settings = settings or EngineSettings()

    async def run_until_idle(self, alert_id: int | None = None) -> None:
        """Send until nothing is pending (for the CLI and tests)."""
        while True:
            handled = await self.run_once(alert_id=alert_id, include_stale=False)
            if not handled:
                return

    async def run_once(self, alert_id: int | None = None, include_stale: bool = True) -> int:
        """Claim one batch (a stale one first) and send it; return how many rows it held."""
        key = await self._claim_stale(alert_id) if include_stale else None
        if key is None:
            key = await self._claim_pending(alert_id)
        if key is None:
            return 0
        return await self._send_batch(key)

    async def _claim_pending(self, alert_id: int | None) -> str | None:
        pending = Delivery.filter(status=DeliveryStatus.PENDING, medium=Medium.LINE)
        if alert_id is not None:
            pending = pending.filter(alert_id=alert_id)
        while True:
            first = await pending.order_by("id").first()
            if first is None:
                return None
            key = str(uuid.uuid4())
            async with in_transaction():
                # One multicast carries one message, so a batch holds one alert round's rows.
                # SKIP LOCKED (PostgreSQL) lets another engine take the next rows meanwhile.
                rows = (
                    await pending.filter(alert_id=first.alert_id, round=first.round)
                    .order_by("id")
                    .limit(self.settings.batch_size)
                    .select_for_update(skip_locked=True)
                    .only("id")
                )
                claimed = await Delivery.filter(
                    id__in=[row.id for row in rows], status=DeliveryStatus.PENDING
                ).update(status=DeliveryStatus.SENDING, batch_key=key, claimed_at=datetime.now(UTC))
            if claimed:
                return key
            # Another engine took these rows between our look and our claim: look again.
            await asyncio.sleep(0.01)

    async def _claim_stale(self, alert_id: int | None) -> str | None:
        cutoff = datetime.now(UTC) - self.settings.stale_after
        stale = Delivery.filter(
            status=DeliveryStatus.SENDING, medium=Medium.LINE, claimed_at__lt=cutoff
        )
        if alert_id is not None:
            stale = stale.filter(alert_id=alert_id)
        row = await stale.order_by("id").first()
        if row is None or row.batch_key is None:
            return None
        # Take the batch over only if nobody refreshed it since we looked.
        taken = await Delivery.filter(
            batch_key=row.batch_key, status=DeliveryStatus.SENDING, claimed_at=row.claimed_at
        ).update(claimed_at=datetime.now(UTC))
        if not taken:
            return None
        log.warning("resuming delivery batch %s", row.batch_key)
        return row.batch_key

    async def _message(self, row: Delivery) -> dict[str, Any]:
        alert = await Alert.get(id=row.alert_id)
        round_ = None
        if row.kind is not DeliveryKind.ALERT:
            round_ = await AlertRound.get(alert_id=row.alert_id, round=row.round)
        return self.render(alert, row.kind, round_)

    async def _send_batch(self, key: str) -> int:
        rows = await Delivery.filter(batch_key=key, status=DeliveryStatus.SENDING).order_by("id")
        if not rows:
            return 0
        message = await self._message(rows[0])
        user_ids = [row.address for row in rows]
        result = None
        for attempt in range(self.settings.attempts_per_claim):
            result = await self.line.multicast(user_ids, [message], retry_key=key)
            await Delivery.filter(batch_key=key, status=DeliveryStatus.SENDING).update(
                attempts=F("attempts") + 1, claimed_at=datetime.now(UTC)
            )
            if result.outcome is not SendOutcome.RETRY:
                break
            if rows[0].attempts + attempt + 1 >= self.settings.max_attempts:
                break
            delay = min(self.settings.backoff_cap, self.settings.backoff_base * 2**attempt)
            log.warning("multicast %s: %s, retrying in %.1fs", key, result.detail, delay)
            await asyncio.sleep(delay)
        assert result is not None
        now = datetime.now(UTC)
        batch = Delivery.filter(batch_key=key, status=DeliveryStatus.SENDING)
        if result.outcome in (SendOutcome.ACCEPTED, SendOutcome.ALREADY_ACCEPTED):
            # Billable when LINE accepts: counted with the rows that become sent, in one
            # transaction, so a resumed batch (409) is never counted twice.
            day = japan_today()
            await prepare_day(day)
            async with in_transaction():
                sent = await Delivery.filter(batch_key=key, status=DeliveryStatus.SENDING).update(
                    status=DeliveryStatus.SENT, sent_at=now, reason=None
                )
                await add_billable(day, sent)
        elif result.outcome is SendOutcome.REJECTED:
            await batch.update(
                status=DeliveryStatus.FAILED, reason=f"LINE {result.status}: {result.detail}"
            )
        elif rows[0].attempts + self.settings.attempts_per_claim >= self.settings.max_attempts:
            await batch.update(
                status=DeliveryStatus.FAILED,
                reason=f"gave up after retries: {result.status or ''} {result.detail}".strip(),
            )
        else:
            # Still retryable: leave the batch claimed; it resumes (same key) once stale.
            await batch.update(reason=f"retrying: {result.status or ''} {result.detail}".strip())
        log.info("multicast %s: %s for %d recipients", key, result.outcome.value, len(rows))
        return len(rows)


async def delivery_counts(alert_id: int, round_: int | None = None) -> dict[DeliveryStatus, int]:
    """How many of an alert's deliveries (of one round, or all) stand in each status (zero
    counts left out)."""
    rows = Delivery.filter(alert_id=alert_id)
    if round_ is not None:
        rows = rows.filter(round=round_)
    counts: dict[DeliveryStatus, int] = {}
    for status in DeliveryStatus:
        n = await rows.filter(status=status).count()
        if n:
            counts[status] = n
    return counts
