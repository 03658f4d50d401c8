"""The 家族 section of the employee page in a real browser at phone size: an employee adds a
family member, issues their one-time LINE code (shown once), and every control of the
section is a full tap target with nothing wider than the screen."""

from __future__ import annotations

import re

from domain.linking import issue_registration_code
from models import FamilyMember
from tests import me_helpers
from tests.browser import database_url, needs_chromium, open_page  # noqa: F401 (fixtures)
from tests.conftest import make_company

pytestmark = needs_chromium
bot = me_helpers.bot  # fixture: the app with LINE Login on
PHONE = {"width": 390, "height": 844}
PASSWORD = "kazoku-no-pass"


async def test_an_employee_registers_a_family_member_and_gets_their_line_code(sim, bot, tmp_path):
    company = await make_company({"総務部": [("E001", "山田 太郎")]})
    issued = await issue_registration_code(company.employees["E001"])

    async with open_page(tmp_path / "family.png", viewport=PHONE) as page:
        await page.goto(str(bot.make_url("/me/login")))
        await page.fill("#employee_code", "E001")
        await page.fill("#secret", issued.code)
        await page.click("button:has-text('ログイン')")
        await page.wait_for_url("**/me/password")
        await page.fill("#password", PASSWORD)
        await page.fill("#confirm", PASSWORD)
        await page.click("button:has-text('設定する')")
        await page.wait_for_url("**/me/?done=password")

        await page.fill("#family-name", "山田 花子")
        await page.fill("#family-relation", "配偶者")
        await page.click("#family-add button[type=submit]")
        await page.wait_for_url("**/me/?done=family#family")
        assert "山田 花子(配偶者)" in await page.text_content("#family")
        assert "LINE未登録" in await page.text_content("#family")

        await page.click("#family summary")
        await page.click("#family button:has-text('LINE登録コードを発行')")
        code = await page.text_content("#family-code .code-value")
        assert re.fullmatch(r"F\d+-[A-Z2-9]{4}-[A-Z2-9]{4}", code)

        await page.click("#family summary")  # open again: every control visible
        small = await page.evaluate(
            """() => [...document.querySelectorAll('#family button, #family summary')]
                .filter(e => e.offsetParent !== null)
                .filter(e => e.getBoundingClientRect().height < 44)
                .map(e => e.textContent.trim())"""
        )
        assert small == []
        assert await page.evaluate("document.documentElement.scrollWidth <= 390")
        assert page.problems == []

    member = await FamilyMember.get(employee_id=company.employees["E001"].id)
    assert member.link_code_hash is not None and code not in member.link_code_hash


async def test_an_employee_answers_for_their_family_in_the_liff_form(sim, bot, tmp_path):
    """After their own answer, the LIFF form lists the employee's family with 無事 / 負傷 /
    不明 as full tap targets; answering for one is stored as the employee's, at 390 px."""
    from domain import family
    from domain.actors import Actor
    from domain.alerts import start_alert
    from models import FamilyAnswer, FamilyStatus, Template
    from tests.conftest import quick_link
    from tests.test_browser import open_answer_form

    company = await make_company({"総務部": [("E1", "山田 太郎")]})
    yamada = company.employees["E1"]
    hanako = (await family.add_member(yamada.id, "山田 花子", "配偶者", "", Actor.me("E1"))).member
    await Template.filter(key="earthquake").update(family=True)
    user_id = await quick_link(sim, yamada, "たろう")
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)

    async with open_page(tmp_path / "liff-family.png", viewport=PHONE) as page:
        await open_answer_form(page, sim, user_id, started.alert.id)
        assert await page.is_hidden("#family")  # not before their own answer
        for label in ["無事", "全員無事", "一部倒壊", "可能"]:
            await page.locator("#items").get_by_label(label, exact=True).check()
        await page.click("#submit")
        await page.wait_for_selector(f"#family-member-{hanako.id}")
        member = page.locator(f"#family-member-{hanako.id}")
        assert "山田 花子(配偶者)" in await member.text_content()
        assert "回答待ち" in await member.text_content()

        choices = member.locator("label.choice")
        assert await choices.count() == 3
        for i in range(3):
            box = await choices.nth(i).bounding_box()
            assert box["height"] >= 44
        await member.get_by_label("負傷", exact=True).check()
        await member.locator("textarea").fill("病院にいます")
        await member.locator("button[type=submit]").click()
        await page.wait_for_selector(f"#family-member-{hanako.id} .family-done:not([hidden])")
        text = await page.locator(f"#family-member-{hanako.id}").text_content()
        assert "負傷" in text and "(本人が代理で記録)" in text
        assert await page.evaluate("document.documentElement.scrollWidth <= 390")
        assert page.problems == []

    answer = await FamilyAnswer.get(alert_id=started.alert.id, member_id=hanako.id)
    assert answer.status is FamilyStatus.INJURED and answer.message == "病院にいます"
    assert answer.by_employee and answer.channel == "liff"


async def test_a_family_member_answers_on_the_family_page_at_phone_size(sim, bot, tmp_path):
    """The page a family e-mail's link opens: 無事 / 負傷 / 不明 as 44 px tap targets, a
    message, the saved answer shown after sending, and answering again allowed."""
    from datetime import UTC, datetime, timedelta

    from domain import family
    from domain.actors import Actor
    from domain.alerts import start_alert
    from models import FamilyAnswer, FamilyStatus, Template

    company = await make_company({"総務部": [("E1", "山田 太郎")]})
    yamada = company.employees["E1"]
    hanako = (
        await family.add_member(
            yamada.id, "山田 花子", "配偶者", "hanako@home.example", Actor.me("E1")
        )
    ).member
    await FamilyMember.filter(id=hanako.id).update(email_confirmed_at=datetime.now(UTC))
    await Template.filter(key="earthquake").update(family=True)
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    token = family.sign_family_link(
        "test-secret-key", started.alert.id, yamada.id, "hanako@home.example",
        datetime.now(UTC) + timedelta(days=7),
    )  # fmt: skip

    async with open_page(tmp_path / "family-page.png", viewport=PHONE) as page:
        await page.goto(str(bot.make_url(f"/liff/family/{token}")))
        assert "山田 花子さんの状況" in await page.text_content("#family-form")
        choices = page.locator("#family-form label.choice")
        assert await choices.count() == 3
        for i in range(3):
            assert (await choices.nth(i).bounding_box())["height"] >= 44
        await page.get_by_label("不明", exact=True).check()
        await page.fill("#message", "連絡待ちです")
        await page.click("#submit")
        await page.wait_for_selector("#done")
        assert "不明" in await page.text_content("#answer")
        assert (await page.locator("#submit").bounding_box())["height"] >= 44
        await page.get_by_label("無事", exact=True).check()  # answering again
        await page.click("#submit")
        await page.wait_for_selector("#answer-status:has-text('無事')")
        assert await page.evaluate("document.documentElement.scrollWidth <= 390")
        assert page.problems == []

    answer = await FamilyAnswer.get(alert_id=started.alert.id, member_id=hanako.id)
    assert answer.status is FamilyStatus.SAFE and answer.revision == 2 and answer.channel == "email"
