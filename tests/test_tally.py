"""The tally counts what the viewer's scope lets them see, the same way for every face."""

from __future__ import annotations

import pytest

from domain.actors import Actor
from domain.alerts import start_alert
from domain.answers import submit_answer
from domain.errors import NotFound
from domain.scope import Scope
from domain.tally import tally
from models import AnswerChannel, Template
from tests.conftest import make_company

SAFE = {"本人": "無事", "家族": "全員無事", "家屋": "被害なし", "出社": "可能"}
HURT = {"本人": "重傷", "家族": "一部負傷", "家屋": "全壊", "出社": "不可能"}


@pytest.fixture
async def answered(db):
    """本社 > 総務部 > 庶務課, and 大阪支店; one answer in 庶務課 and one in 大阪支店."""
    company = await make_company(
        {
            "本社": [("E1", "社長")],
            "総務部": [("E2", "山田")],
            "庶務課": [("E3", "佐藤")],
            "大阪支店": [("E4", "鈴木"), ("E5", "高橋")],
        },
        parents={"総務部": "本社", "庶務課": "総務部"},
    )
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    alert_id = started.alert.id
    await submit_answer(alert_id, company.employees["E3"], HURT, "", AnswerChannel.LIFF)
    await submit_answer(alert_id, company.employees["E4"], SAFE, "", AnswerChannel.LIFF)
    return alert_id, company


async def test_everything_counts_the_whole_roster(answered):
    alert_id, _ = answered
    result = await tally(alert_id, Scope.everything())
    assert (result.total, result.answered, result.unanswered) == (5, 2, 3)
    assert result.choice_counts["本人"] == {"無事": 1, "軽傷": 0, "重傷": 1}
    assert result.shown_title == "【訓練】【地震】安否確認"


async def test_a_department_scope_includes_its_sub_departments_only(answered):
    alert_id, company = answered
    scope = await Scope.departments([company.departments["総務部"].id])
    result = await tally(alert_id, scope)
    assert (result.total, result.answered) == (2, 1)  # 総務部 and 庶務課, not 本社 or 大阪
    assert result.choice_counts["本人"] == {"無事": 0, "軽傷": 0, "重傷": 1}
    assert {d.name for d in result.departments} == {"総務部", "庶務課"}


async def test_an_empty_scope_sees_nobody(answered):
    alert_id, _ = answered
    result = await tally(alert_id, Scope(frozenset()))
    assert (result.total, result.answered, result.departments) == (0, 0, [])


async def test_an_unknown_alert_is_not_found(db):
    with pytest.raises(NotFound):
        await tally(12345)
