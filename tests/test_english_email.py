"""English by e-mail: an employee who chose English gets the alert e-mail in English (text and
HTML) and its answer page in English, and the answer is stored with the Japanese choices; a
Japanese employee's e-mail is unchanged. A real SMTP server in-process, the real app."""

from __future__ import annotations

import pytest

from domain.actors import Actor
from domain.alerts import start_alert
from models import Answer, Employee, Template
from tests.conftest import make_company
from tests.mail import (
    SmtpSink,
    answer_by_link,
    fast_mail,
    html_of,
    link_in,
    mail_bot,
    open_page,
    received,
    smtp_server,
    text_of,
)
from tests.test_english import add_english

SAFE = ["無事", "全員無事", "被害なし", "可能"]


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
    """E1 (English) and E2 (Japanese), both reached by e-mail only."""
    company = await make_company({"総務部": [("E1", "Alex Smith"), ("E2", "山田")]})
    await Employee.filter(code="E1").update(email="alex@example.com", language="en")
    await Employee.filter(code="E2").update(email="yamada@example.com", language="ja")
    await add_english()
    await Template.filter(key="earthquake").update(email_enabled=True)
    return company


async def test_an_english_employee_gets_the_email_and_its_answer_page_in_english(
    company, smtp, browser_session
):
    alert = (await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)).alert
    (mail,) = await received(smtp, "alex@example.com")
    assert mail["Subject"] == "[Drill] [Earthquake] Safety check"
    text, html = text_of(mail), html_of(mail)
    for shown in ["■ Started", "■ Message", "Kanto region", "• Valid until: "]:
        assert shown in text and shown in html
    assert "開始日時" not in text and ">Answer</a>" in html and '<html lang="en">' in html

    status, page = await open_page(browser_session, link_in(mail))
    assert status == 200 and "Not answered" in page and "Yourself" in page
    assert 'value="無事" id="item-0-0" required>Safe</label>' in page
    assert "This answer page is for Alex Smith only." in page
    status, page = await answer_by_link(browser_session, link_in(mail), SAFE)
    assert status == 200 and "Your answer was received." in page
    assert "<li>Yourself: Safe</li>" in page
    answer = await Answer.get(alert_id=alert.id, employee_id=company.employees["E1"].id)
    assert answer.choices == dict(zip(["本人", "家族", "家屋", "出社"], SAFE, strict=True))

    (japanese,) = await received(smtp, "yamada@example.com")
    assert japanese["Subject"] == "【訓練】【地震】安否確認"
    assert "■ 開始日時" in text_of(japanese) and "Started" not in text_of(japanese)
