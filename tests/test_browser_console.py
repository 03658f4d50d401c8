"""The console's alert page in a real browser (Debian's Chromium via Playwright): a supervisor
signs in, opens an alert, and sees the count move when an answer arrives through the LIFF API,
without reloading, with no errors in the browser console."""

from __future__ import annotations

import aiohttp
from playwright.async_api import expect

from domain.actors import Actor
from domain.alerts import start_alert
from models import Template
from tests.browser import database_url, needs_chromium, page  # noqa: F401 (fixtures)
from tests.conftest import (
    CONSOLE_PASSWORD,
    make_company,
    make_console_user,
    quick_link,
)

pytestmark = needs_chromium
HURT = {"本人": "重傷", "家族": "一部負傷", "家屋": "全壊", "出社": "不可能"}


async def test_a_supervisor_sees_the_count_move_when_an_answer_arrives(sim, bot, page):
    company = await make_company(
        {"総務部": [("E1", "山田 太郎"), ("E2", "佐藤 花子")], "営業部": [("E3", "鈴木 一郎")]}
    )
    user_id = await quick_link(sim, company.employees["E1"])
    alert = (await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)).alert
    await make_console_user("soumu", "supervisor", [company.departments["総務部"]])

    await page.goto(str(bot.make_url("/console/login")))
    await page.fill("input[name=login]", "soumu")
    await page.fill("input[name=password]", CONSOLE_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/console/alerts")
    await page.click(f"a[href='/console/alerts/{alert.id}']")
    await page.wait_for_selector("#live:not([hidden])")  # the event stream is open
    assert await page.text_content("#answered") == "0"
    assert await page.text_content("#total") == "2"  # 営業部 is outside the scope
    assert await page.locator("canvas.item-chart").count() == 4

    async with (
        aiohttp.ClientSession() as phone,
        phone.post(
            bot.make_url(f"/liff/api/alerts/{alert.id}/answer"),
            headers={"Authorization": f"Bearer {sim.issue_id_token(user_id)}"},
            json={"choices": HURT, "message": ""},
        ) as response,
    ):
        assert response.status == 200

    # A locator assertion, not wait_for_function: the console's CSP forbids eval.
    await expect(page.locator("#answered")).to_have_text("1")
    assert await page.text_content("#rate") == "50.0"
    assert await page.locator("#departments td.warn").count() > 0
    assert page.problems == []
