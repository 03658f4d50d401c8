"""The employee answers for their family in the LIFF answer flow: the API (ID token verified
on the server) lists only the caller's own family for an alert with family on and records
their answer for one of them (channel liff, by the employee); a colleague's family member is
never theirs to answer or see."""

from __future__ import annotations

import pytest

from domain import family
from domain.actors import Actor
from domain.alerts import close_alert, start_alert
from models import AuditEntry, FamilyAnswer, FamilyStatus, Template
from tests import test_liff_api
from tests.conftest import make_company, quick_link

api = test_liff_api.api  # fixture: calls the API with an ID token


@pytest.fixture
async def drill(sim, bot):
    """山田 and 佐藤 linked, each with a family member; a drill of the family template."""
    company = await make_company({"総務部": [("E1", "山田 太郎"), ("E2", "佐藤 次郎")]})
    yamada, sato = company.employees["E1"], company.employees["E2"]
    hanako = (await family.add_member(yamada.id, "山田 花子", "配偶者", "", Actor.me("E1"))).member
    ichiro = (await family.add_member(yamada.id, "山田 一郎", "子", "", Actor.me("E1"))).member
    sato_wife = (await family.add_member(sato.id, "佐藤 陽子", "配偶者", "", Actor.me("E2"))).member
    await Template.filter(key="earthquake").update(family=True)
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    return {
        "alert": started.alert.id,
        "yamada": await quick_link(sim, yamada),
        "hanako": hanako.id,
        "ichiro": ichiro.id,
        "sato_wife": sato_wife.id,
    }


async def test_an_employee_sees_and_answers_for_their_own_family(sim, drill, api):
    token = sim.issue_id_token(drill["yamada"])
    path = f"/liff/api/alerts/{drill['alert']}/family"
    status, body = await api("GET", path, token)
    assert status == 200
    assert [(m["name"], m["relation"], m["status"]) for m in body["members"]] == [
        ("山田 花子", "配偶者", None),
        ("山田 一郎", "子", None),
    ]
    assert [s["label"] for s in body["statuses"]] == ["無事", "負傷", "不明"]

    status, body = await api(
        "POST",
        path,
        token,
        json={"member_id": drill["ichiro"], "status": "injured", "message": "擦り傷"},
    )
    assert status == 200
    ichiro = next(m for m in body["members"] if m["id"] == drill["ichiro"])
    assert ichiro["status"] == "injured" and ichiro["message"] == "擦り傷" and ichiro["by_employee"]
    answer = await FamilyAnswer.get(alert_id=drill["alert"], member_id=drill["ichiro"])
    assert answer.status is FamilyStatus.INJURED and answer.channel == "liff" and answer.by_employee
    row = await AuditEntry.filter(action="family_answer_for").order_by("-id").first()
    assert row.via == "line" and row.detail["channel"] == "liff"


async def test_a_colleagues_family_member_cannot_be_answered(sim, drill, api):
    token = sim.issue_id_token(drill["yamada"])
    path = f"/liff/api/alerts/{drill['alert']}/family"
    status, _ = await api(
        "POST", path, token, json={"member_id": drill["sato_wife"], "status": "safe"}
    )
    assert status == 404
    assert not await FamilyAnswer.exists()


@pytest.mark.parametrize(
    "payload",
    [{"member_id": "1", "status": "safe"}, {"member_id": 1, "status": "fine"}, {"status": "safe"}],
)
async def test_a_malformed_family_answer_is_refused(sim, drill, api, payload):
    token = sim.issue_id_token(drill["yamada"])
    status, _ = await api("POST", f"/liff/api/alerts/{drill['alert']}/family", token, json=payload)
    assert status == 422
    assert not await FamilyAnswer.exists()


async def test_no_token_no_link_or_a_closed_alert_answers_nothing(sim, drill, api):
    path = f"/liff/api/alerts/{drill['alert']}/family"
    status, body = await api("GET", path)
    assert status == 401 and body["error"] == "invalid_id_token"
    stranger = sim.add_user("他人").user_id
    status, body = await api("GET", path, sim.issue_id_token(stranger))
    assert status == 403 and body["error"] == "not_linked"

    await close_alert(Actor.cli(), drill["alert"])
    token = sim.issue_id_token(drill["yamada"])
    status, _ = await api(
        "POST", path, token, json={"member_id": drill["hanako"], "status": "safe"}
    )
    assert status == 409
    assert not await FamilyAnswer.exists()
