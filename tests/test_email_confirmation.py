"""E-mail addresses an employee adds on their own page: a confirmation link goes to the address
(a real SMTP server in-process), and no alert, reminder or fallback e-mail goes there until
the link is opened; the record's address needs none. The page shows 未確認 and can resend."""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage

import aiohttp
import pytest

from domain.actors import Actor
from domain.alerts import remind_unanswered, start_alert
from models import Alert, AuditEntry, Delivery, EmployeeEmail, Medium, Template
from tests.conftest import make_company
from tests.mail import SmtpSink, fast_mail, mail_bot, received, smtp_server, text_of
from tests.me_helpers import EmployeePhone, csrf_of

RECORD = "yamada@example.com"
HOME = "taro@home.example"
CONFIRM_LINK = re.compile(r"https?://\S+/me/email/confirm\?token=\S+")


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
    """総務部: 山田 (the record's address, no LINE); the earthquake template e-mails."""
    company = await make_company({"総務部": [("E1", "山田")]})
    company.employees["E1"].email = RECORD
    await company.employees["E1"].save()
    await Template.filter(key="earthquake").update(email_enabled=True)
    return company


@pytest.fixture
async def phone(bot, sim, company):
    """山田's phone, signed in to the page."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        phone = EmployeePhone(bot, sim, session)
        await phone.first_sign_in(company.employees["E1"])
        yield phone


def confirm_link(mail: EmailMessage) -> str:
    """The confirmation link in the plain-text part."""
    found = CONFIRM_LINK.search(text_of(mail))
    assert found, text_of(mail)
    return found.group(0)


async def open_link(url: str) -> tuple[int, str]:
    """Open a confirmation link in a browser that never signed in, and press 確認する."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.get(url) as page:
            html = await page.text()
            if page.status != 200:
                return page.status, html
        token = re.search(r'name="token" value="([^"]+)"', html).group(1)
        form = {"csrf_token": csrf_of(html), "token": token}
        async with browser.post(url.split("?")[0], data=form) as done:
            return done.status, await done.text()


async def drill() -> Alert:
    template = await Template.get(key="earthquake")
    return (await start_alert(Actor.cli(), template, drill=True)).alert


async def test_an_added_address_gets_no_alert_or_reminder_until_its_emailed_link_is_opened(
    phone, smtp
):
    response = await phone.post("/me/email/add", {"address": HOME})
    assert response.status == 303 and "email_sent" in response.headers["Location"]
    (mail,) = await received(smtp, HOME)
    assert mail["Subject"] == "【安否確認】メールアドレスの確認"
    assert "山田さん" in text_of(mail) and "有効期限は3日" in text_of(mail)
    status, html = await phone.get("/me/")
    assert "未確認" in html and "確認メールを再送" in html

    alert = await drill()
    await received(smtp, RECORD)  # the record's address needs no confirmation
    await remind_unanswered(Actor.cli(), alert.id)
    await received(smtp, RECORD, 2)
    assert len(smtp.to(HOME)) == 1  # the confirmation only
    assert not await Delivery.filter(medium=Medium.EMAIL, address=HOME).exists()

    link = confirm_link(mail)
    async with aiohttp.ClientSession() as scanner, scanner.get(link) as page:
        assert page.status == 200 and HOME in await page.text()  # a mail scanner follows it
    assert (await EmployeeEmail.get(address=HOME)).confirmed_at is None
    status, html = await open_link(link)
    assert status == 200 and "確認しました" in html
    assert (await EmployeeEmail.get(address=HOME)).confirmed_at is not None
    assert await AuditEntry.exists(action="email_confirm", actor="E1")
    status, html = await phone.get("/me/")
    assert "未確認" not in html

    await drill()
    (alerted,) = (await received(smtp, HOME, 2))[1:]
    assert "安否確認" in alerted["Subject"]


async def test_the_page_resends_the_link_a_limited_number_of_times(phone, smtp):
    await phone.post("/me/email/add", {"address": HOME})
    added = await EmployeeEmail.get(address=HOME)
    for sent in range(2, 6):
        response = await phone.post("/me/email/resend", {"email_id": str(added.id)})
        assert response.status == 303 and "email_sent" in response.headers["Location"]
        await received(smtp, HOME, sent)

    response = await phone.post("/me/email/resend", {"email_id": str(added.id)})

    assert response.status == 429 and "試行の回数が上限" in await response.text()
    assert len(smtp.to(HOME)) == 5
    status, _ = await open_link(confirm_link(smtp.to(HOME)[0]))  # an earlier link still works
    assert status == 200
    assert (await EmployeeEmail.get(id=added.id)).confirmed_at is not None


async def test_a_confirmed_or_the_records_address_is_not_sent_a_link_again(phone, smtp):
    await phone.post("/me/email/add", {"address": HOME})
    await open_link(confirm_link((await received(smtp, HOME))[0]))
    added = await EmployeeEmail.get(address=HOME)

    assert (await phone.post("/me/email/resend", {"email_id": str(added.id)})).status == 404
    assert (await phone.post("/me/email/resend", {"email_id": "record"})).status == 422
    assert len(smtp.to(HOME)) == 1 and smtp.to(RECORD) == []


@pytest.mark.parametrize("change", ["tampered", "removed", "re-added"])
async def test_a_bad_link_confirms_nothing(phone, smtp, change):
    await phone.post("/me/email/add", {"address": HOME})
    link = confirm_link((await received(smtp, HOME))[0])
    added = await EmployeeEmail.get(address=HOME)
    if change == "tampered":
        link = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    else:
        await phone.post("/me/email/remove", {"email_id": str(added.id)})
    if change == "re-added":  # another address later stored under the same number
        await EmployeeEmail.create(
            id=added.id, employee_id=added.employee_id, address="other@home.example"
        )

    status, html = await open_link(link)

    assert status in (403, 404) and "確認しました" not in html
    assert not await EmployeeEmail.filter(confirmed_at__isnull=False).exists()


async def test_an_expired_link_says_so_and_confirms_nothing(phone, smtp, monkeypatch):
    monkeypatch.setattr("domain.email_confirmation.LINK_LIFETIME", timedelta(seconds=-1))
    await phone.post("/me/email/add", {"address": HOME})

    status, html = await open_link(confirm_link((await received(smtp, HOME))[0]))

    assert status == 403 and "有効期限が切れています" in html
    assert (await EmployeeEmail.get(address=HOME)).confirmed_at is None
