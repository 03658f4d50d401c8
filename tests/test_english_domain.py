"""Texts made in domain/ (refusals, validation, the confirmation e-mail, the pause after too
many attempts) reach each person in their language: an English employee reads English on
LIFF, the employee page and the e-mail, an unknown person on the link page reads their
phone's language, an English console user reads English errors; a Japanese employee still
reads Japanese. Through the real app (a real SMTP server in-process), the local LINE
platform and both databases."""

from __future__ import annotations

import io
import re
from html import unescape

import aiohttp
import pytest

from domain.actors import Actor
from domain.alerts import close_alert, start_alert
from domain.linking import issue_registration_code
from models import ConsoleUser, EmployeeEmail, Template
from tests.conftest import LineActions, make_company, make_console_user, quick_link
from tests.mail import SmtpSink, fast_mail, html_of, mail_bot, received, smtp_server, text_of
from tests.me_helpers import EmployeePhone


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
    """総務部: E1 Alex Smith chose English, E2 山田 太郎 Japanese."""
    company = await make_company({"総務部": [("E1", "Alex Smith"), ("E2", "山田 太郎")]})
    company.employees["E1"].language = "en"
    company.employees["E2"].language = "ja"
    for employee in company.employees.values():
        await employee.save()
    return company


def text_of_page(html: str) -> str:
    """What a person reads on the page: the tags dropped, entities decoded."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def lang_of(html: str) -> str:
    return re.search(r'<html lang="([^"]+)"', html).group(1)


# LIFF: an answer to a closed alert


@pytest.mark.parametrize(
    ("code", "refusal"),
    [
        ("E1", "This safety check is closed, so no answers can be entered."),
        ("E2", "この安否確認は終了しているため回答できません。"),
    ],
)
async def test_an_answer_to_a_closed_alert_is_refused_in_the_employees_language(
    sim, bot, company, browser_session, code, refusal
):
    user_id = await quick_link(sim, company.employees[code])
    template = await Template.get(key="earthquake")
    alert = (await start_alert(Actor.cli(), template, drill=True)).alert
    await close_alert(Actor.cli(), alert.id)

    async with browser_session.post(
        bot.make_url(f"/liff/api/alerts/{alert.id}/answer"),
        # The phone speaks the other language: the employee's own choice wins.
        headers={
            "Authorization": f"Bearer {sim.issue_id_token(user_id)}",
            "X-Liff-Language": "ja" if code == "E1" else "en",
        },
        json={"choices": {"本人": "無事"}, "message": ""},
    ) as response:
        body = await response.json()

    assert response.status == 409 and body["error"] == "alert_closed"
    assert body["message"] == refusal


@pytest.mark.parametrize(
    ("phone", "refusal"),
    [
        ("en-US", "This LINE account is not linked to an employee."),
        ("ja-JP", "このLINEアカウントは社員情報と連携されていません。"),
    ],
)
async def test_an_unlinked_user_is_told_to_link_in_the_phones_language(
    sim, bot, company, browser_session, phone, refusal
):
    # Nobody is known: LIFF's reported language is all there is (the check runs in SQLite's
    # own thread, which must carry the request's language).
    stranger = sim.add_user("Stranger").user_id
    template = await Template.get(key="earthquake")
    alert = (await start_alert(Actor.cli(), template, drill=True)).alert

    async with browser_session.get(
        bot.make_url(f"/liff/api/alerts/{alert.id}"),
        headers={
            "Authorization": f"Bearer {sim.issue_id_token(stranger)}",
            "X-Liff-Language": phone,
        },
    ) as response:
        body = await response.json()

    assert response.status == 403 and body["error"] == "not_linked"
    assert body["message"].startswith(refusal)


async def test_the_family_api_speaks_the_employees_language(sim, bot, company, browser_session):
    user_id = await quick_link(sim, company.employees["E1"])
    template = await Template.get(key="earthquake")
    alert = (await start_alert(Actor.cli(), template, drill=True)).alert

    async with browser_session.get(
        bot.make_url(f"/liff/api/alerts/{alert.id}/family"),
        headers={"Authorization": f"Bearer {sim.issue_id_token(user_id)}"},
    ) as response:
        body = await response.json()

    assert response.status == 200
    labels = [s["label"] for s in body["statuses"]]
    assert labels and not any(re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", x) for x in labels)


# The employee page: validation, the confirmation e-mail, the pause


@pytest.fixture
async def browser(bot, sim):
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield EmployeePhone(bot, sim, session)


@pytest.mark.parametrize(
    ("code", "refusal"),
    [
        ("E1", "The password must be at least 8 characters."),
        ("E2", "パスワードは8文字以上にしてください。"),
    ],
)
async def test_a_too_short_password_is_refused_in_the_employees_language(
    browser, company, code, refusal
):
    issued = await issue_registration_code(company.employees[code])
    response = await browser.sign_in(code, issued.code)
    assert response.headers["Location"] == "/me/password"

    response = await browser.post("/me/password", {"password": "short", "confirm": "short"})

    assert response.status == 200  # the form again, to correct
    assert refusal in text_of_page(await response.text())


@pytest.mark.parametrize(
    ("code", "subject", "greeting", "button"),
    [
        (
            "E1",
            "[Safety check] Please confirm your e-mail address",
            "Dear Alex Smith,",
            "Confirm this e-mail address",
        ),
        ("E2", "【安否確認】メールアドレスの確認", "山田 太郎さん", "メールアドレスを確認する"),
    ],
)
async def test_the_confirmation_e_mail_is_in_the_employees_language(
    browser, company, smtp, code, subject, greeting, button
):
    await browser.first_sign_in(company.employees[code])

    await browser.post("/me/email/add", {"address": "home@example.com"})

    (mail,) = await received(smtp, "home@example.com")
    assert mail["Subject"] == subject
    assert text_of(mail).startswith(greeting)
    assert f">{button}</a>" in html_of(mail)


@pytest.mark.parametrize(
    ("code", "pause"),
    [
        (
            "E1",
            r"Too many attempts; this is paused for now\. Please try again in about \d+ minutes\.",
        ),
        ("E2", r"試行の回数が上限に達したため、一時的に受け付けを停止しています。約\d+分後に"),
    ],
)
async def test_the_pause_after_too_many_resends_is_in_the_employees_language(
    browser, company, smtp, code, pause
):
    await browser.first_sign_in(company.employees[code])
    await browser.post("/me/email/add", {"address": "home@example.com"})
    added = await EmployeeEmail.get(address="home@example.com")
    for sent in range(2, 6):
        await browser.post("/me/email/resend", {"email_id": str(added.id)})
        await received(smtp, "home@example.com", sent)

    response = await browser.post("/me/email/resend", {"email_id": str(added.id)})

    assert response.status == 429
    assert re.search(pause, text_of_page(await response.text()))


# The link page: the person is not known yet, so it speaks the phone's language


@pytest.mark.parametrize(
    ("accept", "language", "refusal"),
    [
        (
            "en-US,en;q=0.9",
            "en",
            "The employee number or registration code is incorrect.",
        ),
        ("ja-JP,ja;q=0.9,en;q=0.8", "ja", "社員番号または登録コードが正しくありません。"),
    ],
)
async def test_a_wrong_registration_code_is_refused_in_the_phones_language(
    line: LineActions, company, accept, language, refusal
):
    user_id = await line.befriend("Alex")
    url = await line.link_url(user_id)
    headers = {"Accept-Language": accept}
    async with line.session.get(url, headers=headers) as page:
        html = await page.text()
    assert lang_of(html) == language
    form = {
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1),
        "linkToken": re.search(r'name="linkToken" value="([^"]+)"', html).group(1),
        "employee_code": "E1",
        "registration_code": "WRNG-CDE2",
    }

    async with line.session.post(
        line.bot.make_url("/link"), data=form, headers=headers, allow_redirects=False
    ) as response:
        html = await response.text()

    assert response.status == 422 and lang_of(html) == language
    assert refusal in text_of_page(html)


# The console: a domain error in an English user's language


@pytest.mark.parametrize(
    ("language", "error"),
    [
        ("en", "Line 3 email: The e-mail address is not valid"),
        ("ja", "3行目 email: メールアドレスの形式が正しくありません"),
    ],
)
async def test_an_import_error_is_shown_in_the_console_users_language(
    console, company, language, error
):
    await make_console_user("boss", "maintainer")
    await ConsoleUser.filter(login="boss").update(language=language)
    await console.sign_in("boss")
    bad = "code,name,department,email,role\nE9,高橋,本社,,\nE10,田中,本社,not-mail,\n"

    async with console.session.post(
        console.url("/console/employees/import"),
        data={"file": io.BytesIO(bad.encode()), "csrf_token": await console.csrf()},
    ) as response:
        html = await response.text()

    assert response.status == 200 and lang_of(html) == language
    assert error in text_of_page(html)


async def test_an_english_console_users_domain_error_page_is_in_english(console, company):
    await make_console_user("boss", "maintainer")
    await ConsoleUser.filter(login="boss").update(language="en")
    await console.sign_in("boss")

    status, html = await console.get("/console/alerts/99999")

    assert status == 404 and lang_of(html) == "en"
    assert "Alert 99999 was not found." in text_of_page(html)
