"""A plain notice (緊急連絡): a template without check items, confirmed with one tap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.actors import Actor
from domain.alerts import start_alert
from domain.answer_links import sign_link
from domain.answers import alert_for, submit_answer
from domain.errors import Invalid
from domain.tally import tally
from domain.templates import TemplateDraft, create_template
from models import Answer, AnswerChannel, Template
from tests.conftest import make_company, make_console_user, quick_link
from tests.mail import answer_by_link
from tests.test_chat_menu import tap
from tests.test_reminders import flex_text

SECRET_KEY = "test-secret-key"  # tests/conftest.py's bot_config

NOTICE = TemplateDraft(
    key="notice", title="【緊急連絡】停電", message="本日は在宅勤務としてください。", items_text=""
)


@pytest.fixture
async def notice(db):
    """A notice without check items sent to three employees."""
    company = await make_company({"総務部": [("E1", "山田"), ("E2", "佐藤"), ("E3", "鈴木")]})
    template = await create_template(NOTICE, Actor.cli())
    started = await start_alert(Actor.cli(), template, drill=False)
    return started.alert.id, company


async def test_a_template_may_have_no_check_items(notice):
    alert_id, company = notice
    view = await alert_for(alert_id, company.employees["E1"])
    assert view.items == ()
    assert view.confirm_only
    assert view.submit_label == "確認しました"


async def test_confirming_a_notice_counts_as_answered(notice):
    alert_id, company = notice
    await submit_answer(alert_id, company.employees["E1"], {}, "", AnswerChannel.LIFF)
    await submit_answer(alert_id, company.employees["E2"], {}, None, AnswerChannel.EMAIL)
    result = await tally(alert_id)
    assert (result.total, result.answered, result.unanswered) == (3, 2, 1)
    assert result.choice_counts == {}
    view = await alert_for(alert_id, company.employees["E1"])
    assert view.answer is not None and view.answer.choices == {}


async def test_a_notice_takes_no_choices(notice):
    alert_id, company = notice
    with pytest.raises(Invalid):
        await submit_answer(
            alert_id, company.employees["E1"], {"本人": "無事"}, "", AnswerChannel.LIFF
        )


async def test_a_template_with_items_keeps_the_answer_button(db):
    company = await make_company({"総務部": [("E1", "山田")]})
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    view = await alert_for(started.alert.id, company.employees["E1"])
    assert not view.confirm_only
    assert view.submit_label == "回答"


async def test_the_console_template_editor_saves_a_notice_without_items(console, bot):
    await make_console_user("boss", "maintainer")
    await console.sign_in("boss")
    form = {"key": "notice", "title": "【緊急連絡】停電", "message": "在宅勤務", "items": ""}
    response = await console.post("/console/templates/new", {**form, "line_enabled": "on"})
    assert response.status == 303
    assert (await Template.get(key="notice")).items == []
    _, listing = await console.get("/console/templates")
    assert "【緊急連絡】停電" in listing and "なし(「確認しました」で回答)" in listing


async def test_a_notice_is_confirmed_with_one_tap_on_the_e_mail_answer_page(bot, browser_session):
    company = await make_company({"総務部": [("E1", "山田")]})
    template = await create_template(NOTICE, Actor.cli())
    alert = (await start_alert(Actor.cli(), template, drill=False)).alert
    later = datetime.now(UTC) + timedelta(days=1)
    token = sign_link(SECRET_KEY, alert.id, company.employees["E1"].id, 0, later)
    url = str(bot.make_url(f"/liff/answer/{token}"))

    status, page = await answer_by_link(browser_session, url, [])

    assert status == 200 and "確認を受け付けました。" in page
    assert "■ 確認項目" not in page and 'id="submit">確認しました</button>' in page
    answer = await Answer.get(alert_id=alert.id)
    assert answer.choices == {} and answer.channel is AnswerChannel.EMAIL
    assert (await tally(alert.id)).answered == 1


async def test_my_answer_in_chat_shows_a_confirmed_notice_without_a_button(sim, bot):
    company = await make_company({"総務部": [("E1", "山田")]})
    user_id = await quick_link(sim, company.employees["E1"])
    template = await create_template(NOTICE, Actor.cli())
    alert = (await start_alert(Actor.cli(), template, drill=False)).alert
    await submit_answer(alert.id, company.employees["E1"], {}, "", AnswerChannel.LIFF)

    (reply,) = await tap(sim, user_id, "text", "自分の回答")

    body = flex_text(reply)
    assert "【緊急連絡】停電" in body and "確認しました" in body and "回答日時" in body
    assert "footer" not in reply["contents"]  # nothing to change in a confirmation
