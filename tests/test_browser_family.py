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
