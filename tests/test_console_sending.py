"""Senders on the console: start an alert through a confirm step, remind those who have not
answered, close it; supervisors may not; every step leaves an audit row."""

from __future__ import annotations

import pytest

from domain.actors import Actor
from domain.alerts import start_alert
from domain.answers import submit_answer
from models import Alert, AlertRound, AnswerChannel, AuditEntry, Delivery, Template
from tests.conftest import make_company, make_console_user, quick_link

SAFE = {"本人": "無事", "家族": "全員無事", "家屋": "被害なし", "出社": "可能"}


@pytest.fixture
async def company(sim, bot):
    """総務部 > 庶務課 and 営業部, everyone on LINE; a sender, a maintainer, a supervisor."""
    company = await make_company(
        {
            "総務部": [("E1", "山田 太郎")],
            "庶務課": [("E2", "佐藤 花子")],
            "営業部": [("E3", "鈴木 一郎")],
        },
        parents={"庶務課": "総務部"},
    )
    for employee in company.employees.values():
        await quick_link(sim, employee)
    await make_console_user("boss", "maintainer")
    await make_console_user("sender", "sender")
    await make_console_user("soumu", "supervisor", [company.departments["総務部"]])
    return company


async def template_id() -> str:
    return str((await Template.get(key="earthquake")).id)


@pytest.mark.parametrize("login", ["sender", "boss"])
async def test_a_sender_confirms_then_starts_a_drill_to_a_department(console, company, login):
    await console.sign_in(login)
    status, html = await console.get("/console/alerts/new")
    assert status == 200 and "総務部/庶務課" in html
    form = {
        "template": await template_id(),
        "departments": str(company.departments["総務部"].id),
        "drill": "drill",
    }
    confirm = await console.post("/console/alerts/new", form)
    assert confirm.status == 200
    assert not await Alert.exists()  # the confirm step writes nothing
    started = await console.post("/console/alerts/start", form)
    assert started.status == 303
    alert = await Alert.get()
    assert alert.drill and started.headers["Location"].startswith(f"/console/alerts/{alert.id}?")
    assert await alert.recipients.all().count() == 2  # 総務部 and 庶務課
    assert await AuditEntry.filter(actor=login, action="alert_started").exists()
    status, html = await console.get(started.headers["Location"])
    assert "発信しました(対象 2 名)" in html and "【訓練】" in html


async def test_the_confirm_step_shows_title_message_count_and_real_or_drill(console, company):
    await console.sign_in("sender")
    async with console.session.post(
        console.url("/console/alerts/new"),
        data={"csrf_token": await console.csrf(), "template": await template_id(), "drill": "real"},
    ) as response:
        html = await response.text()
    assert response.status == 200
    assert '<dd id="confirm-title">【地震】安否確認</dd>' in html
    assert "震度6強" in html and '<dd id="confirm-count">3 名</dd>' in html
    assert '<strong class="warn">本番</strong>' in html


async def test_starting_without_a_template_re_shows_the_form_with_the_error(console, company):
    await console.sign_in("sender")
    response = await console.post("/console/alerts/new", {"template": "", "drill": "drill"})
    assert response.status == 422
    assert not await Alert.exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/console/alerts/new"),
        ("post", "/console/alerts/new"),
        ("post", "/console/alerts/start"),
        ("post", "/console/alerts/{id}/remind"),
        ("post", "/console/alerts/{id}/close"),
    ],
)
async def test_a_supervisor_may_not_send_remind_or_close(console, company, method, path):
    alert = (await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)).alert
    await console.sign_in("soumu")
    path = path.format(id=alert.id)
    if method == "get":
        status = (await console.get(path))[0]
    else:
        status = (await console.post(path, {"template": await template_id()})).status
    assert status == 403
    assert await Alert.all().count() == 1 and not (await Alert.get()).is_closed


@pytest.mark.parametrize("path", ["/console/alerts/start", "/console/alerts/{id}/close"])
async def test_state_changes_without_the_csrf_token_are_forbidden(console, company, path):
    alert = (await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)).alert
    await console.sign_in("sender")
    response = await console.post(
        path.format(id=alert.id), {"template": await template_id()}, csrf=False
    )
    assert response.status == 403
    assert await Alert.all().count() == 1 and not (await Alert.get()).is_closed


async def test_reminding_reaches_only_those_who_have_not_answered(console, company):
    alert = (await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)).alert
    await submit_answer(alert.id, company.employees["E1"], SAFE, "", AnswerChannel.LIFF)
    await console.sign_in("sender")
    response = await console.post(
        f"/console/alerts/{alert.id}/remind", {"message": "至急回答してください"}
    )
    assert response.status == 303
    reminder = await AlertRound.get(alert_id=alert.id)
    assert reminder.message == "至急回答してください" and reminder.recipients == 2
    assert await Delivery.filter(alert_id=alert.id, round=reminder.round).count() == 2
    assert await AuditEntry.filter(actor="sender", action="alert_reminded").exists()
    _, html = await console.get(response.headers["Location"])
    assert "未回答者 2 名に再通知しました" in html


async def test_a_reminder_that_would_reach_nobody_sends_nothing_and_says_so(console, company):
    alert = (await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)).alert
    for employee in company.employees.values():
        await submit_answer(alert.id, employee, SAFE, "", AnswerChannel.LIFF)
    await console.sign_in("sender")
    response = await console.post(f"/console/alerts/{alert.id}/remind", {"message": ""})
    assert response.status == 303
    assert not await AlertRound.filter(alert_id=alert.id).exists()
    _, html = await console.get(response.headers["Location"])
    assert "再通知は送信していません" in html


async def test_closing_stops_answers_and_closing_twice_is_a_conflict(console, company):
    alert = (await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)).alert
    await console.sign_in("sender")
    response = await console.post(f"/console/alerts/{alert.id}/close")
    assert response.status == 303
    assert (await Alert.get(id=alert.id)).is_closed
    assert await AuditEntry.filter(actor="sender", action="alert_closed").exists()
    assert (await console.post(f"/console/alerts/{alert.id}/close")).status == 409
    _, html = await console.get(f"/console/alerts/{alert.id}")
    assert "未回答者に再通知する" not in html
