"""Family safety through the real app and the local LINE platform: an employee registers a
family member on /me/, the member links LINE by sending their one-time code to the bot, an
alert whose template has family on asks them (無事 / 負傷 / 不明) by a multicast, they answer
with a tap, the employee sees and corrects it on /me/, and supervisors (only with
family_visible on, within scope), the CSV and the admin group's /status show it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

import pytest

from domain import family
from domain.actors import Actor
from domain.alerts import start_alert
from domain.answers import submit_answer
from domain.settings import get_settings
from models import (
    AnswerChannel,
    AuditEntry,
    Delivery,
    DeliveryKind,
    FamilyAnswer,
    FamilyAnswerRevision,
    FamilyMember,
    FamilyStatus,
    OrganizationSettings,
    Template,
    Throttle,
)
from tests import me_helpers, test_admin_group
from tests.conftest import make_company, make_console_user, until
from tests.me_helpers import EmployeePhone

bot, phone = me_helpers.bot, me_helpers.phone  # fixtures: the app with LINE Login on
room, unbound = test_admin_group.room, test_admin_group.unbound  # a bound admin group
GOOD = {"本人": "無事", "家族": "全員無事", "家屋": "被害なし", "出社": "可能"}
CODE = re.compile(r"F\d+-[A-Z2-9]{4}-[A-Z2-9]{4}")


@pytest.fixture
async def company(bot):
    """山田 (総務部) and 鈴木 (営業部); the default template asks family."""
    company = await make_company({"総務部": [("E001", "山田 太郎")], "営業部": [("E101", "鈴木")]})
    await Template.filter(key="earthquake").update(family=True)
    return company


async def post_page(phone: EmployeePhone, path: str, data: dict[str, str]) -> tuple[int, str]:
    """POST a form of the page that answers with a page (not a redirect): status and HTML."""
    form = {"csrf_token": await phone.csrf(), **data}
    async with phone.session.post(phone.url(path), data=form, allow_redirects=False) as r:
        return r.status, await r.text()


def replies(sim: Any) -> list[Any]:
    return [s for s in sim.sent if s.kind == "reply" and s.status == 200]


async def befriend(sim: Any, name: str) -> str:
    """A LINE user adds the account (and is greeted); return their user ID."""
    user_id = sim.add_user(name).user_id
    before = len(replies(sim))
    assert await sim.follow(user_id) == 200
    await until(lambda: len(replies(sim)) > before)
    return user_id


async def say(sim: Any, user_id: str, text: str) -> str:
    """The user sends text; return the text of the bot's reply."""
    before = len(replies(sim))
    assert await sim.send_text(user_id, text) == 200
    await until(lambda: len(replies(sim)) > before)
    (reply,) = replies(sim)[before:]
    return reply.messages[0]["text"]


async def tap(sim: Any, user_id: str, data: str) -> str:
    before = len(replies(sim))
    assert await sim.postback(user_id, data) == 200
    await until(lambda: len(replies(sim)) > before)
    (reply,) = replies(sim)[before:]
    return reply.messages[0]["text"]


def family_buttons(message: dict) -> dict[str, str]:
    """The family question's buttons: label -> postback data."""
    return {
        b["action"]["label"]: b["action"]["data"] for b in message["contents"]["footer"]["contents"]
    }


async def register_with_line(sim: Any, phone: EmployeePhone, employee: Any) -> tuple[int, str]:
    """On /me/: add 配偶者 山田 花子, issue her code; she befriends and sends it. Return her
    member number and LINE user ID."""
    await phone.first_sign_in(employee)
    response = await phone.post(
        "/me/family/add", {"name": "山田 花子", "relation": "配偶者", "email": ""}
    )
    assert response.status == 303
    member = await FamilyMember.get(employee_id=employee.id)
    status, html = await post_page(phone, "/me/family/code", {"member_id": str(member.id)})
    assert status == 200
    code = CODE.search(html).group(0)
    assert (await FamilyMember.get(id=member.id)).link_code_hash.startswith("$argon2")
    hanako = await befriend(sim, "花子")
    reply = await say(sim, hanako, code)
    assert "配偶者" in reply and "登録しました" in reply
    assert (await FamilyMember.get(id=member.id)).line_user_id == hanako
    return member.id, hanako


async def test_a_family_member_links_answers_and_the_employee_sees_and_corrects_it(
    sim, bot, phone, company
):
    yamada = company.employees["E001"]
    member_id, hanako = await register_with_line(sim, phone, yamada)

    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    await until(
        lambda: any(s.kind == "multicast" and hanako in s.to and s.status == 200 for s in sim.sent)
    )
    (sent,) = [s for s in sim.sent if s.kind == "multicast" and hanako in s.to]
    assert sent.to == [hanako]  # the family round reaches the family, nobody else
    buttons = family_buttons(sent.messages[0])
    assert list(buttons) == ["無事", "負傷", "不明"]
    row = await Delivery.get(address=hanako)
    assert row.kind is DeliveryKind.FAMILY and row.employee_id == yamada.id

    reply = await tap(sim, hanako, buttons["負傷"])
    assert "負傷" in reply
    answer = await FamilyAnswer.get(alert_id=started.alert.id, member_id=member_id)
    assert answer.status is FamilyStatus.INJURED and not answer.by_employee

    _, html = await phone.get("/me/")
    assert f'id="family-status-{started.alert.id}-{member_id}"' in html
    assert "<strong>負傷</strong>" in html
    response = await phone.post(
        "/me/family/answer",
        {
            "alert_id": str(started.alert.id),
            "member_id": str(member_id),
            "status": "safe",
            "message": "連絡が取れました",
        },
    )
    assert response.status == 303
    answer = await FamilyAnswer.get(alert_id=started.alert.id, member_id=member_id)
    assert answer.status is FamilyStatus.SAFE and answer.by_employee and answer.revision == 2
    assert await FamilyAnswerRevision.filter(answer_id=answer.id).count() == 2
    assert await AuditEntry.filter(action="family_answer", via="line").exists()
    assert await AuditEntry.filter(action="family_answer_for", via="me").exists()


