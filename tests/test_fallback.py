"""LINE and e-mail together: a template sends both at once, or LINE first and e-mail as the
fallback — at once for those LINE cannot reach (not linked, blocked, the LINE delivery failed
or is held, LINE halted for the alert), and after the template's delay for those who stay
silent (LINE answers 200 even for a user who blocked the account). Time is driven by moving
the alert's start back, never by sleeping; the planner is run by hand where the test sets the
alert's options after its start."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from domain.actors import Actor
from domain.alerts import close_alert, start_alert, template_options
from domain.answers import submit_answer
from domain.email_plan import next_fallback_in, plan_emails
from models import (
    Alert,
    AnswerChannel,
    Delivery,
    DeliveryStatus,
    EmailMode,
    Employee,
    EmployeeEmail,
    LineAccount,
    Medium,
    Template,
)
from tests.conftest import make_company, quick_link, until
from tests.mail import fast_mail, mail_bot, received, smtp_server

GOOD = {"本人": "無事", "家族": "全員無事", "家屋": "被害なし", "出社": "可能"}
# The planner runs by hand: the test sets the alert's options between its start and the plan.
BY_HAND = ("inbox", "delivery", "email")


@pytest.fixture
async def smtp():
    async with smtp_server() as server:
        yield server


@pytest.fixture
async def bot(sim, database_url, smtp, monkeypatch):
    fast_mail(monkeypatch)
    async with mail_bot(sim, database_url, smtp, workers=BY_HAND) as server:
        yield server


def address(code: str) -> str:
    return f"{code.lower()}@example.com"


@pytest.fixture
async def people(sim, bot):
    """E1 linked and silent, E2 not linked, E3 blocked the account, E4 linked and answers;
    everyone has an address. Returns the company and the LINE user IDs."""
    company = await make_company({"総務部": [(f"E{n}", f"社員{n}") for n in range(1, 5)]})
    for code, employee in company.employees.items():
        employee.email = address(code)
        await employee.save(update_fields=["email"])
    users = {code: await quick_link(sim, company.employees[code]) for code in ("E1", "E3", "E4")}
    await LineAccount.filter(user_id=users["E3"]).update(blocked=True)
    return company, users


async def start(mode: EmailMode, *, delay: int = 30, line: bool = True) -> Alert:
    """An alert from the earthquake template with e-mail on in `mode`, its options frozen."""
    template = await Template.get(key="earthquake")
    template.email_enabled, template.email_mode = True, mode
    template.fallback_delay_minutes, template.line_enabled = delay, line
    await template.save()
    alert = (await start_alert(Actor.cli(), template, drill=True)).alert
    await Alert.filter(id=alert.id).update(**template_options(template))
    return await Alert.get(id=alert.id)


async def emailed(alert: Alert) -> set[str]:
    """The addresses the alert's round 0 is planned to e-mail."""
    rows = Delivery.filter(alert_id=alert.id, medium=Medium.EMAIL, round=0)
    return set(await rows.values_list("address", flat=True))


async def line_settled(alert: Alert) -> bool:
    rows = Delivery.filter(alert_id=alert.id, medium=Medium.LINE)
    return not await rows.filter(
        status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING]
    ).exists()


async def move_start_back(alert: Alert, minutes: int) -> None:
    await Alert.filter(id=alert.id).update(started_at=alert.started_at - timedelta(minutes=minutes))


async def test_both_mode_sends_line_and_e_mail_at_once(sim, people, smtp):
    _company, users = people
    alert = await start(EmailMode.BOTH)
    await plan_emails()
    assert await emailed(alert) == {address(c) for c in ("E1", "E2", "E3", "E4")}
    await received(smtp, address("E1"))
    await until(lambda: sim.messages_for(users["E1"]))  # and by LINE


async def test_fallback_e_mails_at_once_only_those_line_cannot_reach(people, smtp):
    alert = await start(EmailMode.FALLBACK)
    await until(lambda: line_settled(alert))
    await plan_emails()
    assert await emailed(alert) == {address("E2"), address("E3")}  # not linked, blocked
    await received(smtp, address("E2"))
    await received(smtp, address("E3"))
    assert smtp.to(address("E1")) == []


