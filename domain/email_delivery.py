"""The e-mail engine: claims pending e-mail deliveries from the same outbox as LINE, sends
them through the small `MailSender` protocol, retries what an SMTP server may still accept
and records every outcome.

A claim is a conditional UPDATE (after SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL), so
two engines never send the same row. A crash leaves the claimed rows SENDING; once stale,
any engine takes them over, so no row is lost. SMTP has no retry key (unlike LINE's
`X-Line-Retry-Key`): a crash between the server's 250 and our mark sends that e-mail once
more on resume. Each message carries a Message-ID made from its delivery, so a repeat is at
least recognisable as the same message."""

import asyncio
import enum
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from models import Alert, AlertRound, Delivery, DeliveryStatus, Medium

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mail:
    """One e-mail to one address: plain text and HTML of the same content."""

    to: str
    subject: str
    text: str
    html: str
    message_id: str  # stable per delivery: a resend after a crash is the same message


class MailOutcome(enum.Enum):
    """How the SMTP server answered one message."""

    SENT = "sent"  # 250 after DATA
    RETRY = "retry"  # 4xx, connection refused, timeout, dropped connection
    REJECTED = "rejected"  # 5xx at SMTP time: the address or the message is refused (bounce)


@dataclass(frozen=True)
class MailResult:
    """The outcome of one message, with the server's code and words for the record."""

    outcome: MailOutcome
    status: int | None = None
    detail: str = ""


class MailSender(Protocol):
    """What the engine needs of an SMTP server."""

    async def send(self, mails: Sequence[Mail]) -> list[MailResult]:
        """Send each message (one connection may carry them all); one result per message."""
        ...


# Builds a delivery's e-mail from stored fields only, so a resumed send is the same message.
RenderMail = Callable[[Alert, Delivery, AlertRound | None], Mail]


@dataclass
class EmailSettings:
    """Tunables; tests shorten the waits."""

    batch_size: int = 50
    attempts_per_claim: int = 3
    max_attempts: int = 10
    backoff_base: float = 2.0
    backoff_cap: float = 30.0
    stale_after: timedelta = timedelta(minutes=2)  # a claim untouched this long is resumed
    idle_poll: float = 5.0


DEFAULT_SETTINGS = EmailSettings()
MAX_REASON = 500


def _reason(prefix: str, result: MailResult) -> str:
    words = f"{result.status or ''} {result.detail}".strip()
    return f"{prefix}: {words}"[:MAX_REASON] if words else prefix


