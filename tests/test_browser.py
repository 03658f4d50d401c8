"""The answer form in a real browser: Debian's Chromium, driven by Playwright, opened through
the local LIFF host as a linked employee, so the page's JavaScript is proven too."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from bot.messages import alert_url
from domain.alerts import start_alert
from domain.audit import Actor
from models import Answer, Template
from tests.browser import database_url, needs_chromium, page  # noqa: F401 (fixtures)
from tests.conftest import LIFF_ID, make_company, quick_link

pytestmark = [needs_chromium, pytest.mark.liff]
# The flags a sandboxed, offline machine needs (no background calls to Google's hosts).


async def open_answer_form(page, sim, user_id: str, alert_id: int) -> None:
    """Tap 回答 as this LINE user: LIFF host → endpoint with liff.state → form."""
    liff_link = alert_url(f"{sim.config.public_base_url}/liff/{LIFF_ID}", alert_id)
    await page.goto(
        f"{sim.config.public_base_url}/_sim/open?{urlencode({'user': user_id, 'url': liff_link})}"
    )
    await page.wait_for_selector("#alert:not([hidden])")


async def test_employee_answers_the_drill_in_the_browser_and_sees_answered(sim, bot, page):
    company = await make_company({"総務部": [("E1", "山田 太郎")]})
    user_id = await quick_link(sim, company.employees["E1"], "たろう")
    started = await start_alert(
        Actor.cli(), await Template.get(key="earthquake"), drill=True, sender_name="総務部 防災担当"
    )
    await open_answer_form(page, sim, user_id, started.alert.id)

    assert await page.text_content("#title") == "【訓練】【地震】安否確認"
    assert await page.text_content("#status") == "未回答"
    assert await page.text_content("#sender") == "【総務部 防災担当】"
    assert "震度6強" in await page.text_content("#alert-message")
    assert "alert=" in page.url and "sim_id_token" not in page.url

    for label in ["無事", "全員無事", "一部倒壊", "可能"]:
        await page.get_by_label(label, exact=True).check()
    await page.fill("#message", "一時間後に家を出ます。")
    await page.click("#submit")
    await page.wait_for_selector("#done:not([hidden])")

    assert await page.text_content("#status") == "回答済"
    answer = await Answer.get(alert_id=started.alert.id)
    assert answer.choices == {
        "本人": "無事",
        "家族": "全員無事",
        "家屋": "一部倒壊",
        "出社": "可能",
    }
    assert answer.message == "一時間後に家を出ます。"

    # Opening the form again shows the stored answer.
    await page.reload()
    await page.wait_for_selector("#alert:not([hidden])")
    assert await page.text_content("#status") == "回答済"
    assert await page.get_by_label("一部倒壊", exact=True).is_checked()


async def test_submitting_without_a_required_item_says_which_one(sim, bot, page):
    company = await make_company({"総務部": [("E1", "山田 太郎")]})
    user_id = await quick_link(sim, company.employees["E1"])
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    await open_answer_form(page, sim, user_id, started.alert.id)

    for label in ["無事", "全員無事", "可能"]:
        await page.get_by_label(label, exact=True).check()
    await page.click("#submit")
    await page.wait_for_selector("#form-error:not([hidden])")

    assert "「家屋」を選択してください。" in await page.text_content("#form-error")
    assert await page.text_content("#status") == "未回答"
    assert not await Answer.exists(alert_id=started.alert.id)
