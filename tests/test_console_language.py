"""The console in English for a user who chooses it: the choice is made on one's own account
page (CSRF, audited), every later page (dashboard, alert, employees, settings, error pages)
speaks it with <html lang="en">, and everyone else, and the sign-in page, stays Japanese."""

from __future__ import annotations

import re
from html import unescape

import aiohttp
import pytest

from domain.actors import Actor
from domain.alerts import start_alert
from models import AuditEntry, ConsoleUser, Template
from tests.conftest import ConsoleActions, make_company, make_console_user


def text_of(html: str) -> str:
    """What a person reads on the page: the tags dropped, entities decoded."""
    return unescape(re.sub(r"<[^>]+>", " ", html))


def lang_of(html: str) -> str:
    return re.search(r'<html lang="([^"]+)"', html).group(1)


@pytest.fixture
async def company(sim, bot):
    """総務部 (E1, E2); a drill to all; a maintainer `boss` and a supervisor `soumu`."""
    company = await make_company({"総務部": [("E1", "山田 太郎"), ("E2", "佐藤 花子")]})
    template = await Template.get(key="earthquake")
    alert = (await start_alert(Actor.cli(), template, drill=True)).alert
    await make_console_user("boss", "maintainer")
    await make_console_user("soumu", "supervisor", [company.departments["総務部"]])
    return alert


@pytest.fixture
async def other(bot):
    """A second browser, with cookies of its own."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield ConsoleActions(bot, session)


async def choose(console: ConsoleActions, language: str) -> aiohttp.ClientResponse:
    return await console.post("/console/account/language", {"language": language})


async def test_a_user_who_chooses_english_sees_the_console_in_english(console, company):
    await console.sign_in("boss")
    status, html = await console.get("/console/account")
    assert status == 200 and lang_of(html) == "ja" and "表示言語" in html

    response = await choose(console, "en")
    assert response.status == 303
    assert response.headers["Location"] == "/console/account?done=language"
    status, html = await console.get("/console/account?done=language")
    assert lang_of(html) == "en" and "Display language changed." in text_of(html)

    pages = {
        "/console/alerts": ["Safety checks", "Started", "Open", "Drill"],
        f"/console/alerts/{company.id}": ["Answer rate", "By department", "Not answered"],
        "/console/employees": ["Employees", "Add an employee", "Employee code"],
        "/console/settings": ["Contact details visible", "Monthly message pack"],
        "/console/audit": ["Display language changed", "Console"],
    }
    for path, english in pages.items():
        status, html = await console.get(path)
        assert status == 200, path
        assert lang_of(html) == "en", path
        page = text_of(html)
        for words in english:
            assert words in page, (path, words)
        # The console's own words are gone (the data, like 総務部, stays as entered).
        for japanese in ("安否確認一覧", "ログアウト", "メニュー", "設定"):
            assert japanese not in page, (path, japanese)


async def test_other_users_and_the_sign_in_page_stay_japanese(console, other, company):
    await console.sign_in("boss")
    await choose(console, "en")
    await other.sign_in("soumu")

    status, html = await other.get(f"/console/alerts/{company.id}")
    assert status == 200 and lang_of(html) == "ja"
    assert "回答率" in html and "Answer rate" not in html

    # Signed out, the same browser (its connection reused) is asked in Japanese, whatever
    # it accepts.
    await console.post("/console/logout")
    status, html = await console.get("/console/login", headers={"Accept-Language": "en"})
    assert status == 200 and lang_of(html) == "ja" and "ログインID" in html
    # Signing in again, the choice is still there.
    await console.sign_in("boss")
    status, html = await console.get("/console/alerts")
    assert lang_of(html) == "en" and "Sign out" in html


async def test_the_choice_is_audited_and_shown_in_both_languages(console, other, company):
    await console.sign_in("soumu")
    await choose(console, "en")

    entry = await AuditEntry.get(action="language_set")
    assert (entry.actor, entry.via, entry.target, entry.result) == (
        "soumu",
        "console",
        "soumu",
        "ok",
    )
    assert entry.detail == {"language": "en"}
    assert (await ConsoleUser.get(login="soumu")).language == "en"

    await other.sign_in("boss")
    status, html = await other.get("/console/audit")
    assert status == 200 and "表示言語の変更" in text_of(html)


async def test_english_error_pages_and_refusals(console, company):
    await console.sign_in("soumu")
    await choose(console, "en")

    status, html = await console.get("/console/users")  # maintainers only
    assert status == 403 and lang_of(html) == "en"
    assert "Sign out" in html and "ログアウト" not in html
    assert "You may not do this." in text_of(html)

    response = await choose(console, "fr")  # only the languages offered
    assert response.status == 422
    assert (await ConsoleUser.get(login="soumu")).language == "en"
    failed = await AuditEntry.get(action="language_set", result="failed")
    assert failed.target == "soumu"


async def test_choosing_a_language_needs_the_form_token(console, company):
    await console.sign_in("boss")
    response = await console.post("/console/account/language", {"language": "en"}, csrf=False)
    assert response.status == 403
    assert (await ConsoleUser.get(login="boss")).language == "ja"


async def test_signed_out_nobody_chooses(console, company):
    response = await console.post("/console/account/language", {"language": "en"})
    assert response.status == 401
    assert not await ConsoleUser.filter(language="en").exists()


async def test_back_to_japanese(console, company):
    await console.sign_in("boss")
    await choose(console, "en")
    await choose(console, "ja")
    status, html = await console.get("/console/alerts")
    assert status == 200 and lang_of(html) == "ja"
    assert "安否確認一覧" in html and "Safety checks" not in html


async def test_what_went_wrong_in_a_form_is_said_in_english(console, company):
    await console.sign_in("boss")
    await choose(console, "en")
    async with console.session.post(
        console.url("/console/templates/new"),
        data={"csrf_token": await console.csrf(), "key": "Bad Key", "title": "", "message": ""},
    ) as response:
        assert response.status == 400
        page = text_of(await response.text())
    assert "A key is up to 50 lower-case letters" in page and "Enter a title." in page
    assert "タイトルを入力してください" not in page
