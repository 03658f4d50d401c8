"""Scheduled reminders (再通知) per template: every N minutes, at most M times while the alert is
open, each only to those who have not answered, by each medium the alert uses, with the
template's follow-up message (二次連絡). Time is driven by the `now` handed to the scheduler
(never by sleeping); one test leaves it to the worker."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from domain.actors import Actor
from domain.alerts import close_alert, start_alert, template_options
from domain.answers import submit_answer
from domain.reminder_schedule import next_reminder_in, send_due_reminders
from domain.usage import japan_today
from models import (
    Alert,
    AlertRound,
    AnswerChannel,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Employee,
    Medium,
    Template,
    UsageDay,
)
from tests.conftest import make_company, quick_link, until
from tests.mail import ALL_WORKERS, fast_mail, mail_bot, received, smtp_server, text_of
from tests.test_reminders import flex_text, flexes

GOOD = {"本人": "無事", "家族": "全員無事", "家屋": "被害なし", "出社": "可能"}
FOLLOW_UP = "未回答の方は至急回答してください"
# The scheduler runs by hand (with the `now` of each test) except where a test says otherwise.
BY_HAND = ("inbox", "delivery", "email_plan", "email")


@pytest.fixture
async def smtp():
    async with smtp_server() as server:
        yield server


@pytest.fixture
async def bot(request, sim, database_url, smtp, monkeypatch):
    fast_mail(monkeypatch)
    workers = getattr(request, "param", BY_HAND)  # a test may ask for every worker
    async with mail_bot(sim, database_url, smtp, workers=workers) as server:
        yield server


@pytest.fixture
async def people(sim, bot):
    """E1 has LINE and an address, E2 LINE only, E3 an address only, E4 neither."""
    company = await make_company({"総務部": [(f"E{n}", f"社員{n}") for n in range(1, 5)]})
    for code in ("E1", "E3"):
        await Employee.filter(code=code).update(email=f"{code.lower()}@example.com")
    users = {code: await quick_link(sim, company.employees[code]) for code in ("E1", "E2")}
    return company, users


async def start(*, interval: int = 10, most: int = 2, follow_up: str = FOLLOW_UP) -> Alert:
    """A drill whose template reminds every `interval` minutes, at most `most` times."""
    template = await Template.get(key="earthquake")
    template.email_enabled = True
    template.reminder_interval_minutes, template.reminder_max = interval, most
    template.follow_up_message = follow_up
    await template.save()
    alert = (await start_alert(Actor.cli(), template, drill=True, sender_name="総務部")).alert
    await Alert.filter(id=alert.id).update(**template_options(template))
    return await Alert.get(id=alert.id)


def minutes_after(alert: Alert, minutes: float) -> datetime:
    return alert.started_at + timedelta(minutes=minutes)


async def rounds(alert: Alert) -> list[int]:
    return (
        await AlertRound.filter(alert_id=alert.id).order_by("round").values_list("round", flat=True)
    )


async def sent(alert: Alert) -> bool:
    waiting = [DeliveryStatus.PENDING, DeliveryStatus.SENDING]
    return not await Delivery.filter(alert_id=alert.id, status__in=waiting).exists()


async def test_a_scheduled_reminder_reaches_only_non_answerers_by_each_medium_with_the_follow_up(
    sim, people, smtp
):
    company, users = people
    alert = await start()
    await received(smtp, "e1@example.com")
    await received(smtp, "e3@example.com")
    await until(lambda: sent(alert))
    await submit_answer(alert.id, company.employees["E1"], GOOD, "", AnswerChannel.LIFF)
    billed = (await UsageDay.get(day=japan_today())).messages

    assert await send_due_reminders(minutes_after(alert, 9)) == 0  # not due yet
    assert await send_due_reminders(minutes_after(alert, 10)) == 1
    (reminder,) = await AlertRound.filter(alert_id=alert.id)
    assert (reminder.message, reminder.sender_name, reminder.recipients) == (FOLLOW_UP, "総務部", 2)
    rows = await Delivery.filter(alert_id=alert.id, round=1).values_list("employee_id", "medium")
    e2, e3 = company.employees["E2"].id, company.employees["E3"].id
    assert sorted(rows) == sorted([(e2, Medium.LINE), (e3, Medium.EMAIL)])
    assert all(r.kind is DeliveryKind.REMINDER for r in await Delivery.filter(round=1))

    await until(lambda: len(flexes(sim, users["E2"])) == 2)
    assert "【再通知】" in flex_text(flexes(sim, users["E2"])[1])
    assert FOLLOW_UP in flex_text(flexes(sim, users["E2"])[1])
    mail = (await received(smtp, "e3@example.com", 2))[1]
    assert mail["Subject"].startswith("【再通知】") and FOLLOW_UP in text_of(mail)
    assert len(flexes(sim, users["E1"])) == 1 and len(smtp.to("e1@example.com")) == 1
    await until(lambda: sent(alert))
    assert (await UsageDay.get(day=japan_today())).messages == billed + 1  # the LINE reminder


async def test_scheduled_reminders_stop_at_the_template_s_maximum(people):
    alert = await start(interval=10, most=2)
    for minutes in (10, 20, 30, 40, 50):
        await send_due_reminders(minutes_after(alert, minutes))
    assert await rounds(alert) == [1, 2]
    assert (await Alert.get(id=alert.id)).scheduled_reminders == 2
    assert await next_reminder_in() is None


async def test_each_reminder_waits_its_interval_from_the_one_before(people):
    alert = await start(interval=10, most=3)
    assert await send_due_reminders(minutes_after(alert, 12)) == 1  # late: sent now
    assert await send_due_reminders(minutes_after(alert, 20)) == 0  # 10 minutes after that
    assert await send_due_reminders(minutes_after(alert, 22)) == 1
    assert await rounds(alert) == [1, 2]


async def test_closing_the_alert_stops_its_scheduled_reminders(people):
    alert = await start(interval=10, most=5)
    await send_due_reminders(minutes_after(alert, 10))
    await close_alert(Actor.cli(), alert.id)
    assert await send_due_reminders(minutes_after(alert, 60)) == 0
    assert await rounds(alert) == [1]


async def test_two_schedulers_never_both_send_the_same_reminder(people):
    alert = await start(interval=10, most=3)
    await send_due_reminders(minutes_after(alert, 1))  # sets when the first one is due
    now = minutes_after(alert, 10)
    claimed = await asyncio.gather(*(send_due_reminders(now) for _ in range(4)))
    assert sum(claimed) == 1
    assert await rounds(alert) == [1]


async def test_a_scheduled_reminder_that_would_reach_nobody_sends_nothing(people, smtp):
    company, _users = people
    alert = await start(interval=10, most=2)
    # The alert's own e-mails are planned by a worker: let it finish, or rows it planned
    # before the answers below could land after the count.
    await received(smtp, "e1@example.com")
    await received(smtp, "e3@example.com")
    await until(lambda: sent(alert))
    for employee in company.employees.values():
        await submit_answer(alert.id, employee, GOOD, "", AnswerChannel.LIFF)
    deliveries = await Delivery.filter(alert_id=alert.id).count()
    assert await send_due_reminders(minutes_after(alert, 10)) == 1  # the slot is spent
    assert await rounds(alert) == []
    assert await Delivery.filter(alert_id=alert.id).count() == deliveries


async def test_an_alert_without_scheduled_reminders_is_never_reminded(people):
    alert = await start(interval=0, most=3)
    assert await send_due_reminders(minutes_after(alert, 600)) == 0
    assert await rounds(alert) == []


@pytest.mark.parametrize("bot", [ALL_WORKERS], indirect=True)
async def test_the_reminder_worker_sends_a_due_reminder_on_its_own(sim, people):
    _company, users = people
    alert = await start(interval=10, most=1)
    await until(lambda: flexes(sim, users["E2"]))
    await Alert.filter(id=alert.id).update(
        next_reminder_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    await until(lambda: len(flexes(sim, users["E2"])) == 2)
    assert await rounds(alert) == [1]
