"""The LIFF answer API: the ID token decides who answers; bad answers get a clear 4xx."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from domain.actors import Actor
from domain.alerts import close_alert, start_alert
from domain.tally import tally
from models import Alert, Answer, AnswerRevision, Template
from tests.conftest import LIFF_ID, make_company, quick_link

GOOD = {"本人": "無事", "家族": "全員無事", "家屋": "被害なし", "出社": "可能"}


@dataclass
class Drill:
    alert: Alert
    user_id: str
    employee_id: int
    other_user_id: str
    other_employee_id: int


@pytest.fixture
async def drill(sim, bot) -> Drill:
    company = await make_company({"総務部": [("E1", "山田 太郎"), ("E2", "佐藤 花子")]})
    user_id = await quick_link(sim, company.employees["E1"])
    other = await quick_link(sim, company.employees["E2"])
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    return Drill(
        started.alert, user_id, company.employees["E1"].id, other, company.employees["E2"].id
    )


async def call(line_session, bot, method, path, token=None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with line_session.request(method, bot.make_url(path), headers=headers, **kwargs) as r:
        return r.status, await r.json()


@pytest.fixture
def api(browser_session, bot):
    async def run(method, path, token=None, **kwargs):
        return await call(browser_session, bot, method, path, token, **kwargs)

    return run


async def test_a_linked_recipient_sees_the_alert_unanswered_then_answered(sim, drill, api):
    token = sim.issue_id_token(drill.user_id)
    status, view = await api("GET", f"/liff/api/alerts/{drill.alert.id}", token)
    assert status == 200
    assert view["status"] == "未回答" and view["answer"] is None
    assert view["alert"]["title"] == "【訓練】【地震】安否確認"
    assert view["alert"]["items"][0] == {
        "label": "本人",
        "required": True,
        "choices": ["無事", "軽傷", "重傷"],
        "text": "本人",
        "choice_texts": ["無事", "軽傷", "重傷"],
    }
    status, view = await api(
        "POST",
        f"/liff/api/alerts/{drill.alert.id}/answer",
        token,
        json={"choices": GOOD, "message": "無事です"},
    )
    assert status == 200 and view["status"] == "回答済"
    assert view["answer"]["choices"] == GOOD and view["answer"]["message"] == "無事です"


async def test_answering_again_replaces_the_answer_and_keeps_the_revision(sim, drill, api):
    token = sim.issue_id_token(drill.user_id)
    path = f"/liff/api/alerts/{drill.alert.id}/answer"
    await api("POST", path, token, json={"choices": GOOD, "message": "第一報"})
    second = {**GOOD, "本人": "軽傷", "出社": "不可能"}
    status, view = await api("POST", path, token, json={"choices": second, "message": "第二報"})
    assert status == 200 and view["answer"]["revision"] == 2
    answer = await Answer.get(alert_id=drill.alert.id, employee_id=drill.employee_id)
    assert answer.choices == second and answer.message == "第二報"
    revisions = await AnswerRevision.filter(answer=answer).order_by("revision")
    assert [(r.revision, r.choices["本人"], r.message) for r in revisions] == [
        (1, "無事", "第一報"),
        (2, "軽傷", "第二報"),
    ]
    result = await tally(drill.alert.id)
    assert result.answered == 1 and result.choice_counts["本人"]["軽傷"] == 1
    assert result.choice_counts["本人"]["無事"] == 0


async def test_a_user_id_in_the_body_is_ignored_the_token_decides(sim, drill, api):
    token = sim.issue_id_token(drill.user_id)
    status, _ = await api(
        "POST",
        f"/liff/api/alerts/{drill.alert.id}/answer",
        token,
        json={"choices": GOOD, "userId": drill.other_user_id, "employee": drill.other_employee_id},
    )
    assert status == 200
    assert await Answer.exists(alert_id=drill.alert.id, employee_id=drill.employee_id)
    assert not await Answer.exists(alert_id=drill.alert.id, employee_id=drill.other_employee_id)


@pytest.mark.parametrize(
    ("choices", "field", "words"),
    [
        ({k: v for k, v in GOOD.items() if k != "家屋"}, "家屋", "選択してください"),
        ({**GOOD, "家屋": ""}, "家屋", "選択してください"),
        ({**GOOD, "本人": "元気"}, "本人", "選べません"),
        (
            {**{k: v for k, v in GOOD.items() if k != "出社"}, "ペット": "無事"},
            "ペット",
            "ありません",
        ),
    ],
    ids=["missing-required", "empty-required", "unknown-choice", "unknown-item"],
)
async def test_a_bad_answer_is_refused_naming_the_item(sim, drill, api, choices, field, words):
    token = sim.issue_id_token(drill.user_id)
    status, body = await api(
        "POST", f"/liff/api/alerts/{drill.alert.id}/answer", token, json={"choices": choices}
    )
    assert status == 422
    assert body["error"] == "invalid_answer"
    assert words in body["fields"][field] and field in body["message"]
    assert not await Answer.exists(alert_id=drill.alert.id)


@pytest.mark.parametrize(
    "payload",
    [
        {"choices": ["無事"]},
        {"choices": {"本人": 1}},
        {"choices": GOOD, "message": 5},
        {"choices": GOOD, "message": "あ" * 1001},
    ],
    ids=["choices-list", "choice-number", "message-number", "message-too-long"],
)
async def test_a_malformed_answer_is_refused(sim, drill, api, payload):
    token = sim.issue_id_token(drill.user_id)
    status, body = await api(
        "POST", f"/liff/api/alerts/{drill.alert.id}/answer", token, json=payload
    )
    assert status == 422 and body["error"] == "invalid_answer" and body["message"]
    assert not await Answer.exists(alert_id=drill.alert.id)


async def test_a_body_that_is_not_json_is_refused(sim, drill, api):
    token = sim.issue_id_token(drill.user_id)
    status, body = await api(
        "POST", f"/liff/api/alerts/{drill.alert.id}/answer", token, data=b"choices=1"
    )
    assert status == 400 and body["error"] == "bad_json"


async def test_a_closed_alert_shows_closed_and_refuses_answers(sim, drill, api):
    await close_alert(Actor.cli(), drill.alert.id)
    token = sim.issue_id_token(drill.user_id)
    status, view = await api("GET", f"/liff/api/alerts/{drill.alert.id}", token)
    assert status == 200 and view["alert"]["closed"] is True
    status, body = await api(
        "POST", f"/liff/api/alerts/{drill.alert.id}/answer", token, json={"choices": GOOD}
    )
    assert status == 409 and body["error"] == "alert_closed"
    assert "終了" in body["message"]
    assert not await Answer.exists(alert_id=drill.alert.id)


async def test_an_unlinked_line_user_is_told_to_link_first(sim, drill, api):
    stranger = sim.add_user("だれか")
    token = sim.issue_id_token(stranger.user_id)
    status, body = await api(
        "POST", f"/liff/api/alerts/{drill.alert.id}/answer", token, json={"choices": GOOD}
    )
    assert status == 403 and body["error"] == "not_linked"
    assert "連携" in body["message"]


@pytest.mark.parametrize("kind", ["none", "garbage", "expired", "other-channel", "tampered"])
async def test_a_missing_or_invalid_id_token_is_refused(sim, drill, api, kind):
    tokens = {
        "none": None,
        "garbage": "not-a-jwt",
        "expired": sim.issue_id_token(drill.user_id, expires_in=-60),
        "other-channel": sim.issue_id_token(drill.user_id, audience="9999999999"),
        "tampered": sim.issue_id_token(drill.user_id)[:-4] + "AAAA",
    }
    status, body = await api(
        "POST", f"/liff/api/alerts/{drill.alert.id}/answer", tokens[kind], json={"choices": GOOD}
    )
    assert status == 401 and body["error"] == "invalid_id_token"
    assert not await Answer.exists(alert_id=drill.alert.id)


async def test_someone_outside_the_roster_cannot_see_or_answer_the_alert(sim, bot, api):
    company = await make_company({"総務部": [("E1", "山田")], "営業部": [("E2", "佐藤")]})
    outsider = await quick_link(sim, company.employees["E2"])
    started = await start_alert(
        Actor.cli(),
        await Template.get(key="earthquake"),
        drill=True,
        departments=[company.departments["総務部"]],
    )
    token = sim.issue_id_token(outsider)
    status, body = await api("GET", f"/liff/api/alerts/{started.alert.id}", token)
    assert status == 404 and body["error"] == "alert_not_found"
    status, _ = await api(
        "POST", f"/liff/api/alerts/{started.alert.id}/answer", token, json={"choices": GOOD}
    )
    assert status == 404
    status, _ = await api("GET", "/liff/api/alerts/9999", token)
    assert status == 404


async def test_the_answer_page_loads_the_liff_sdk_of_the_configured_host(sim, bot, browser_session):
    async with browser_session.get(bot.make_url("/liff/?liff.state=%3Falert%3D1")) as response:
        html = await response.text()
    assert response.status == 200
    assert f'src="{sim.config.public_base_url}/liff/sdk.js"' in html
    assert f'data-liff-id="{LIFF_ID}"' in html
