"""The answer form in a real browser: Debian's Chromium, driven by Playwright, opened through
the local LIFF host as a linked employee, so the page's JavaScript is proven too."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from bot.messages import alert_url
from domain.actors import Actor
from domain.alerts import close_alert, start_alert
from domain.answers import submit_answer
from domain.templates import TemplateDraft, create_template
from models import Answer, AnswerChannel, Template
from tests.browser import database_url, needs_chromium, page  # noqa: F401 (fixtures)
from tests.conftest import LIFF_ID, make_company, quick_link
from web.timefmt import jst

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


async def test_the_form_puts_the_message_first_and_choices_are_full_width_tap_targets(
    sim, bot, page
):
    company = await make_company({"総務部": [("E1", "山田 太郎")]})
    user_id = await quick_link(sim, company.employees["E1"])
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    await open_answer_form(page, sim, user_id, started.alert.id)

    message = await page.locator("#alert-message").bounding_box()
    first_item = await page.locator("#items fieldset").first.bounding_box()
    assert message["y"] + message["height"] <= first_item["y"]
    form = await page.locator("#answer-form").bounding_box()
    choices = page.locator("#items label.choice")
    assert await choices.count() == 12
    for box in [await choices.nth(i).bounding_box() for i in range(await choices.count())]:
        assert box["height"] >= 44 and box["width"] >= form["width"] * 0.9
    # Tapping anywhere on the row picks the choice, not only the small radio.
    await page.get_by_text("全員無事", exact=True).click(position={"x": 300, "y": 20})
    assert await page.get_by_label("全員無事", exact=True).is_checked()
    assert not page.problems


async def test_after_sending_the_saved_answer_shows_with_its_time_and_closes(sim, bot, page):
    company = await make_company({"総務部": [("E1", "山田 太郎")]})
    user_id = await quick_link(sim, company.employees["E1"])
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    await open_answer_form(page, sim, user_id, started.alert.id)

    for label in ["軽傷", "全員無事", "被害なし", "不可能"]:
        await page.get_by_label(label, exact=True).check()
    await page.fill("#message", "足を痛めました。")
    await page.click("#submit")
    await page.wait_for_selector("#saved:not([hidden])")

    answer = await Answer.get(alert_id=started.alert.id)
    assert await page.text_content("#answered_at") == f"({jst(answer.answered_at)})"
    assert await page.locator("#saved-choices li").all_text_contents() == [
        "本人: 軽傷",
        "家族: 全員無事",
        "家屋: 被害なし",
        "出社: 不可能",
    ]
    assert await page.text_content("#saved-message") == "足を痛めました。"
    assert await page.locator("#answer-form").is_hidden()
    # 回答を修正する brings the form back, filled in.
    await page.click("#edit")
    assert await page.get_by_label("軽傷", exact=True).is_checked()
    await page.click("#close")
    await page.wait_for_selector("text=このページを閉じて、LINEのトークに戻ってください。")
    assert not page.problems


async def test_a_closed_alert_shows_what_you_answered(sim, bot, page):
    company = await make_company({"総務部": [("E1", "山田 太郎")]})
    employee = company.employees["E1"]
    user_id = await quick_link(sim, employee)
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    safe = {"本人": "無事", "家族": "全員無事", "家屋": "一部倒壊", "出社": "可能"}
    await submit_answer(started.alert.id, employee, safe, "", AnswerChannel.LIFF)
    await close_alert(Actor.cli(), started.alert.id)
    await open_answer_form(page, sim, user_id, started.alert.id)

    assert await page.locator("#closed").is_visible()
    assert await page.locator("#answer-form").is_hidden()
    assert await page.locator("#edit").is_hidden()
    assert "家屋: 一部倒壊" in await page.locator("#saved-choices li").all_text_contents()
    assert await page.locator("#close").is_visible()


async def test_a_notice_without_items_is_confirmed_with_one_tap(sim, bot, page):
    company = await make_company({"総務部": [("E1", "山田 太郎")]})
    user_id = await quick_link(sim, company.employees["E1"])
    draft = TemplateDraft(
        key="notice", title="【緊急連絡】停電", message="在宅勤務としてください。"
    )
    template = await create_template(draft, Actor.cli())
    started = await start_alert(Actor.cli(), template, drill=False)
    await open_answer_form(page, sim, user_id, started.alert.id)

    assert await page.locator("#questions").is_hidden()
    assert await page.text_content("#submit") == "確認しました"
    await page.click("#submit")
    await page.wait_for_selector("#saved:not([hidden])")

    assert await page.text_content("#status") == "回答済"
    assert await page.locator("#saved-choices li").all_text_contents() == ["確認しました"]
    answer = await Answer.get(alert_id=started.alert.id)
    assert answer.choices == {}
    assert not page.problems
