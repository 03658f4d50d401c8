"""代理回答: a console user records the answer of someone in their scope who told it another
way; channel `console`, who entered it kept on the answer and its revision, audited."""

from __future__ import annotations

import pytest

from domain.actors import Actor
from domain.alerts import close_alert, start_alert
from domain.answers import NotInScope, enter_answer_for, submit_answer
from domain.errors import Conflict, Forbidden, Invalid
from domain.notify import Topic, notifier
from domain.scope import Scope
from domain.tally import answer_sheet
from models import Answer, AnswerChannel, AnswerRevision, AuditEntry, Employee, Template
from tests.conftest import make_company

SAFE = {"本人": "無事", "家族": "全員無事", "家屋": "被害なし", "出社": "可能"}
HURT = {"本人": "重傷", "家族": "一部負傷", "家屋": "全壊", "出社": "不可能"}


@pytest.fixture
async def scene(db):
    """総務部 (E1, E2) and 営業部 (E3); a drill to all; a scope of 総務部."""
    company = await make_company(
        {"総務部": [("E1", "山田"), ("E2", "佐藤")], "営業部": [("E3", "鈴木")]}
    )
    alert = (await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)).alert
    scope = await Scope.departments([company.departments["総務部"].id])
    return alert, company, scope


async def test_an_answer_entered_for_someone_is_theirs_by_console_with_who_entered_it(scene):
    alert, _, scope = scene
    heard = []
    unsubscribe = notifier.subscribe(Topic.ANSWER, heard.append)
    try:
        view = await enter_answer_for(
            Actor.console("soumu"), alert.id, " E2 ", HURT, "電話で連絡あり", scope
        )
    finally:
        unsubscribe()

    answer = await Answer.get(alert_id=alert.id)
    assert answer.employee_id == (await Employee.get(code="E2")).id
    assert (answer.channel, answer.entered_by, answer.message) == (
        AnswerChannel.CONSOLE, "soumu", "電話で連絡あり",
    )  # fmt: skip
    assert answer.choices == HURT and view.answer.entered_by == "soumu"
    revision = await AnswerRevision.get(answer_id=answer.id)
    assert revision.entered_by == "soumu" and revision.channel == AnswerChannel.CONSOLE
    row = await AuditEntry.get(action="answer_entered_for")
    assert (row.via, row.actor, row.target, row.result) == (
        "console", "soumu", f"alert:{alert.id}", "ok",
    )  # fmt: skip
    assert row.detail == {"employee": "E2"}  # never what they said
    assert str(alert.id) in heard  # live views hear of it
    sheet = await answer_sheet(alert.id, scope)
    assert [(r.code, r.channel) for r in sheet.rows] == [("E2", "管理画面")]


async def test_the_employees_own_answer_later_replaces_it_and_clears_who_entered_it(scene):
    alert, company, scope = scene
    await enter_answer_for(Actor.console("soumu"), alert.id, "E2", HURT, "", scope)
    await submit_answer(alert.id, company.employees["E2"], SAFE, "", AnswerChannel.LIFF)
    answer = await Answer.get(alert_id=alert.id)
    assert (answer.revision, answer.entered_by, answer.channel) == (2, None, AnswerChannel.LIFF)
    kept = await AnswerRevision.filter(answer_id=answer.id).order_by("revision")
    assert [r.entered_by for r in kept] == ["soumu", None]


@pytest.mark.parametrize("code", ["E3", "NOBODY", ""])
async def test_someone_outside_the_scope_or_unknown_is_refused_and_audited(scene, code):
    alert, _, scope = scene
    with pytest.raises(NotInScope):
        await enter_answer_for(Actor.console("soumu"), alert.id, code, SAFE, "", scope)
    assert not await Answer.exists()
    row = await AuditEntry.get(action="answer_entered_for")
    assert (row.actor, row.result) == ("soumu", "refused")


async def test_a_retired_employee_is_refused(scene):
    alert, _, scope = scene
    await Employee.filter(code="E1").update(active=False)
    with pytest.raises(Forbidden, match="無効になっている"):
        await enter_answer_for(Actor.console("boss"), alert.id, "E1", SAFE, "", scope)
    assert not await Answer.exists()


async def test_a_closed_alert_takes_no_answer_entered_for_anyone(scene):
    alert, _, _ = scene
    await close_alert(Actor.cli(), alert.id)
    with pytest.raises(Conflict):
        await enter_answer_for(Actor.console("boss"), alert.id, "E1", SAFE, "", Scope.everything())
    assert not await Answer.exists()
    assert (await AuditEntry.get(action="answer_entered_for")).result == "failed"


async def test_an_invalid_answer_is_refused_with_the_forms_words(scene):
    alert, _, scope = scene
    with pytest.raises(Invalid, match="「本人」を選択してください"):
        await enter_answer_for(
            Actor.console("soumu"), alert.id, "E1", {"家族": "全員無事"}, "", scope
        )
    assert not await Answer.exists()
