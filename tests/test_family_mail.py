"""Family e-mail through the real app, a real SMTP server in-process and both databases: the
address an employee gives for a family member gets a confirmation link first (the employee
page's confirmation pages, a purpose of its own); once confirmed, an alert with family and
e-mail on e-mails it the family question with a signed link to a small page (無事 / 負傷 /
不明 + message, re-answer allowed, CSRF-checked); the family e-mail is not the employee's in
the unanswered list or 届かなかった連絡."""

from __future__ import annotations

import re
from email.message import EmailMessage

import aiohttp
import pytest

from domain.actors import Actor
from domain.alerts import close_alert, start_alert
from domain.delivery_report import delivery_problems
from domain.email_plan import plan_emails
from domain.scope import Scope
from domain.tally import unanswered
from models import (
    AuditEntry,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    EmployeeEmail,
    FamilyAnswer,
    FamilyAnswerRevision,
    FamilyMember,
    FamilyStatus,
    Medium,
    Template,
)
from tests.conftest import make_company, until
from tests.mail import SmtpSink, csrf_of, fast_mail, mail_bot, received, smtp_server, text_of
from tests.me_helpers import EmployeePhone

HANAKO = "hanako@home.example"
CONFIRM_LINK = re.compile(r"https?://\S+/me/email/confirm\?token=\S+")
FAMILY_LINK = re.compile(r"https?://\S+/liff/family/[^\s<>\"]+")


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
    """総務部: 山田 (no LINE, no e-mail of his own); the earthquake template asks family and
    e-mails."""
    company = await make_company({"総務部": [("E1", "山田")]})
    await Template.filter(key="earthquake").update(email_enabled=True, family=True)
    return company


@pytest.fixture
async def phone(bot, sim, company):
    """山田's phone, signed in to the page."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        phone = EmployeePhone(bot, sim, session)
        await phone.first_sign_in(company.employees["E1"])
        yield phone


def link_in(pattern: re.Pattern[str], mail: EmailMessage) -> str:
    found = pattern.search(text_of(mail))
    assert found, text_of(mail)
    return found.group(0)


async def confirm(url: str) -> tuple[int, str]:
    """Open a confirmation link in a fresh browser and press 確認する."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.get(url) as page:
            html = await page.text()
            assert page.status == 200, html
        token = re.search(r'name="token" value="([^"]+)"', html).group(1)
        form = {"csrf_token": csrf_of(html), "token": token}
        async with browser.post(url.split("?")[0], data=form) as done:
            return done.status, await done.text()


async def drill() -> int:
    template = await Template.get(key="earthquake")
    return (await start_alert(Actor.cli(), template, drill=True)).alert.id


async def add_hanako(phone: EmployeePhone, smtp: SmtpSink) -> tuple[FamilyMember, str]:
    """On /me/: add 配偶者 花子 with her address; return her and the confirmation link."""
    response = await phone.post(
        "/me/family/add", {"name": "山田 花子", "relation": "配偶者", "email": HANAKO}
    )
    assert response.status == 303 and "email_sent" in response.headers["Location"]
    (mail,) = await received(smtp, HANAKO)
    assert "メールアドレスの確認" in mail["Subject"] and "山田 花子様" in text_of(mail)
    return await FamilyMember.get(email=HANAKO), link_in(CONFIRM_LINK, mail)


