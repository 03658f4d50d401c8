"""Scheduled reminders: an open alert whose template asks for them is reminded every
`reminder_interval_minutes`, at most `reminder_max` times, each round only to those who have
not answered (by every medium the alert allows, `remind_unanswered`) with the template's
follow-up message (二次連絡). Closing the alert stops them.

Each due reminder is claimed with a conditional UPDATE of the alert's counter, so two
schedulers (processes) never both send it. The claim comes first: a crash between the claim
and the round loses that one reminder rather than sending it twice. A slot whose round would
reach nobody (everyone answered) writes nothing and still counts."""

import logging
from datetime import UTC, datetime, timedelta

from domain.actors import Actor
from domain.alerts import remind_unanswered
from domain.errors import Conflict, Invalid
from models import Alert

log = logging.getLogger(__name__)

REMINDER_POLL = 30.0  # seconds between looks; `next_reminder_in` wakes the worker on time


async def _scheduled() -> list[Alert]:
    """Open alerts that still have scheduled reminders to send."""
    alerts = await Alert.filter(closed_at__isnull=True, reminder_interval_minutes__gt=0)
    return [a for a in alerts if a.scheduled_reminders < a.reminder_max]


async def send_due_reminders(now: datetime | None = None) -> int:
    """Send every scheduled reminder that is due (the worker's step); return how many rounds
    were claimed."""
    now = now or datetime.now(UTC)
    claimed = 0
    for alert in await _scheduled():
        interval = timedelta(minutes=alert.reminder_interval_minutes)
        due_at = alert.next_reminder_at or alert.started_at + interval
        if due_at > now:
            if alert.next_reminder_at is None:
                await Alert.filter(id=alert.id, next_reminder_at__isnull=True).update(
                    next_reminder_at=due_at
                )
            continue
        # Only the scheduler whose UPDATE still sees the count it read sends this reminder.
        won = await Alert.filter(
            id=alert.id,
            closed_at__isnull=True,
            scheduled_reminders=alert.scheduled_reminders,
        ).update(scheduled_reminders=alert.scheduled_reminders + 1, next_reminder_at=now + interval)
        if not won:
            continue
        claimed += 1
        try:
            reminder = await remind_unanswered(
                Actor.system(),
                alert.id,
                message=alert.follow_up_message,
                sender_name=alert.sender_name,
            )
        except Conflict:  # closed meanwhile
            continue
        except Invalid as exc:  # a follow-up message no longer valid: the slot is spent
            log.warning("alert %s scheduled reminder refused: %s", alert.id, exc.code)
            continue
        log.info(
            "alert %s scheduled reminder %d/%d: round %d",
            alert.id,
            alert.scheduled_reminders + 1,
            alert.reminder_max,
            reminder.round,
        )
    return claimed


async def next_reminder_in(now: datetime | None = None) -> float | None:
    """Seconds until the next scheduled reminder falls due (None: none scheduled)."""
    now = now or datetime.now(UTC)
    waits = [
        (
            (a.next_reminder_at or a.started_at + timedelta(minutes=a.reminder_interval_minutes))
            - now
        ).total_seconds()
        for a in await _scheduled()
    ]
    return max(0.0, min(waits)) if waits else None
