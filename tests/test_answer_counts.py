"""The tally reads counts kept in each answer's transaction (`answer_count`); whatever way
answers arrive (the LIFF API with a signed ID token, again and again, at once, entered by a
supervisor, by e-mail), the counts equal the full recount from the answers themselves."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from domain.actors import Actor
from domain.alerts import alert_summaries, close_alert, start_alert
from domain.answers import enter_answer_for, submit_answer
from domain.retention import purge_answers
from domain.scope import Scope
from domain.tally import recount, tally
from models import Alert, AnswerChannel, AnswerCount, Employee, Template
from tests.conftest import make_company, quick_link

SAFE = {"本人": "無事", "家族": "全員無事", "家屋": "被害なし", "出社": "可能"}
HURT = {"本人": "重傷", "家族": "一部負傷", "家屋": "全壊", "出社": "不可能"}
MIXED = {"本人": "軽傷", "家族": "全員無事", "家屋": "全壊", "出社": "可能"}


@pytest.fixture
async def scene(sim, bot, browser_session):
    """本社 > 総務部 (E1, E2), 大阪支店 (E3, E4), E5 with no department; all but E5 linked;
    a drill to all; `answer(code, choices)` answers as the LIFF page does."""
    company = await make_company(
        {
            "本社": [],
            "総務部": [("E1", "山田"), ("E2", "佐藤")],
            "大阪支店": [("E3", "鈴木"), ("E4", "高橋")],
        },
        parents={"総務部": "本社"},
    )
    company.employees["E5"] = await Employee.create(code="E5", name="田中", department=None)
    users = {code: await quick_link(sim, company.employees[code]) for code in ("E1", "E2", "E3")}
    users["E4"] = await quick_link(sim, company.employees["E4"])
    alert = (await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)).alert

    async def answer(code: str, choices: dict[str, str]) -> int:
        async with browser_session.post(
            bot.make_url(f"/liff/api/alerts/{alert.id}/answer"),
            headers={"Authorization": f"Bearer {sim.issue_id_token(users[code])}"},
            json={"choices": choices, "message": ""},
        ) as response:
            return response.status

    return alert, company, answer


async def _same_as_recount(alert_id: int, company) -> None:
    scopes = [
        Scope.everything(),
        await Scope.departments([company.departments["本社"].id]),
        await Scope.departments([company.departments["大阪支店"].id]),
        Scope(frozenset()),
    ]
    for scope in scopes:
        assert await tally(alert_id, scope) == await recount(alert_id, scope), scope


async def test_answers_and_re_answers_through_the_liff_api_count_as_the_recount(scene):
    alert, company, answer = scene
    assert await answer("E1", SAFE) == 200
    assert await answer("E3", HURT) == 200
    assert await answer("E1", MIXED) == 200  # moves E1's changed choices
    assert await answer("E1", MIXED) == 200  # the same again moves nothing
    assert await answer("E4", {"本人": "無事"}) == 422  # refused: counts nothing
    result = await tally(alert.id)
    assert (result.total, result.answered) == (5, 2)
    assert result.choice_counts["本人"] == {"無事": 0, "軽傷": 1, "重傷": 1}
    assert result.choice_counts["家屋"] == {"被害なし": 0, "一部倒壊": 0, "全壊": 2}
    by_name = {d.name: (d.total, d.answered) for d in result.departments}
    assert by_name == {"総務部": (2, 1), "大阪支店": (2, 1), "(所属なし)": (1, 0)}
    await _same_as_recount(alert.id, company)


async def test_answers_racing_from_one_employee_and_from_many_count_once_each(scene):
    alert, company, answer = scene
    statuses = await asyncio.gather(
        answer("E2", SAFE), answer("E2", HURT), answer("E2", MIXED), answer("E2", SAFE),
        answer("E1", HURT), answer("E3", MIXED), answer("E4", SAFE),
    )  # fmt: skip
    assert set(statuses) == {200}
    result = await tally(alert.id)
    assert result.answered == 4
    assert sum(result.choice_counts["本人"].values()) == 4
    await _same_as_recount(alert.id, company)


async def test_answers_entered_by_a_supervisor_and_by_e_mail_count_in_the_roster_department(
    scene,
):
    alert, company, answer = scene
    osaka = await Scope.departments([company.departments["大阪支店"].id])
    await enter_answer_for(Actor.console("osaka"), alert.id, "E4", HURT, "電話あり", osaka)
    await submit_answer(alert.id, company.employees["E5"], SAFE, "", AnswerChannel.EMAIL)
    # E4 moves to 総務部 after the alert: the alert's roster (and its tally) keeps 大阪支店.
    await Employee.filter(code="E4").update(department_id=company.departments["総務部"].id)
    assert await answer("E4", SAFE) == 200  # their own answer replaces the one entered
    result = await tally(alert.id)
    by_name = {d.name: (d.total, d.answered) for d in result.departments}
    assert by_name == {"総務部": (2, 0), "大阪支店": (2, 1), "(所属なし)": (1, 1)}
    assert result.choice_counts["本人"] == {"無事": 2, "軽傷": 0, "重傷": 0}
    await _same_as_recount(alert.id, company)


async def test_the_alert_list_counts_from_the_same_counts(scene):
    alert, company, answer = scene
    assert await answer("E1", SAFE) == 200
    assert await answer("E3", SAFE) == 200
    soumu = await Scope.departments([company.departments["総務部"].id])
    for scope, expected in ((Scope.everything(), (5, 2)), (soumu, (2, 1))):
        (summary,) = [s for s in await alert_summaries(scope) if s.id == alert.id]
        assert (summary.total, summary.answered) == expected
        counted = await recount(alert.id, scope)
        assert (counted.total, counted.answered) == expected


async def test_purged_answers_take_their_counts_and_leave_the_roster_size(scene):
    alert, company, answer = scene
    assert await answer("E1", HURT) == 200
    await close_alert(Actor.cli(), alert.id)
    await Alert.filter(id=alert.id).update(closed_at=alert.started_at - timedelta(days=40))
    assert await purge_answers(timedelta(days=30))
    result = await tally(alert.id)
    assert (result.total, result.answered, result.choice_counts["本人"]["重傷"]) == (5, 0, 0)
    await _same_as_recount(alert.id, company)
    assert not await AnswerCount.filter(alert_id=alert.id, n__lt=0).exists()
