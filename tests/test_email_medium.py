"""The e-mail medium: an employee with an address gets the alert by e-mail (plain text and
HTML, Japanese, the drill marked 【訓練】) through a real SMTP server in-process, follows the
signed link to the answer form served as a plain page, and answers with channel e-mail. A
tampered, expired or other-alert link is refused."""

from __future__ import annotations

import asyncio
import re
import signal
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import aiohttp
import pytest

from bot.access_log import shown_path
from domain.actors import Actor
from domain.alerts import close_alert, find_departments, remind_unanswered, start_alert
from domain.answer_links import sign_link
from models import Alert, Answer, AnswerChannel, AnswerRevision, Employee, Template
from tests.conftest import make_company
from tests.mail import (
    SmtpSink,
    answer_by_link,
    csrf_of,
    fast_mail,
    html_of,
    link_in,
    mail_bot,
    open_page,
    received,
    smtp_server,
    text_of,
)
from tests.processes import demo_port, start_demo

SECRET_KEY = "test-secret-key"  # tests/conftest.py's bot_config
SAFE = ["無事", "全員無事", "被害なし", "可能"]
ADDRESS = "yamada@example.com"


@pytest.fixture
async def smtp():
    async with smtp_server() as server:
        yield server


@pytest.fixture
async def bot(sim, database_url, smtp: SmtpSink, monkeypatch):
    fast_mail(monkeypatch)
    async with mail_bot(sim, database_url, smtp) as server:
        yield server


@pytest.fixture
async def company(bot):
    """総務部: 山田 (e-mail only) and 佐藤 (no address, no LINE); 営業部: 鈴木 (e-mail only)."""
    company = await make_company(
        {"総務部": [("E1", "山田"), ("E2", "佐藤")], "営業部": [("E3", "鈴木")]}
    )
    await Employee.filter(code="E1").update(email=ADDRESS)
    await Employee.filter(code="E3").update(email="suzuki@example.com")
    await Template.filter(key="earthquake").update(email_enabled=True)
    return company


async def drill(sender: str = "総務部", departments: list[str] | None = None) -> Alert:
    template = await Template.get(key="earthquake")
    found = await find_departments(departments) if departments else None
    return (
        await start_alert(Actor.cli(), template, drill=True, sender_name=sender, departments=found)
    ).alert


async def test_an_employee_with_only_an_address_answers_the_drill_through_the_emailed_link(
    company, smtp, browser_session
):
    alert = await drill()
    (mail,) = await received(smtp, ADDRESS)
    assert mail["Subject"] == "【訓練】【地震】安否確認"
    assert mail.get_content_type() == "multipart/alternative"
    text, html = text_of(mail), html_of(mail)
    for shown in ["■ 開始日時", "■ タイトル", "【訓練】【地震】安否確認", "■ 連絡者", "【総務部】"]:
        assert shown in text and shown in html
    assert "■ 連絡メッセージ" in text and "震度6強の地震が発生しました" in text
    assert ">回答</a>" in html and link_in(mail) in html

    status, page = await answer_by_link(browser_session, link_in(mail), SAFE, "自宅にいます")
    assert status == 200
    assert "回答済" in page and "回答を受け付けました" in page and "自宅にいます" in page
    answer = await Answer.get(alert_id=alert.id, employee_id=company.employees["E1"].id)
    assert answer.channel is AnswerChannel.EMAIL
    assert answer.choices == dict(zip(["本人", "家族", "家屋", "出社"], SAFE, strict=True))
    assert answer.message == "自宅にいます"
    assert smtp.to("sato@example.com") == []  # 佐藤 has no address: nothing by e-mail


async def test_the_answer_page_shows_the_seed_fields_and_the_choices_as_radio_buttons(
    company, smtp, browser_session
):
    await drill()
    (mail,) = await received(smtp, ADDRESS)
    status, page = await open_page(browser_session, link_in(mail))
    assert status == 200
    for shown in ["■ 開始日時", "■ タイトル", "■ 確認状態", "未回答", "■ 連絡者", "【総務部】"]:
        assert shown in page
    assert "【訓練】【地震】安否確認" in page and "■ 連絡メッセージ" in page
    assert "■ 安否回答メッセージ" in page and 'id="submit">回答</button>' in page
    radios = re.findall(r'<input type="radio" name="(item-\d)" value="([^"]+)"', page)
    assert ("item-0", "無事") in radios and ("item-3", "未定") in radios and len(radios) == 12
    assert "山田 さん専用" in page


