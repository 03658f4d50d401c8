"""A family member on LINE, through the real app and the local LINE platform: after tapping a
status the bot asks for an optional message and takes their next text as it; a family member
who adds the account or chats is answered as family (never the employee's "link first");
and the family round's deliveries are not counted as the employee's in 届かなかった連絡 or in
the unanswered list."""

from __future__ import annotations

from typing import Any

from domain.actors import Actor
from domain.alerts import close_alert, start_alert
from domain.delivery_report import delivery_problems
from domain.scope import Scope
from domain.tally import unanswered
from models import (
    AuditEntry,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    FamilyAnswer,
    FamilyAnswerRevision,
    FamilyStatus,
    Medium,
    Template,
)
from tests.conftest import quick_link, until
from tests.test_family import (
    bot,
    company,
    family_buttons,
    phone,
    register_with_line,
    replies,
    say,
    tap,
)

__all__ = ["bot", "company", "phone"]  # fixtures


async def drill_reaching(sim: Any, user_id: str) -> tuple[int, dict[str, str]]:
    """Start a drill of the family template; wait for the family question to reach the user
    and return the alert and its buttons."""
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    await until(
        lambda: any(s.kind == "multicast" and user_id in s.to and s.status == 200 for s in sim.sent)
    )
    (sent,) = [s for s in sim.sent if s.kind == "multicast" and user_id in s.to]
    return started.alert.id, family_buttons(sent.messages[0])


async def test_a_family_member_adds_a_message_after_tapping_a_status(sim, bot, phone, company):
    member_id, hanako = await register_with_line(sim, phone, company.employees["E001"])
    alert_id, buttons = await drill_reaching(sim, hanako)

    reply = await tap(sim, hanako, buttons["負傷"])
    assert "負傷" in reply and "メッセージを送ってください" in reply  # asked for a message
    reply = await say(sim, hanako, "足を少し切りましたが、自宅にいます")
    assert "メッセージを回答(負傷)に添えました" in reply
    answer = await FamilyAnswer.get(alert_id=alert_id, member_id=member_id)
    assert answer.status is FamilyStatus.INJURED
    assert answer.message == "足を少し切りましたが、自宅にいます"
    assert answer.channel == "line" and not answer.by_employee and answer.revision == 2

    await say(sim, hanako, "病院で手当てを受けました")  # a second text replaces the message
    answer = await FamilyAnswer.get(alert_id=alert_id, member_id=member_id)
    assert answer.message == "病院で手当てを受けました" and answer.status is FamilyStatus.INJURED
    assert await FamilyAnswerRevision.filter(answer_id=answer.id).count() == 3
    row = await AuditEntry.filter(action="family_answer").order_by("-id").first()
    assert row.via == "line" and row.target == f"alert:{alert_id}"
    assert "病院" not in str(row.detail)  # what they said stays out of the audit log

    await tap(sim, hanako, buttons["無事"])  # a new status keeps nothing of the message
    answer = await FamilyAnswer.get(alert_id=alert_id, member_id=member_id)
    assert answer.status is FamilyStatus.SAFE and answer.message == ""


async def test_a_message_before_any_status_or_after_the_close_is_not_an_answer(
    sim, bot, phone, company
):
    member_id, hanako = await register_with_line(sim, phone, company.employees["E001"])
    reply = await say(sim, hanako, "こんにちは")  # no alert at all
    assert "先に「無事」「負傷」「不明」のボタン" in reply
    assert not await FamilyAnswer.exists()

    alert_id, buttons = await drill_reaching(sim, hanako)
    await tap(sim, hanako, buttons["不明"])
    await close_alert(Actor.cli(), alert_id)
    reply = await say(sim, hanako, "遅れてすみません")
    assert "先に「無事」「負傷」「不明」のボタン" in reply
    answer = await FamilyAnswer.get(alert_id=alert_id, member_id=member_id)
    assert answer.message == "" and answer.revision == 1


async def test_a_family_member_is_greeted_and_answered_as_family(sim, bot, phone, company):
    _, hanako = await register_with_line(sim, phone, company.employees["E001"])
    assert await sim.unfollow(hanako) == 200
    before = len(replies(sim))
    assert await sim.follow(hanako) == 200  # adds the account again
    await until(lambda: len(replies(sim)) > before)
    (greeting,) = replies(sim)[before:]
    words = greeting.messages[0]["text"]
    assert "社員のご家族(配偶者)として安否確認に登録されています" in words
    assert "山田" not in words and "総務部" not in words  # nothing of the employee
    assert "連携" not in words.split("ご家族の方は")[0]  # not the employee greeting

    for text in ["回答", "使い方", "自分の回答", "連携情報"]:  # menu words of employees
        reply = await say(sim, hanako, text)
        assert "社員のご家族(配偶者)" in reply, text
        assert "連携してください" not in reply
    before = len(replies(sim))
    assert await sim.postback(hanako, "action=answer") == 200  # the rich menu's button
    await until(lambda: len(replies(sim)) > before)
    assert "社員のご家族(配偶者)" in replies(sim)[before].messages[0]["text"]


async def test_a_stranger_still_gets_the_employee_greeting(sim, bot, company):
    stranger = sim.add_user("他人").user_id
    before = len(replies(sim))
    assert await sim.follow(stranger) == 200
    await until(lambda: len(replies(sim)) > before)
    assert "ご家族" not in replies(sim)[before].messages[0]["text"]
    assert "連携" in await say(sim, stranger, "回答")


async def test_family_deliveries_are_not_the_employees_in_reports_or_the_unanswered_list(
    sim, bot, phone, company
):
    yamada = company.employees["E001"]
    _, hanako = await register_with_line(sim, phone, yamada)
    await quick_link(sim, yamada, "山田のLINE")
    sim.inject_fault("multicast", status=400, times=1)  # 山田's own alert fails for good
    alert_id, _ = await drill_reaching(sim, hanako)
    own = await until(
        lambda: Delivery.get_or_none(
            alert_id=alert_id, employee_id=yamada.id, kind=DeliveryKind.ALERT,
            status=DeliveryStatus.FAILED,
        )
    )  # fmt: skip
    family_row = await until(
        lambda: Delivery.get_or_none(
            alert_id=alert_id, kind=DeliveryKind.FAMILY, status=DeliveryStatus.SENT
        )
    )
    assert family_row.round > own.round

    report = await delivery_problems(alert_id, Scope.everything())
    assert report.count(Medium.LINE, DeliveryStatus.SENT) == 0  # 花子's is not 山田's
    assert report.count(Medium.LINE, DeliveryStatus.FAILED) == 1
    assert report.failed == 1
    rows = {u.code: u for u in await unanswered(alert_id, Scope.everything())}
    assert rows["E001"].line.startswith("送信失敗") and rows["E001"].line_unreachable