async def test_a_family_address_is_confirmed_then_gets_the_family_question_and_answers(phone, smtp):
    member, link = await add_hanako(phone, smtp)
    _, html = await phone.get("/me/")
    assert "未確認" in html and f'id="family-resend-{member.id}"' in html

    first = await drill()  # unconfirmed: the family address gets nothing
    await plan_emails()
    assert not await Delivery.filter(address=HANAKO).exists()
    await close_alert(Actor.cli(), first)

    status, html = await confirm(link)
    assert status == 200 and "ご家族向けの質問が届きます" in html and "社員ページへ" not in html
    assert (await FamilyMember.get(id=member.id)).email_confirmed_at is not None
    assert await AuditEntry.exists(action="family_email_confirm", target=f"family:{member.id}")
    _, html = await phone.get("/me/")
    assert "未確認" not in html

    alert_id = await drill()
    (question,) = (await received(smtp, HANAKO, 2))[1:]
    assert question["Subject"].startswith("【ご家族の安否確認】【訓練】")
    row = await until(lambda: Delivery.get_or_none(address=HANAKO, status=DeliveryStatus.SENT))
    assert row.kind is DeliveryKind.FAMILY and row.medium is Medium.EMAIL
    url = link_in(FAMILY_LINK, question)

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.get(url) as page:
            html = await page.text()
            assert page.status == 200 and page.headers["Cache-Control"] == "no-store"
        assert "山田 花子さんの状況" in html and "未回答" in html
        for label in ("無事", "負傷", "不明"):
            assert f">{label}</label>" in html
        # No CSRF token: refused, nothing stored.
        async with browser.post(url, data={"status": "safe"}, allow_redirects=False) as forged:
            assert forged.status == 403
        assert not await FamilyAnswer.exists()

        form = {"csrf_token": csrf_of(html), "status": "injured", "message": "腕を打撲"}
        async with browser.post(url, data=form) as done:
            html = await done.text()
            assert done.status == 200 and 'id="done"' in html
        assert "<strong>負傷</strong>" in html and "腕を打撲" in html
        answer = await FamilyAnswer.get(alert_id=alert_id, member_id=member.id)
        assert answer.status is FamilyStatus.INJURED and answer.channel == "email"
        assert not answer.by_employee

        form = {"csrf_token": csrf_of(html), "status": "safe", "message": ""}
        async with browser.post(url, data=form) as again:  # re-answer
            assert again.status == 200
        answer = await FamilyAnswer.get(alert_id=alert_id, member_id=member.id)
        assert answer.status is FamilyStatus.SAFE and answer.revision == 2
        assert await FamilyAnswerRevision.filter(answer_id=answer.id).count() == 2

        async with browser.get(url[:-3] + "AAA") as tampered:
            assert tampered.status == 403 and "無効" in await tampered.text()

    # The family e-mail is not 山田's: he has no address of his own, and nothing failed.
    (row,) = [u for u in await unanswered(alert_id, Scope.everything()) if u.code == "E1"]
    assert row.email == "なし" and row.email_unreachable  # not 花子's 送信済
    report = await delivery_problems(alert_id, Scope.everything())
    assert report.count(Medium.EMAIL, DeliveryStatus.SENT) == 0

    await close_alert(Actor.cli(), alert_id)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.get(url) as page:
            html = await page.text()
        assert 'id="closed"' in html and 'id="family-form"' not in html


async def test_a_changed_family_address_needs_confirming_again_and_old_links_stop(phone, smtp):
    member, link = await add_hanako(phone, smtp)
    await confirm(link)
    alert_id = await drill()
    (question,) = (await received(smtp, HANAKO, 2))[1:]
    url = link_in(FAMILY_LINK, question)

    response = await phone.post(
        "/me/family/edit",
        {
            "member_id": str(member.id),
            "name": "山田 花子",
            "relation": "配偶者",
            "email": "hanako@new.example",
        },
    )
    assert response.status == 303 and "email_sent" in response.headers["Location"]
    assert (await FamilyMember.get(id=member.id)).email_confirmed_at is None
    await received(smtp, "hanako@new.example")
    async with aiohttp.ClientSession() as browser, browser.get(url) as page:
        assert page.status == 404  # the link named the old address
    assert not await FamilyAnswer.filter(alert_id=alert_id).exists()
    async with aiohttp.ClientSession() as browser, browser.get(link) as page:
        assert page.status == 404  # the old address's confirmation link confirms nothing


async def test_a_family_confirmation_link_never_confirms_an_employee_address(phone, smtp):
    """Each kind of link is signed under its own purpose: a family member's token with the
    number of an employee's own address confirms nothing there."""
    await phone.post("/me/email/add", {"address": "taro@home.example"})
    member, link = await add_hanako(phone, smtp)
    await confirm(link)
    assert (await EmployeeEmail.get(address="taro@home.example")).confirmed_at is None
    assert (await FamilyMember.get(id=member.id)).email_confirmed_at is not None
