"""The answer form in English, in a real browser (Debian's Chromium through the local LIFF
host): an employee who chose English answers in English, and an employee who has not chosen
gets the phone's language (`liff.getLanguage()`), which becomes theirs."""

from __future__ import annotations

import pytest

from domain.actors import Actor
from domain.alerts import start_alert
from models import Answer, Employee, Template
from tests.browser import database_url, needs_chromium, page  # noqa: F401 (fixtures)
from tests.conftest import make_company, quick_link
from tests.test_browser import open_answer_form
from tests.test_english import add_english

pytestmark = [needs_chromium, pytest.mark.liff]


async def test_an_english_employee_answers_in_the_english_form(sim, bot, page):
    company = await make_company({"総務部": [("E1", "Alex Smith")]})
    await Employee.filter(code="E1").update(language="en")
    await add_english()
    user_id = await quick_link(sim, company.employees["E1"])
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    await open_answer_form(page, sim, user_id, started.alert.id)

    assert await page.evaluate("document.documentElement.lang") == "en"
    assert await page.text_content("#title") == "[Drill] [Earthquake] Safety check"
    assert await page.text_content("#status") == "Not answered"
    assert "Kanto region" in await page.text_content("#alert-message")
    assert await page.text_content("#submit") == "Answer"
    legends = await page.locator("#items legend").all_text_contents()
    assert legends == ["YourselfRequired", "FamilyRequired", "家屋Required", "WorkRequired"]

    for label in ["Safe", "All safe", "被害なし"]:
        await page.get_by_label(label, exact=True).check()
    await page.click("#submit")
    await page.wait_for_selector("#form-error:not([hidden])")
    assert 'Choose an answer for "Work".' in await page.text_content("#form-error")

    await page.get_by_label("Can come", exact=True).check()
    await page.click("#submit")
    await page.wait_for_selector("#done:not([hidden])")

    assert await page.text_content("#status") == "Answered"
    assert "Your answer was sent." in await page.text_content("#done")
    saved = await page.locator("#saved-choices li").all_text_contents()
    assert saved == ["Yourself: Safe", "Family: All safe", "家屋: 被害なし", "Work: Can come"]
    answer = await Answer.get(alert_id=started.alert.id)
    assert answer.choices == {
        "本人": "無事",
        "家族": "全員無事",
        "家屋": "被害なし",
        "出社": "可能",
    }
    assert not page.problems


@pytest.mark.browser_locale("en-US")
async def test_the_phones_language_opens_the_form_and_becomes_the_employees(sim, bot, page):
    company = await make_company({"総務部": [("E1", "Alex Smith")]})
    await add_english()
    user_id = await quick_link(sim, company.employees["E1"])
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    assert (await Employee.get(code="E1")).language == ""

    await open_answer_form(page, sim, user_id, started.alert.id)

    assert await page.text_content("#title") == "[Drill] [Earthquake] Safety check"
    assert await page.text_content("h1") == "Safety confirmation - are you safe? -"
    assert (await Employee.get(code="E1")).language == "en"


async def test_a_japanese_phone_keeps_the_japanese_form(sim, bot, page):
    company = await make_company({"総務部": [("E1", "山田 太郎")]})
    await add_english()
    user_id = await quick_link(sim, company.employees["E1"])
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)

    await open_answer_form(page, sim, user_id, started.alert.id)

    assert await page.text_content("#title") == "【訓練】【地震】安否確認"
    assert await page.text_content("#submit") == "回答"
    assert await page.evaluate("document.documentElement.lang") == "ja"
    assert (await Employee.get(code="E1")).language == "ja"
