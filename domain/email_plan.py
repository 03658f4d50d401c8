"""Planning the e-mail medium: which roster members of an open alert get the alert by e-mail,
derived from the state of the database every time (so a crash, a restart or two planners at
once never plan twice, and a late planner catches up).

- `both`: everyone on the roster with an address, at once.
- `fallback`: LINE first; e-mail at once for those LINE cannot reach (no reachable linked LINE
  account, their LINE delivery FAILED or HELD, or LINE halted for the alert), and for everyone
  still silent `fallback_delay_minutes` after the start, since LINE answers 200 even for a
  user who blocked the account.
- An alert without LINE: everyone with an address, at once.

Answered employees and closed alerts get nothing. Rows are round 0 (the alert itself), one per
address, inserted with ON CONFLICT DO NOTHING on the outbox's unique key; the e-mail engine
sends them."""

import logging
from datetime import UTC, datetime, timedelta

from tortoise.expressions import Q, Subquery

from domain.alerts import recipient_languages
from domain.contacts import email_addresses
from domain.family import plan_family_emails
from domain.i18n import DEFAULT_LANGUAGE
from domain.notify import Topic, notifier
from models import (
    Alert,
    AlertRecipient,
    Answer,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    EmailMode,
    EmployeeEmail,
    LineAccount,
    Medium,
)

log = logging.getLogger(__name__)

PLAN_POLL = 5.0  # seconds between looks when nothing wakes the planner
CHUNK = 1000  # employees whose addresses are looked up (and rows written) at once
# A LINE delivery in these states is still on its way or arrived: no fallback (yet).
LINE_GOING = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.SENT)


def fallback_due(alert: Alert, now: datetime) -> bool:
    """Whether a `fallback` alert's silent LINE recipients are due their e-mail."""
    return now >= alert.started_at + timedelta(minutes=alert.fallback_delay_minutes)


def _everyone_now(alert: Alert, now: datetime) -> bool:
    return (
        alert.email_mode is EmailMode.BOTH
        or not alert.line_enabled
        or alert.line_halted_at is not None
        or fallback_due(alert, now)
    )


def line_not_reaching(alert_id: int) -> Q:
    """Roster rows whose employee LINE does not reach for this alert: no LINE delivery on its
    way or arrived (none written, or FAILED/HELD), or no reachable linked LINE account."""
    going = Delivery.filter(
        alert_id=alert_id, medium=Medium.LINE, round=0, status__in=list(LINE_GOING)
    ).values("employee_id")
    reachable = LineAccount.filter(followed=True, blocked=False, employee_id__isnull=False).values(
        "employee_id"
    )
    return Q(employee_id__not_in=Subquery(going)) | Q(employee_id__not_in=Subquery(reachable))


def _has_address() -> Q:
    """A cheap first cut in SQL (an address of some kind); `email_addresses` decides."""
    extra = EmployeeEmail.filter(enabled=True, confirmed_at__isnull=False).values("employee_id")
    return Q(employee__email_enabled=True, employee__email__isnull=False) | Q(
        employee_id__in=Subquery(extra)
    )


async def _due_employees(alert: Alert, now: datetime) -> list[int]:
    """Roster members of the alert who should have round-0 e-mail now and have none yet."""
    emailed = Delivery.filter(
        alert_id=alert.id, kind=DeliveryKind.ALERT, medium=Medium.EMAIL, round=0
    ).values("employee_id")
    answered = Answer.filter(alert_id=alert.id).values("employee_id")
    roster = (
        AlertRecipient.filter(alert_id=alert.id)
        .filter(_has_address())
        .exclude(employee_id__in=Subquery(emailed))
        .exclude(employee_id__in=Subquery(answered))
    )
    if not _everyone_now(alert, now):
        roster = roster.filter(line_not_reaching(alert.id))
    return await roster.order_by("employee_id").values_list("employee_id", flat=True)


async def plan_alert(alert: Alert, now: datetime | None = None) -> int:
    """Write the round-0 e-mail deliveries this alert is due; return how many were new or
    already there (a concurrent planner may have written the same rows)."""
    if alert.is_closed or not alert.email_enabled:
        return 0
    due = await _due_employees(alert, now or datetime.now(UTC))
    written = 0
    for start in range(0, len(due), CHUNK):
        addresses = await email_addresses(due[start : start + CHUNK])
        languages = await recipient_languages(list(addresses))
        rows = [
            Delivery(
                alert_id=alert.id,
                employee_id=employee_id,
                kind=DeliveryKind.ALERT,
                round=0,
                medium=Medium.EMAIL,
                address=address,
                status=DeliveryStatus.PENDING,
                language=languages.get(employee_id, DEFAULT_LANGUAGE),
            )
            for employee_id, found in addresses.items()
            for address in found
        ]
        if rows:
            await Delivery.bulk_create(rows, batch_size=CHUNK, ignore_conflicts=True)
            written += len(rows)
    if written:
        log.info("alert %s: %d e-mail deliveries planned", alert.id, written)
    # The family round's e-mails, for its confirmed family addresses.
    return written + await plan_family_emails(alert)


async def plan_emails(now: datetime | None = None) -> int:
    """Plan every open alert with e-mail on (the planner worker's step); wake the e-mail
    engine when something was written. Returns how many rows were written."""
    now = now or datetime.now(UTC)
    written = 0
    for alert in await Alert.filter(closed_at__isnull=True, email_enabled=True).order_by("id"):
        written += await plan_alert(alert, now)
    if written:
        await notifier.publish(Topic.DELIVERY, "email")
    return written


async def next_fallback_in(now: datetime | None = None) -> float | None:
    """Seconds until the next `fallback` alert's delay runs out (the planner wakes then)."""
    now = now or datetime.now(UTC)
    waiting = [
        (a.started_at + timedelta(minutes=a.fallback_delay_minutes) - now).total_seconds()
        for a in await Alert.filter(
            closed_at__isnull=True, email_enabled=True, email_mode=EmailMode.FALLBACK
        )
        if not fallback_due(a, now)
    ]
    return max(0.0, min(waiting)) if waiting else None