async def test_answering_again_through_the_link_changes_the_answer_and_keeps_the_first(
    company, smtp, browser_session
):
    alert = await drill()
    url = link_in((await received(smtp, ADDRESS))[0])
    await answer_by_link(browser_session, url, SAFE)
    status, page = await answer_by_link(
        browser_session, url, ["軽傷", "全員無事", "全壊", "不可能"]
    )
    assert status == 200 and "本人: 軽傷" in page and 'id="submit">回答</button>' in page
    answer = await Answer.get(alert_id=alert.id, employee_id=company.employees["E1"].id)
    assert answer.revision == 2 and answer.choices["家屋"] == "全壊"
    assert await AnswerRevision.filter(answer_id=answer.id).count() == 2


async def test_a_missing_required_choice_shows_the_form_again_with_what_is_missing(
    company, smtp, browser_session
):
    alert = await drill()
    url = link_in((await received(smtp, ADDRESS))[0])
    status, page = await answer_by_link(browser_session, url, ["無事", "", "被害なし", "可能"])
    assert status == 422 and "「家族」を選択してください。" in page
    assert 'value="無事" id="item-0-0" checked' in page  # what was ticked stays ticked
    assert not await Answer.filter(alert_id=alert.id).exists()


async def test_a_form_sent_without_its_csrf_token_is_refused(company, smtp, browser_session):
    alert = await drill()
    url = link_in((await received(smtp, ADDRESS))[0])
    await open_page(browser_session, url)
    async with browser_session.post(url, data={"item-0": "無事"}) as response:
        assert response.status == 403
    assert not await Answer.filter(alert_id=alert.id).exists()


async def test_the_form_answers_only_for_the_employee_and_alert_its_link_names(
    company, smtp, browser_session
):
    alert = await drill()
    other = await drill()
    url = link_in((await received(smtp, ADDRESS))[0])
    _status, page = await open_page(browser_session, url)
    form = {
        "csrf_token": csrf_of(page),
        **{f"item-{i}": c for i, c in enumerate(SAFE)},
        # Fields a browser could add: nothing reads them.
        "alert_id": str(other.id),
        "employee_id": str(company.employees["E3"].id),
        "employee_code": "E3",
    }
    async with browser_session.post(url, data=form) as response:
        assert response.status == 200
    answers = await Answer.all().values_list("alert_id", "employee_id")
    assert answers == [(alert.id, company.employees["E1"].id)]


def _forge(kind: str, alert_id: int, other_alert_id: int, employee_id: int, other_id: int) -> str:
    later = datetime.now(UTC) + timedelta(days=1)
    good = sign_link(SECRET_KEY, alert_id, employee_id, 0, later)
    payload, signature = good.split(".")
    if kind == "other_employee":  # someone else's payload under this link's signature
        return sign_link(SECRET_KEY, alert_id, other_id, 0, later).split(".")[0] + "." + signature
    if kind == "other_alert":  # another alert's payload under this link's signature
        other = sign_link(SECRET_KEY, other_alert_id, employee_id, 0, later)
        return other.split(".")[0] + "." + signature
    if kind == "signature":
        return f"{payload}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}"
    if kind == "other_key":
        return sign_link("another-secret", alert_id, employee_id, 0, later)
    if kind == "expired":
        return sign_link(SECRET_KEY, alert_id, employee_id, 0, datetime.now(UTC) - timedelta(1))
    return "not-a-link"


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("other_employee", "無効"),
        ("other_alert", "無効"),
        ("signature", "無効"),
        ("other_key", "無効"),
        ("expired", "有効期限が切れています"),
        ("garbage", "無効"),
    ],
)
async def test_a_tampered_expired_or_other_alert_link_is_refused(
    company, smtp, browser_session, kind, says
):
    alert = await drill()
    other = await drill()
    url = link_in((await received(smtp, ADDRESS))[0])
    _, good_page = await open_page(browser_session, url)  # the browser has its CSRF cookie
    e1, e3 = company.employees["E1"], company.employees["E3"]
    token = _forge(kind, alert.id, other.id, e1.id, e3.id)
    bad = url.rsplit("/", 1)[0] + "/" + token
    status, page = await open_page(browser_session, bad)
    assert status == 403 and says in page and 'id="submit"' not in page
    form = {"csrf_token": csrf_of(good_page), **{f"item-{i}": c for i, c in enumerate(SAFE)}}
    async with browser_session.post(bad, data=form) as response:
        assert response.status == 403
    assert not await Answer.exists()