async def test_a_template_without_family_sends_the_family_nothing(sim, bot, phone, company):
    yamada = company.employees["E001"]
    _, hanako = await register_with_line(sim, phone, yamada)
    await Template.filter(key="earthquake").update(family=False)
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    # The family round would be written with the alert, in the same transaction.
    assert not await Delivery.filter(alert_id=started.alert.id, address=hanako).exists()
    assert not await Delivery.filter(kind=DeliveryKind.FAMILY).exists()


async def test_a_wrong_family_code_links_nothing_and_counts_against_the_link_limit(
    sim, bot, phone, company
):
    yamada = company.employees["E001"]
    await phone.first_sign_in(yamada)
    await phone.post("/me/family/add", {"name": "山田 一郎", "relation": "子", "email": ""})
    member = await FamilyMember.get(employee_id=yamada.id)
    await post_page(phone, "/me/family/code", {"member_id": str(member.id)})
    stranger = await befriend(sim, "他人")
    for _ in range(5):
        reply = await say(sim, stranger, f"F{member.id}-AAAA-AAAA")
        assert "正しくありません" in reply
    reply = await say(sim, stranger, f"F{member.id}-AAAA-AAAA")
    assert "一時的に受け付けを停止" in reply  # the same limit as the employee link page
    assert await Throttle.filter(key=f"link:{stranger}").exists()
    assert (await FamilyMember.get(id=member.id)).line_user_id is None


async def test_supervisors_see_family_only_when_allowed_and_within_scope(
    sim, bot, phone, company, console
):
    yamada = company.employees["E001"]
    _, hanako = await register_with_line(sim, phone, yamada)
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    alert_id = started.alert.id
    await until(lambda: any(s.kind == "multicast" and hanako in s.to for s in sim.sent))
    await family.answer_as_family_line_user(
        hanako, alert_id, FamilyStatus.UNKNOWN, Actor.line(hanako)
    )
    await submit_answer(alert_id, yamada, GOOD, "", AnswerChannel.LIFF)
    soumu = company.departments["総務部"]
    eigyo = company.departments["営業部"]
    await make_console_user("soumu", "supervisor", [soumu])
    await make_console_user("eigyo", "supervisor", [eigyo])

    await console.sign_in("soumu")
    status, html = await console.get(f"/console/alerts/{alert_id}")
    assert status == 200 and 'id="family"' not in html and "山田 花子" not in html
    status, csv = await console.get(f"/console/alerts/{alert_id}/answers.csv")
    assert "家族の安否" not in csv and "山田 花子" not in csv

    await OrganizationSettings.filter().update(family_visible=True)
    status, html = await console.get(f"/console/alerts/{alert_id}")
    assert 'id="family"' in html and "山田 花子" in html and "不明" in html
    assert "花子" not in html.split('id="family"')[0]  # nowhere else on the page
    status, csv = await console.get(f"/console/alerts/{alert_id}/answers.csv")
    header, first = csv.lstrip("\ufeff").splitlines()[:2]
    assert header.endswith("家族の安否") and "配偶者 山田 花子: 不明" in first

    await console.post("/console/logout")
    await console.sign_in("eigyo")  # 営業部 sees the alert, not 総務部's families
    status, html = await console.get(f"/console/alerts/{alert_id}")
    assert status == 200 and 'id="family"' in html and "山田 花子" not in html


async def test_the_maintainer_switches_family_visibility_in_settings(bot, console, company):
    await make_console_user("admin", "maintainer")
    await console.sign_in("admin")
    response = await console.post(
        "/console/settings",
        {"contact_info_viewable": "", "monthly_pack": "3000", "family_visible": "on"},
    )
    assert response.status == 303
    assert (await get_settings()).family_visible
    row = await AuditEntry.filter(action="settings_changed").order_by("-id").first()
    assert row.detail == {"family_visible": [False, True]}


async def test_status_in_the_admin_group_has_a_family_line_only_when_allowed(room, sim):
    await Template.filter(key="earthquake").update(family=True)
    yamada = room.company.employees["E1"]
    member = (await family.add_member(yamada.id, "山田 花子", "配偶者", "", Actor.me("E1"))).member
    code = await family.issue_link_code(yamada.id, member.id, Actor.me("E1"))
    hanako = await befriend(sim, "花子")
    assert "登録しました" in await say(sim, hanako, code)
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    await until(lambda: any(s.kind == "multicast" and hanako in s.to for s in sim.sent))
    (sent,) = [s for s in sim.sent if s.kind == "multicast" and hanako in s.to]
    assert "負傷" in await tap(sim, hanako, family_buttons(sent.messages[0])["負傷"])

    reply = await room.say("山田", f"/status {started.alert.id}")
    assert "家族の安否" not in reply
    settings = await get_settings()
    settings.family_visible = True
    await settings.save()
    reply = await room.say("山田", f"/status {started.alert.id}")
    assert "家族の安否: 無事 0 / 負傷 1 / 不明 0 / 回答待ち 0" in reply


def test_family_postback_data_is_parsed_strictly():
    from bot.handlers import parse_family_answer

    assert parse_family_answer("action=family_answer&alert=3&status=safe") == (
        3,
        FamilyStatus.SAFE,
    )
    for bad in ["action=family_answer&alert=x&status=safe", "action=family_answer&alert=3"]:
        assert parse_family_answer(bad) is None
    assert parse_qs("a=1")  # keeps the import honest
