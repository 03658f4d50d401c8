"""Contrast on the main pages in a real browser: axe-core's color-contrast rule (the npm
package's axe.min.js, vendored under tests/vendor/axe-core with its licence) run by Playwright
on Debian's Chromium fails on any text or badge below 4.5:1 (3:1 for large text)."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.actors import Actor
from domain.alerts import start_alert
from domain.answers import submit_answer
from domain.linking import issue_registration_code
from models import AnswerChannel, Template
from tests import me_helpers
from tests.browser import CHROMIUM_ARGS, database_url, needs_chromium, open_page  # noqa: F401
from tests.conftest import CONSOLE_PASSWORD, make_company, make_console_user, quick_link
from tests.test_browser import open_answer_form

pytestmark = needs_chromium
bot = me_helpers.bot  # fixture: the app with LINE Login on (the employee page's LINE ID連携)
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
HURT = {"本人": "重傷", "家族": "一部負傷", "家屋": "全壊", "出社": "不可能"}


async def contrast_problems(page) -> list[str]:
    """Every element axe-core finds below the contrast it requires, with the ratio found."""
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("() => axe.run(document, {runOnly: ['color-contrast']})")
    return [
        f"{page.url} {node['target']}: {node['any'][0]['message']}"
        for violation in result["violations"]
        for node in violation["nodes"]
    ]


@pytest.fixture
async def company(bot):
    """総務部 with two employees; a drill sent to them."""
    company = await make_company({"総務部": [("E1", "山田 太郎"), ("E2", "佐藤 花子")]})
    template = await Template.get(key="earthquake")
    company.alert = (await start_alert(Actor.cli(), template, drill=True)).alert
    return company


async def test_the_liff_form_unanswered_and_answered(sim, bot, company, tmp_path):
    user_id = await quick_link(sim, company.employees["E1"])
    # The console's CSP allows no injected script: axe is added past it, in tests only.
    async with open_page(tmp_path / "liff.png", viewport=PHONE, bypass_csp=True) as page:
        await open_answer_form(page, sim, user_id, company.alert.id)
        problems = await contrast_problems(page)
        for label in ["重傷", "一部負傷", "全壊", "不可能"]:
            await page.get_by_label(label, exact=True).check()
        await page.click("#submit")
        await page.wait_for_selector("#saved:not([hidden])")
        problems += await contrast_problems(page)
    assert not problems, "\n".join(problems)


async def test_the_employee_pages(sim, bot, company, tmp_path):
    employee = company.employees["E1"]
    await quick_link(sim, employee, "たろう")
    await submit_answer(company.alert.id, employee, HURT, "足を痛めました", AnswerChannel.LIFF)
    issued = await issue_registration_code(employee)
    problems: list[str] = []
    async with open_page(tmp_path / "me.png", viewport=PHONE, bypass_csp=True) as page:
        await page.goto(str(bot.make_url("/me/login")))
        problems += await contrast_problems(page)
        await page.fill("#employee_code", "E1")
        await page.fill("#secret", issued.code)
        await page.click("button:has-text('ログイン')")
        await page.wait_for_url("**/me/password")
        problems += await contrast_problems(page)
        await page.fill("#password", me_helpers.PASSWORD)
        await page.fill("#confirm", me_helpers.PASSWORD)
        await page.click("button:has-text('設定する')")
        await page.wait_for_url("**/me/?done=password")
        problems += await contrast_problems(page)
        await page.goto(str(bot.make_url("/me/line?done=linked")))
        assert await page.text_content("#line-status") == "登録済"
        problems += await contrast_problems(page)
    assert not problems, "\n".join(problems)


async def test_the_link_page(sim, bot, line, company, tmp_path):
    user_id = await line.befriend("はなこ")
    url = await line.link_url(user_id)
    async with open_page(tmp_path / "link.png", viewport=PHONE, bypass_csp=True) as page:
        await page.goto(url)
        await page.wait_for_selector("input[name=registration_code]")
        problems = await contrast_problems(page)
    assert not problems, "\n".join(problems)


async def test_the_console_sign_in_alert_list_and_alert_page(sim, bot, company, tmp_path):
    await submit_answer(company.alert.id, company.employees["E1"], HURT, "", AnswerChannel.LIFF)
    await make_console_user("soumu", "supervisor", [company.departments["総務部"]])
    async with open_page(tmp_path / "console.png", bypass_csp=True) as page:
        await page.goto(str(bot.make_url("/console/login")))
        problems = await contrast_problems(page)
        await page.fill("input[name=login]", "soumu")
        await page.fill("input[name=password]", CONSOLE_PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/console/alerts")
        problems += await contrast_problems(page)
        await page.goto(str(bot.make_url(f"/console/alerts/{company.alert.id}")))
        await page.wait_for_selector("#live:not([hidden])")
        problems += await contrast_problems(page)
    assert not problems, "\n".join(problems)