class EmailEngine:
    """Sends the outbox's e-mails; several engines (processes) may share one database."""

    def __init__(
        self, sender: MailSender, render: RenderMail, settings: EmailSettings | None = None
    ) -> None:
        self.sender = sender
        self.render = render
        self.settings = settings if settings is not None else DEFAULT_SETTINGS

    async def run_until_idle(self) -> None:
        """Send until nothing is claimable (for the CLI and tests)."""
        while await self.run_once():
            pass

    async def run_once(self) -> int:
        """Claim one batch (pending rows, or a stale claim) and send it; return its size."""
        key = await self._claim()
        if key is None:
            return 0
        return await self._send_batch(key)

    def _claimable(self, cutoff: datetime) -> Q:
        return Q(status=DeliveryStatus.PENDING) | Q(
            status=DeliveryStatus.SENDING, claimed_at__lt=cutoff
        )

    async def _claim(self) -> str | None:
        for _ in range(5):
            now = datetime.now(UTC)
            cutoff = now - self.settings.stale_after
            claimable = Delivery.filter(self._claimable(cutoff), medium=Medium.EMAIL)
            key = str(uuid.uuid4())
            async with in_transaction():
                # SKIP LOCKED (PostgreSQL): another engine takes the next rows meanwhile.
                rows = (
                    await claimable.order_by("id")
                    .limit(self.settings.batch_size)
                    .select_for_update(skip_locked=True)
                    .only("id")
                )
                if not rows:
                    return None
                # The condition is checked again by the UPDATE itself: a row another engine
                # claimed since our look is left alone.
                claimed = await Delivery.filter(
                    self._claimable(cutoff), id__in=[row.id for row in rows]
                ).update(status=DeliveryStatus.SENDING, batch_key=key, claimed_at=now)
            if claimed:
                return key
            await asyncio.sleep(0.01)
        return None

    async def _mails(self, rows: list[Delivery]) -> list[Mail]:
        alerts: dict[int, Alert] = {}
        rounds: dict[tuple[int, int], AlertRound | None] = {}
        mails = []
        for row in rows:
            if row.alert_id not in alerts:
                alerts[row.alert_id] = await Alert.get(id=row.alert_id)
            key = (row.alert_id, row.round)
            if key not in rounds:
                rounds[key] = (
                    await AlertRound.get_or_none(alert_id=row.alert_id, round=row.round)
                    if row.round
                    else None
                )
            mails.append(self.render(alerts[row.alert_id], row, rounds[key]))
        return mails

    async def _send_batch(self, key: str) -> int:
        rows = await Delivery.filter(batch_key=key, status=DeliveryStatus.SENDING).order_by("id")
        if not rows:
            return 0
        if any(row.attempts > 0 for row in rows):
            log.warning("resuming e-mail batch %s (%d messages)", key, len(rows))
        mails = dict(zip((row.id for row in rows), await self._mails(rows), strict=True))
        attempts = {row.id: row.attempts for row in rows}
        waiting = list(rows)
        last: dict[int, MailResult] = {}
        for attempt in range(self.settings.attempts_per_claim):
            results = await self.sender.send([mails[row.id] for row in waiting])
            mine = Delivery.filter(batch_key=key, status=DeliveryStatus.SENDING)
            await mine.filter(id__in=[row.id for row in waiting]).update(
                attempts=F("attempts") + 1, claimed_at=datetime.now(UTC)
            )
            retry = []
            for row, result in zip(waiting, results, strict=True):
                attempts[row.id] += 1
                last[row.id] = result
                if result.outcome is MailOutcome.RETRY:
                    retry.append(row)
            await self._record(key, waiting, results)
            waiting = [row for row in retry if attempts[row.id] < self.settings.max_attempts]
            given_up = [row for row in retry if attempts[row.id] >= self.settings.max_attempts]
            for row in given_up:
                await mine.filter(id=row.id).update(
                    status=DeliveryStatus.FAILED,
                    reason=_reason("gave up after retries", last[row.id]),
                )
            if not waiting:
                break
            if attempt + 1 < self.settings.attempts_per_claim:
                delay = min(self.settings.backoff_cap, self.settings.backoff_base * 2**attempt)
                # The server's words may name the address: only its code goes to the log.
                log.warning(
                    "e-mail batch %s: %d to retry (status %s), in %.1fs",
                    key,
                    len(waiting),
                    last[waiting[0].id].status,
                    delay,
                )
                await asyncio.sleep(delay)
        for row in waiting:
            # Still retryable: left claimed; it resumes once stale (by any engine).
            await Delivery.filter(id=row.id, batch_key=key, status=DeliveryStatus.SENDING).update(
                reason=_reason("retrying", last[row.id])
            )
        log.info("e-mail batch %s: %d messages handled", key, len(rows))
        return len(rows)

    async def _record(self, key: str, rows: list[Delivery], results: list[MailResult]) -> None:
        mine = Delivery.filter(batch_key=key, status=DeliveryStatus.SENDING)
        outcomes = list(zip(rows, results, strict=True))
        sent = [row.id for row, r in outcomes if r.outcome is MailOutcome.SENT]
        if sent:
            await mine.filter(id__in=sent).update(
                status=DeliveryStatus.SENT, sent_at=datetime.now(UTC), reason=None
            )
        for row, result in outcomes:
            if result.outcome is MailOutcome.REJECTED:
                log.info("e-mail delivery %s refused by the server: %s", row.id, result.status)
                await mine.filter(id=row.id).update(
                    status=DeliveryStatus.FAILED, reason=_reason("SMTP", result)
                )