async def test_a_silent_line_user_gets_the_e_mail_after_the_delay_and_one_who_answered_not(
    people, smtp
):
    company, _users = people
    alert = await start(EmailMode.FALLBACK, delay=30)
    await until(lambda: line_settled(alert))
    await submit_answer(alert.id, company.employees["E4"], GOOD, "", AnswerChannel.LIFF)
    await plan_emails()
    assert address("E1") not in await emailed(alert)
    assert 29 * 60 < await next_fallback_in() <= 30 * 60

    await move_start_back(alert, 29)
    await plan_emails()
    assert address("E1") not in await emailed(alert)
    await move_start_back(await Alert.get(id=alert.id), 1)  # 30 minutes since the start
    await plan_emails()
    assert await emailed(alert) == {address(c) for c in ("E1", "E2", "E3")}
    (mail,) = await received(smtp, address("E1"))
    assert "【訓練】" in mail["Subject"]
    assert await next_fallback_in() is None  # nothing left waiting


async def test_a_failed_line_delivery_falls_back_to_e_mail_at_once(sim, bot, smtp):
    company = await make_company({"総務部": [("E1", "山田")]})
    await Employee.filter(code="E1").update(email=address("E1"))
    await quick_link(sim, company.employees["E1"])
    sim.inject_fault("multicast", 400)  # LINE refuses the batch for good
    alert = await start(EmailMode.FALLBACK)
    await until(
        lambda: Delivery.filter(alert_id=alert.id, medium=Medium.LINE, status="failed").exists()
    )
    await plan_emails()
    assert await emailed(alert) == {address("E1")}
    await received(smtp, address("E1"))


@pytest.mark.parametrize("status", [DeliveryStatus.FAILED, DeliveryStatus.HELD])
async def test_a_line_delivery_failed_or_held_is_e_mailed(people, status):
    _company, users = people
    alert = await start(EmailMode.FALLBACK)
    await until(lambda: line_settled(alert))
    await Delivery.filter(alert_id=alert.id, address=users["E1"]).update(status=status)
    await plan_emails()
    assert address("E1") in await emailed(alert)
    assert address("E4") not in await emailed(alert)


async def test_when_line_halts_for_the_alert_everyone_silent_is_e_mailed(people):
    alert = await start(EmailMode.FALLBACK)
    await until(lambda: line_settled(alert))
    await Alert.filter(id=alert.id).update(
        line_halted_at=datetime.now(UTC), line_halted_reason="月間の送信上限に達しました"
    )
    await plan_emails()
    assert await emailed(alert) == {address(c) for c in ("E1", "E2", "E3", "E4")}


async def test_an_alert_without_line_e_mails_everyone_with_an_address_at_once(people):
    alert = await start(EmailMode.FALLBACK, line=False)
    await plan_emails()
    assert await emailed(alert) == {address(c) for c in ("E1", "E2", "E3", "E4")}
    assert not await Delivery.filter(alert_id=alert.id, medium=Medium.LINE).exists()


async def test_a_closed_alert_or_one_without_e_mail_plans_nothing(people):
    alert = await start(EmailMode.BOTH)
    await close_alert(Actor.cli(), alert.id)
    await plan_emails()
    template = await Template.get(key="earthquake")
    template.email_enabled = False
    await template.save()
    no_email = (await start_alert(Actor.cli(), template, drill=True)).alert
    await plan_emails()
    assert not await Delivery.filter(medium=Medium.EMAIL).exists()
    assert no_email.email_enabled is False


async def test_every_enabled_address_gets_one_delivery_however_many_planners_run(people):
    company, _users = people
    e2 = company.employees["E2"]
    confirmed = datetime.now(UTC)
    await EmployeeEmail.create(employee=e2, address="e2-home@example.com", confirmed_at=confirmed)
    # the same, in capitals
    await EmployeeEmail.create(employee=e2, address="E2@EXAMPLE.COM", confirmed_at=confirmed)
    await EmployeeEmail.create(
        employee=e2, address="old@example.com", enabled=False, confirmed_at=confirmed
    )
    await Employee.filter(code="E3").update(email_enabled=False)  # E3 turned e-mail off
    alert = await start(EmailMode.BOTH)
    await asyncio.gather(plan_emails(), plan_emails(), plan_emails())
    await plan_emails()
    rows = await Delivery.filter(alert_id=alert.id, medium=Medium.EMAIL).values_list(
        "employee_id", "address"
    )
    assert sorted(a for e, a in rows if e == e2.id) == ["e2-home@example.com", address("E2")]
    assert len(rows) == len(set(rows)) == 4  # E1, E2 twice, E4


def test_an_alert_freezes_the_template_s_delivery_options():
    template = Template(
        email_mode=EmailMode.FALLBACK,
        fallback_delay_minutes=15,
        reminder_interval_minutes=10,
        reminder_max=3,
        follow_up_message="至急",
    )
    assert template_options(template) == {
        "email_mode": EmailMode.FALLBACK,
        "fallback_delay_minutes": 15,
        "reminder_interval_minutes": 10,
        "reminder_max": 3,
        "follow_up_message": "至急",
    }
