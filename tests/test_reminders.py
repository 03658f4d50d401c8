"""Reminders (再通知): a new delivery round to those who have not answered, with the follow-up
message (二次連絡), through the same outbox and engine as the alert itself."""

from __future__ import annotations

import pytest

from domain.actors import Actor
from domain.alerts import close_alert, remind_unanswered, start_alert
from domain.answers import submit_answer
from domain.errors import Conflict, NotFound
from models import AlertRound, AnswerChannel, Delivery, DeliveryKind, DeliveryStatus, Template
from tests.conftest import make_company, quick_link, until
from tests.test_cli import line_env, run

GOOD = {"本人": "無事", "家族": "全員無事", "家屋": "被害なし", "出社": "可能"}


def flexes(sim, user_id: str) -> list[dict]:
    return [m for m in sim.messages_for(user_id) if m["type"] == "flex"]


def flex_text(message: dict) -> str:
    """Every text of a Flex bubble, joined."""
    texts: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "text":
                texts.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message["contents"])
    return "\n".join(texts)


@pytest.fixture
async def drill_with_three(sim, bot):
    """E1 answers, E2 is linked and silent, E3 has no LINE."""
    company = await make_company({"総務部": [("E1", "山田"), ("E2", "佐藤"), ("E3", "鈴木")]})
    users = {code: await quick_link(sim, company.employees[code]) for code in ("E1", "E2")}
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    await until(lambda: all(flexes(sim, u) for u in users.values()))
    await submit_answer(started.alert.id, company.employees["E1"], GOOD, "", AnswerChannel.LIFF)
    return started.alert, company, users


async def test_a_reminder_reaches_only_those_who_have_not_answered(sim, drill_with_three):
    alert, _company, users = drill_with_three
    reminder = await remind_unanswered(
        Actor.cli(), alert.id, message="至急回答してください", sender_name="総務部"
    )
    assert (reminder.round, reminder.unanswered, reminder.line_deliveries) == (1, 2, 1)
    await until(lambda: len(flexes(sim, users["E2"])) == 2)
    assert len(flexes(sim, users["E1"])) == 1  # E1 answered: no reminder
    text = flex_text(flexes(sim, users["E2"])[1])
    assert "【再通知】" in text and "至急回答してください" in text and "【訓練】" in text
    assert "【総務部】" in text
    rows = Delivery.filter(alert_id=alert.id, round=1)
    await until(lambda: rows.filter(status=DeliveryStatus.SENT).exists())
    assert [r.kind for r in await rows] == [DeliveryKind.REMINDER]


async def test_a_second_reminder_is_a_new_round_for_the_same_employee(sim, drill_with_three):
    alert, _company, users = drill_with_three
    await remind_unanswered(Actor.cli(), alert.id)
    second = await remind_unanswered(Actor.cli(), alert.id, message="再度のお願いです")
    assert second.round == 2
    await until(lambda: len(flexes(sim, users["E2"])) == 3)
    assert await AlertRound.filter(alert_id=alert.id).count() == 2
    # The two rounds' multicasts may be in flight together: either may arrive first.
    reminders = [flex_text(f) for f in flexes(sim, users["E2"])[1:]]
    assert sum("再度のお願いです" in text for text in reminders) == 1


async def test_a_reminder_that_would_reach_nobody_sends_nothing(sim, drill_with_three):
    alert, company, _users = drill_with_three
    await submit_answer(alert.id, company.employees["E2"], GOOD, "", AnswerChannel.LIFF)
    before = len(sim.sent)
    reminder = await remind_unanswered(Actor.cli(), alert.id)
    assert (reminder.round, reminder.line_deliveries, reminder.unanswered) == (0, 0, 1)
    assert await AlertRound.filter(alert_id=alert.id).count() == 0
    assert await Delivery.filter(alert_id=alert.id).count() == 2
    assert len(sim.sent) == before


async def test_a_closed_or_unknown_alert_cannot_be_reminded(drill_with_three):
    alert, _company, _users = drill_with_three
    await close_alert(Actor.cli(), alert.id)
    with pytest.raises(Conflict):
        await remind_unanswered(Actor.cli(), alert.id)
    with pytest.raises(NotFound):
        await remind_unanswered(Actor.cli(), alert.id + 1000)


@pytest.mark.no_delivery_engine
async def test_remind_command_sends_the_round_and_says_how_many(sim, bot, database_url):
    company = await make_company({"総務部": [("E1", "山田"), ("E2", "佐藤")]})
    silent = await quick_link(sim, company.employees["E2"])
    await quick_link(sim, company.employees["E1"])
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=False)
    await submit_answer(started.alert.id, company.employees["E1"], GOOD, "", AnswerChannel.LIFF)
    env = line_env(sim, database_url)
    code, out, err = await run("remind", str(started.alert.id), "--message", "安否を", env=env)
    assert code == 0, err
    assert f"alert {started.alert.id} reminder 1: 1 not answered, by LINE 1" in out
    assert "  deliveries sent 1\n" in out  # this round's only
    reminders = [m for m in flexes(sim, silent) if "【再通知】" in flex_text(m)]
    assert len(reminders) == 1 and "安否を" in flex_text(reminders[0])


@pytest.mark.parametrize("bad", ["0", "x", "99999999999"])
async def test_remind_command_refuses_a_bad_alert_number(bad):
    code, _, err = await run("remind", bad)
    assert code == 2 and "not an alert number" in err
