"""A sender limited to departments sends only within them: with no department chosen the
alert reaches their departments only, and choosing another department is refused; a
sender without departments still reaches everyone."""

from __future__ import annotations

import pytest

from domain.actors import Actor
from domain.alerts import start_alert
from domain.console_users import add_user
from domain.errors import Forbidden
from domain.scope import Scope
from models import Alert, AlertRound, AuditEntry, ConsoleRole, Delivery, Template
from tests.conftest import CONSOLE_PASSWORD, make_company, make_console_user, quick_link


@pytest.fixture
async def company(sim, bot):
    """総務部 > 庶務課 and 営業部, everyone on LINE; 総務 sends for 総務部 only."""
    company = await make_company(
        {"総務部": [("E1", "山田")], "庶務課": [("E2", "佐藤")], "営業部": [("E3", "鈴木")]},
        parents={"庶務課": "総務部"},
    )
    for employee in company.employees.values():
        await quick_link(sim, employee)
    await add_user(
        "soumu-sender", "総務の発信者", CONSOLE_PASSWORD, ConsoleRole.SENDER,
        [company.departments["総務部"]], Actor.cli(),
    )  # fmt: skip
    await make_console_user("sender", "sender")
    return company


async def drill(console, departments: str = "") -> tuple[int, str]:
    template = str((await Template.get(key="earthquake")).id)
    form = {"template": template, "drill": "drill"}
    if departments:
        form["departments"] = departments
    response = await console.post("/console/alerts/start", form)
    return response.status, await response.text()


async def test_a_limited_sender_without_a_choice_reaches_their_departments_only(console, company):
    await console.sign_in("soumu-sender")
    status, _ = await drill(console)
    assert status == 303
    alert = await Alert.get()
    reached = await alert.recipients.all().values_list("employee__code", flat=True)
    assert sorted(reached) == ["E1", "E2"]


async def test_a_limited_sender_choosing_another_department_is_refused(console, company):
    await console.sign_in("soumu-sender")
    status, html = await drill(console, str(company.departments["営業部"].id))
    assert status == 422 and "担当外の部署には発信できません。" in html
    assert not await Alert.exists()


async def test_a_limited_sender_sees_only_alerts_reaching_their_departments(console, company):
    await console.sign_in("sender")
    assert (await drill(console, str(company.departments["営業部"].id)))[0] == 303
    other = await Alert.get()
    await console.post("/console/logout")

    await console.sign_in("soumu-sender")
    status, _ = await console.get(f"/console/alerts/{other.id}")
    assert status in (403, 404)


async def test_a_sender_without_departments_reaches_everyone(console, company):
    await console.sign_in("sender")
    assert (await drill(console))[0] == 303
    assert await (await Alert.get()).recipients.all().count() == 3


async def test_starting_outside_the_scope_is_refused_and_audited(company):
    scope = await Scope.departments([company.departments["総務部"].id])
    template = await Template.get(key="earthquake")
    with pytest.raises(Forbidden):
        await start_alert(
            Actor.console("soumu-sender"), template, drill=True,
            departments=[company.departments["営業部"]], scope=scope,
        )  # fmt: skip
    assert not await Alert.exists()
    assert await AuditEntry.exists(actor="soumu-sender", action="alert_started", result="refused")


async def test_the_confirm_step_names_the_limited_senders_departments(console, company):
    await console.sign_in("soumu-sender")
    template = str((await Template.get(key="earthquake")).id)
    response = await console.post("/console/alerts/new", {"template": template, "drill": "drill"})
    html = await response.text()
    assert response.status == 200
    assert "総務部(下位の部署を含む)" in html and 'id="confirm-count">2 名' in html


async def test_the_start_form_offers_a_limited_sender_their_departments_only(console, company):
    await console.sign_in("soumu-sender")
    status, html = await console.get("/console/alerts/new")
    assert status == 200
    assert "総務部/庶務課" in html and "営業部" not in html


async def test_a_limited_sender_reminds_only_their_departments(console, company):
    template = await Template.get(key="earthquake")
    alert = (await start_alert(Actor.cli(), template, drill=True)).alert  # everyone
    await console.sign_in("soumu-sender")
    response = await console.post(f"/console/alerts/{alert.id}/remind", {"message": ""})
    assert response.status == 303
    reminder = await AlertRound.get(alert_id=alert.id)
    reached = await Delivery.filter(alert_id=alert.id, round=reminder.round).values_list(
        "employee__code", flat=True
    )
    assert sorted(reached) == ["E1", "E2"]


async def test_a_limited_sender_may_not_close_an_alert_reaching_beyond_their_departments(
    console, company
):
    template = await Template.get(key="earthquake")
    alert = (await start_alert(Actor.cli(), template, drill=True)).alert  # everyone
    await console.sign_in("soumu-sender")
    status, html = await console.get(f"/console/alerts/{alert.id}")
    assert status == 200 and 'id="remind-link"' in html
    assert 'id="close-link"' not in html and "終了できません" in html
    assert (await console.get(f"/console/alerts/{alert.id}/close"))[0] == 403

    response = await console.post(f"/console/alerts/{alert.id}/close")

    assert response.status == 403
    assert "担当外の部署にも送られた連絡は終了できません。" in await response.text()
    assert (await Alert.get(id=alert.id)).closed_at is None
    row = await AuditEntry.get(action="alert_closed")
    assert (row.actor, row.result, row.target) == ("soumu-sender", "refused", f"alert:{alert.id}")


async def test_a_limited_sender_closes_an_alert_within_their_departments(console, company):
    await console.sign_in("soumu-sender")
    assert (await drill(console))[0] == 303  # 総務部 and 庶務課
    alert = await Alert.get()
    _, html = await console.get(f"/console/alerts/{alert.id}")
    assert 'id="close-link"' in html

    response = await console.post(f"/console/alerts/{alert.id}/close")

    assert response.status == 303
    assert (await Alert.get(id=alert.id)).closed_at is not None
    assert await AuditEntry.exists(actor="soumu-sender", action="alert_closed", result="ok")


async def test_a_sender_without_departments_closes_an_alert_reaching_everyone(console, company):
    template = await Template.get(key="earthquake")
    alert = (await start_alert(Actor.cli(), template, drill=True)).alert
    await console.sign_in("sender")
    response = await console.post(f"/console/alerts/{alert.id}/close")
    assert response.status == 303
    assert (await Alert.get(id=alert.id)).closed_at is not None