async def test_a_retired_employee_cannot_answer_through_their_link(company, smtp, browser_session):
    alert = await drill()
    url = link_in((await received(smtp, ADDRESS))[0])
    _, page = await open_page(browser_session, url)  # the browser has its CSRF cookie
    await Employee.filter(code="E1").update(active=False)  # retired after the e-mail went out
    status, refused = await open_page(browser_session, url)
    assert status == 403 and "無効" in refused and 'id="submit"' not in refused
    form = {"csrf_token": csrf_of(page), **{f"item-{i}": c for i, c in enumerate(SAFE)}}
    async with browser_session.post(url, data=form) as response:
        assert response.status == 403
    assert not await Answer.filter(alert_id=alert.id).exists()


async def test_a_link_for_an_alert_the_employee_was_not_sent_is_refused(
    company, smtp, browser_session
):
    sales_only = await drill(departments=["営業部"])
    later = datetime.now(UTC) + timedelta(days=1)
    token = sign_link(SECRET_KEY, sales_only.id, company.employees["E1"].id, 0, later)
    await received(smtp, "suzuki@example.com")
    url = link_in(smtp.to("suzuki@example.com")[0]).rsplit("/", 1)[0] + "/" + token
    status, page = await open_page(browser_session, url)
    assert status == 404 and "見つかりません" in page


async def test_a_closed_alert_s_link_shows_the_answer_and_takes_no_more(
    company, smtp, browser_session
):
    alert = await drill()
    url = link_in((await received(smtp, ADDRESS))[0])
    await answer_by_link(browser_session, url, SAFE)
    _, page = await open_page(browser_session, url)
    await close_alert(Actor.cli(), alert.id)
    status, closed_page = await open_page(browser_session, url)
    assert status == 200 and "終了しています" in closed_page and "本人: 無事" in closed_page
    assert 'type="radio"' not in closed_page
    form = {"csrf_token": csrf_of(page), **{f"item-{i}": "軽傷" for i in range(1)}}
    async with browser_session.post(url, data=form) as response:
        assert response.status == 409 and "終了しています" in await response.text()
    answer = await Answer.get(alert_id=alert.id)
    assert answer.revision == 1 and answer.choices["本人"] == "無事"


async def test_a_reminder_e_mail_is_marked_and_carries_the_follow_up_message(
    company, smtp, browser_session
):
    alert = await drill()
    await received(smtp, ADDRESS)
    reminder = await remind_unanswered(
        Actor.cli(), alert.id, message="至急回答してください", sender_name="人事部"
    )
    assert (reminder.line_deliveries, reminder.email_recipients) == (0, 2)
    mail = (await received(smtp, ADDRESS, 2))[1]
    assert mail["Subject"] == "【再通知】【訓練】【地震】安否確認"
    text = text_of(mail)
    assert "【再通知】未回答の方へ(訓練)" in text and "■ 二次連絡\n至急回答してください" in text
    assert "【人事部】" in text
    status, _ = await answer_by_link(browser_session, link_in(mail), SAFE)
    assert status == 200
    assert (await Answer.get(alert_id=alert.id)).channel is AnswerChannel.EMAIL


async def test_the_answer_page_is_not_cached_and_its_path_is_kept_out_of_the_access_log(
    company, smtp, browser_session
):
    await drill()
    url = link_in((await received(smtp, ADDRESS))[0])
    async with browser_session.get(url) as response:
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Referrer-Policy"] == "no-referrer"
    path = urlsplit(url).path
    token = path.rsplit("/", 1)[1]
    assert token not in shown_path(path) and shown_path(path) == "/liff/answer/…"
    assert shown_path("/liff/") == "/liff/"


async def test_the_demo_prints_where_to_read_the_mail_and_an_e_mail_only_employee_answers(
    tmp_path,
):
    port = demo_port()
    process, printed = await start_demo(tmp_path, port)
    try:
        assert ".demo/mail/" in printed and "e-mail only" in printed
        url = re.search(r"https?://\S+/liff/answer/\S+", printed).group(0)
        mails = sorted((tmp_path / ".demo" / "mail").glob("*.txt"))
        assert any(url in path.read_text("utf-8") for path in mails)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            status, html = await answer_by_link(session, url, SAFE)
        assert status == 200 and "回答を受け付けました" in html
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            await asyncio.wait_for(process.wait(), 30)
    assert process.returncode == 0
