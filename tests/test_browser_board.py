"""The board (掲示板) in a real browser (Debian's Chromium via Playwright), phone-sized: an
employee opens it from LINE through the local LIFF host and replies; a supervisor watches the
thread on the console take the reply without reloading, then posts after the confirm step that
says how many billable pushes it sends. No errors in the browser console."""

from __future__ import annotations

from urllib.parse import urlencode

import aiohttp
import pytest
from playwright.async_api import expect

from bot.board_messages import board_url
from domain.actors import Actor
from domain.alerts import start_alert
from domain.board import post_to_board
from models import BoardPost, BoardReply, Template
from tests.browser import database_url, needs_chromium, open_page, page  # noqa: F401 (fixtures)
from tests.conftest import CONSOLE_PASSWORD, LIFF_ID, make_company, make_console_user, quick_link
from tests.test_browser_contrast import contrast_problems

pytestmark = [needs_chromium, pytest.mark.liff]  # liff: a 390 px wide phone
NOTICE = "本社ビルは本日立入禁止です。"


@pytest.fixture
async def arranged(sim, bot):
    company = await make_company({"総務部": [("E1", "山田 太郎")], "営業部": [("E2", "鈴木 一郎")]})
    users = {code: await quick_link(sim, company.employees[code]) for code in ("E1", "E2")}
    alert = (await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)).alert
    posted = await post_to_board(
        Actor.cli(), alert.id, NOTICE, author="総務部", replies_allowed=True
    )
    return company, users, alert, posted.post


async def test_an_employee_reads_the_board_in_liff_and_replies(sim, page, arranged):
    _company, users, alert, _post = arranged
    link = board_url(f"{sim.config.public_base_url}/liff/{LIFF_ID}", alert.id)
    await page.goto(
        f"{sim.config.public_base_url}/_sim/open?{urlencode({'user': users['E1'], 'url': link})}"
    )
    await page.wait_for_selector("#board:not([hidden])")
    assert await page.is_hidden("#alert")
    await expect(page.locator("#board-title")).to_have_text("【訓練】【地震】安否確認")
    await expect(page.locator("#board-posts > li").first).to_contain_text(NOTICE)

    button = page.locator(".reply-form button")
    box = await button.bounding_box()
    assert box is not None and box["height"] >= 44 and box["width"] <= 390
    await page.locator(".reply-form textarea").fill("了解しました。自宅待機します。")
    await button.click()
    await expect(page.locator("#board-done")).to_have_text("返信しました。")
    await expect(page.locator("#board-posts .mine")).to_contain_text("自宅待機します")
    assert await BoardReply.filter(body="了解しました。自宅待機します。").exists()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    assert page.problems == []


async def test_the_console_thread_takes_a_reply_live_and_posts_after_confirming(
    sim, bot, page, arranged
):
    company, users, alert, post = arranged
    await make_console_user("soumu", "supervisor", [company.departments["総務部"]])
    await page.goto(str(bot.make_url("/console/login")))
    await page.fill("input[name=login]", "soumu")
    await page.fill("input[name=password]", CONSOLE_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/console/alerts")
    await page.goto(str(bot.make_url(f"/console/alerts/{alert.id}")))
    await page.click("#board-link")
    await page.wait_for_selector("#board-live:not([hidden])")  # the event stream is open
    await expect(page.locator("#thread")).to_contain_text(NOTICE)

    async with aiohttp.ClientSession() as phone:
        for code, body in [("E1", "山田です。無事です"), ("E2", "鈴木です。無事です")]:
            async with phone.post(
                bot.make_url(f"/liff/api/board/posts/{post.id}/reply"),
                headers={"Authorization": f"Bearer {sim.issue_id_token(users[code])}"},
                json={"body": body},
            ) as response:
                assert response.status == 200
    await expect(page.locator("#thread")).to_contain_text("山田です。無事です")
    assert "鈴木です" not in await page.text_content("#thread")  # 営業部: outside the scope

    await page.fill("#board-body", "午後の出社は見合わせてください。")
    await page.check("#board-push")
    await page.click("#board-next")
    await expect(page.locator("#confirm-pushes")).to_have_text("1 通(課金対象)")
    await expect(page.locator("#confirm-readers")).to_have_text("1 名")
    await page.click("#board-confirm")
    await expect(page.locator("#board-posted")).to_be_visible()
    await expect(page.locator("#thread")).to_contain_text("午後の出社は見合わせてください。")
    assert await BoardPost.filter(pushed=True).count() == 1
    assert page.problems == []


async def test_the_board_pages_have_enough_contrast(sim, bot, arranged, tmp_path):
    company, users, alert, _post = arranged
    await make_console_user("soumu", "supervisor", [company.departments["総務部"]])
    link = board_url(f"{sim.config.public_base_url}/liff/{LIFF_ID}", alert.id)
    phone = {"width": 390, "height": 844}
    # The pages' CSP allows no injected script: axe is added past it, in tests only.
    async with open_page(tmp_path / "contrast.png", viewport=phone, bypass_csp=True) as page:
        await page.goto(
            f"{sim.config.public_base_url}/_sim/open?"
            + urlencode({"user": users["E1"], "url": link})
        )
        await page.wait_for_selector("#board:not([hidden])")
        problems = await contrast_problems(page)
        await page.goto(str(bot.make_url("/console/login")))
        await page.fill("input[name=login]", "soumu")
        await page.fill("input[name=password]", CONSOLE_PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/console/alerts")
        await page.goto(str(bot.make_url(f"/console/alerts/{alert.id}/board")))
        await page.wait_for_selector("#board-live:not([hidden])")
        problems += await contrast_problems(page)
        await page.fill("#board-body", "連絡")
        await page.click("#board-next")
        await page.wait_for_selector("#confirm-pushes")
        problems += await contrast_problems(page)
    assert not problems, "\n".join(problems)
