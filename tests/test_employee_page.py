"""The employee page (/me/) over real HTTP: signing in the first time with a registration code
and setting a password, or keeping codes; the pause after repeated failures; CSRF; the page
shows the employee's own record; e-mail addresses on/off, language, recent answers."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from domain import contacts
from domain.actors import Actor
from domain.alerts import start_alert
from domain.answers import submit_answer
from domain.employee_page import sign_in_failed_message
from domain.linking import issue_registration_code
from domain.settings import get_settings
from domain.throttle import SIGN_IN_LIMIT
from models import (
    AnswerChannel,
    AuditEntry,
    Employee,
    EmployeeEmail,
    RegistrationCode,
    Template,
)
from tests import me_helpers
from tests.conftest import make_company
from tests.me_helpers import PASSWORD, EmployeePhone

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
bot, phone = me_helpers.bot, me_helpers.phone  # fixtures: the app with LINE Login on


@pytest.fixture
async def company():
    """Two employees; 山田 has an e-mail address on his record."""
    company = await make_company({"総務部": [("E001", "山田 太郎"), ("E002", "佐藤 花子")]})
    yamada = company.employees["E001"]
    yamada.email = "yamada@example.com"
    await yamada.save()
    return company


# Signing in


async def test_first_sign_in_with_a_code_asks_for_a_password_and_spends_the_code(
    sim, bot, phone: EmployeePhone, company
):
    yamada = company.employees["E001"]
    issued = await issue_registration_code(yamada)

    response = await phone.sign_in("E001", issued.code.lower())  # typed loosely

    assert response.status == 303 and response.headers["Location"] == "/me/password"
    status, _ = await phone.get("/me/")
    assert status == 303  # the page waits for the password
    response = await phone.post("/me/password", {"password": PASSWORD, "confirm": PASSWORD})
    assert response.status == 303 and response.headers["Location"] == "/me/?done=password"

    status, html = await phone.get("/me/?done=password")
    assert status == 200
    assert "山田 太郎" in html and "E001" in html and "総務部" in html
    assert "未登録" in html and "yamada@example.com" in html
    assert (await RegistrationCode.get(employee_id=yamada.id)).used_at is not None
    assert (await Employee.get(id=yamada.id)).password_hash.startswith("$argon2")


async def test_the_password_signs_in_and_the_spent_code_no_longer_does(sim, bot, phone, company):
    yamada = company.employees["E001"]
    issued = await issue_registration_code(yamada)
    await phone.sign_in("E001", issued.code)
    await phone.post("/me/password", {"password": PASSWORD, "confirm": PASSWORD})
    await phone.post("/me/logout")

    assert (await phone.sign_in("E001", issued.code)).status == 401
    response = await phone.sign_in("E001", PASSWORD)

    assert response.status == 303 and response.headers["Location"] == "/me/"
    status, html = await phone.get("/me/")
    assert status == 200 and "山田 太郎さんのページ" in html


async def test_an_organisation_keeping_codes_signs_in_with_the_code_again(sim, bot, phone, company):
    settings = await get_settings()
    settings.employee_passwords = False
    await settings.save()
    issued = await issue_registration_code(company.employees["E001"])

    response = await phone.sign_in("E001", issued.code)
    assert response.status == 303 and response.headers["Location"] == "/me/"
    await phone.post("/me/logout")
    response = await phone.sign_in("E001", issued.code)

    assert response.status == 303 and response.headers["Location"] == "/me/"
    assert (await RegistrationCode.get(employee_id=company.employees["E001"].id)).used_at is None


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("employee_code", "whose_code"),
    [("E001", "made-up"), ("E999", "E001"), ("E001", "E002"), ("E003", "E003")],
    ids=["wrong-code", "unknown-employee", "another-employees-code", "retired-employee"],
)
async def test_wrong_codes_are_refused_alike(sim, bot, phone, company, employee_code, whose_code):
    company.employees["E003"] = await Employee.create(code="E003", name="退職 者", active=False)
    codes = {"made-up": "WRNG-CDE2"}
    for holder in {employee_code, whose_code} & set(company.employees):
        codes[holder] = (await issue_registration_code(company.employees[holder])).code

    response = await phone.sign_in(employee_code, codes[whose_code])

    assert response.status == 401
    assert sign_in_failed_message() in await response.text()
    status, _ = await phone.get("/me/")
    assert status == 303


async def test_a_locked_out_employee_waits_even_with_the_right_code(sim, bot, phone, company):
    issued = await issue_registration_code(company.employees["E001"])
    for _ in range(SIGN_IN_LIMIT):
        assert (await phone.sign_in("E001", "WRNG-CDE2")).status == 401

    response = await phone.sign_in("E001", issued.code)

    assert response.status == 429
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    html = await response.text()
    assert "一時的に受け付けを停止しています" in html and "約15分" in html
    assert await AuditEntry.exists(via="me", actor="E001", action="sign_in", result="refused")
    # Another employee is not paused by it.
    other = await issue_registration_code(company.employees["E002"])
    assert (await phone.sign_in("E002", other.code)).status == 303


@SQLITE_ONLY
async def test_a_form_without_the_csrf_token_is_refused(sim, bot, phone, company):
    issued = await issue_registration_code(company.employees["E001"])

    response = await phone.post(
        "/me/login", {"employee_code": "E001", "secret": issued.code}, csrf=False
    )

    assert response.status == 403
    status, _ = await phone.get("/me/")
    assert status == 303


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("password", "confirm", "message"),
    [
        ("short", "short", "8文字以上"),
        ("E001", "E001", "8文字以上"),
        ("e001e001", "e001e001", None),
        ("E001    ", "E001    ", "社員番号と同じ"),
        ("long-enough-1", "long-enough-2", "一致しません"),
        ("12345678", "12345678", "よく使われている"),
        ("password", "password", "よく使われている"),
        ("QwertyUI", "QwertyUI", "よく使われている"),
        ("abababab", "abababab", "よく使われている"),
        ("hijklmnop", "hijklmnop", "よく使われている"),
    ],
    ids=[
        *("too-short", "the-code", "code-twice-is-fine", "the-code-padded", "mismatch"),
        *("common-digits", "common-word", "common-any-case", "two-letters", "a-run"),
    ],
)
async def test_password_rules(sim, bot, phone, company, password, confirm, message):
    issued = await issue_registration_code(company.employees["E001"])
    await phone.sign_in("E001", issued.code)

    response = await phone.post("/me/password", {"password": password, "confirm": confirm})

    if message is None:
        assert response.status == 303
        return
    assert response.status == 200 and message in await response.text()
    assert (await Employee.get(code="E001")).password_hash is None


async def test_changing_the_password_needs_the_current_one_and_ends_other_sessions(
    sim, bot, phone, company, browser_session
):
    await phone.first_sign_in(company.employees["E001"])
    other = EmployeePhone(bot, sim, browser_session)
    assert (await other.sign_in("E001", PASSWORD)).status == 303

    wrong = await phone.post(
        "/me/password",
        {"current": "not-it-at-all", "password": "new-pass-2", "confirm": "new-pass-2"},
    )
    assert wrong.status == 200 and "現在のパスワードが正しくありません" in await wrong.text()
    right = await phone.post(
        "/me/password", {"current": PASSWORD, "password": "new-pass-2", "confirm": "new-pass-2"}
    )

    assert right.status == 303
    assert (await phone.get("/me/"))[0] == 200
    assert (await other.get("/me/"))[0] == 303  # signed out by the change


async def test_a_retired_employees_session_ends(sim, bot, phone, company):
    await phone.first_sign_in(company.employees["E001"])
    await Employee.filter(code="E001").update(active=False)

    status, _ = await phone.get("/me/")

    assert status == 303


# What the page shows and changes


async def test_the_page_shows_recent_answers_and_unanswered(sim, bot, phone, company):
    yamada = company.employees["E001"]
    template = await Template.get(key="earthquake")
    first = await start_alert(Actor.cli(), template, drill=True, sender_name="総務部")
    await start_alert(Actor.cli(), template, drill=False, sender_name="総務部")
    await submit_answer(
        first.alert.id,
        yamada,
        {"本人": "無事", "家族": "全員無事", "家屋": "一部倒壊", "出社": "可能"},
        "一時間後に家を出ます。",
        AnswerChannel.LIFF,
    )
    await phone.first_sign_in(yamada)

    status, html = await phone.get("/me/")
    assert status == 200

    recent = html[html.index('id="recent"') :]
    assert "【訓練】【地震】安否確認" in recent and "家屋: 一部倒壊" in recent
    assert "一時間後に家を出ます。" in recent
    assert recent.index("未回答") < recent.index("回答済")  # the newer alert first
    assert "佐藤" not in html  # the employee's own record only


async def test_email_addresses_are_added_switched_and_removed(sim, bot, phone, company):
    yamada = company.employees["E001"]
    await phone.first_sign_in(yamada)

    response = await phone.post("/me/email/add", {"address": "taro@home.example"})
    assert response.status == 303
    _, html = await phone.get(response.headers["Location"])
    assert "確認メールを送れません" in html and "未確認" in html  # SMTP_URL is not set here
    added = await EmployeeEmail.get(employee_id=yamada.id)
    assert added.enabled
    assert (await contacts.email_addresses([yamada.id]))[yamada.id] == ["yamada@example.com"]
    # Opening its confirmation link (tests/test_email_confirmation.py) makes it reachable.
    await EmployeeEmail.filter(id=added.id).update(confirmed_at=datetime.now(UTC))
    assert (await contacts.email_addresses([yamada.id]))[yamada.id] == [
        "yamada@example.com",
        "taro@home.example",
    ]

    await phone.post("/me/email/switch", {"email_id": "record", "enabled": "0"})
    await phone.post("/me/email/switch", {"email_id": str(added.id), "enabled": "0"})
    assert await contacts.email_addresses([yamada.id]) == {}
    status, html = await phone.get("/me/")
    assert status == 200
    assert html.count("受信しない") == 2

    await phone.post("/me/email/remove", {"email_id": str(added.id)})
    assert not await EmployeeEmail.exists(employee_id=yamada.id)
    assert (await Employee.get(id=yamada.id)).email == "yamada@example.com"  # the record's stays


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("not-an-address", "形式が正しくありません"),
        ("YAMADA@example.com", "すでに登録されています"),
        ("", "メールアドレスを入力してください"),
    ],
    ids=["malformed", "the-records-address", "empty"],
)
async def test_bad_addresses_are_refused(sim, bot, phone, company, address, message):
    await phone.first_sign_in(company.employees["E001"])

    response = await phone.post("/me/email/add", {"address": address})

    assert response.status == 200 and message in await response.text()
    assert not await EmployeeEmail.exists()


@SQLITE_ONLY
async def test_at_most_five_addresses_can_be_added(sim, bot, phone, company):
    await phone.first_sign_in(company.employees["E001"])
    for n in range(5):
        assert (await phone.post("/me/email/add", {"address": f"a{n}@example.com"})).status == 303
    status, html = await phone.get("/me/")
    assert status == 200
    assert 'name="address"' not in html  # the form is gone

    response = await phone.post("/me/email/add", {"address": "a5@example.com"})

    assert response.status == 200 and "5件まで" in await response.text()
    assert await EmployeeEmail.all().count() == 5


@SQLITE_ONLY
async def test_another_employees_address_cannot_be_touched(sim, bot, phone, company):
    theirs = await EmployeeEmail.create(
        employee=company.employees["E002"], address="hanako@example.com"
    )
    await phone.first_sign_in(company.employees["E001"])

    switched = await phone.post("/me/email/switch", {"email_id": str(theirs.id), "enabled": "0"})
    removed = await phone.post("/me/email/remove", {"email_id": str(theirs.id)})

    assert switched.status == 404 and removed.status == 404
    assert (await EmployeeEmail.get(id=theirs.id)).enabled


async def test_the_preferred_language_is_saved(sim, bot, phone, company):
    await phone.first_sign_in(company.employees["E001"])

    response = await phone.post("/me/language", {"language": "en"})

    assert response.status == 303
    assert (await Employee.get(code="E001")).language == "en"
    status, html = await phone.get("/me/")
    assert status == 200
    assert re.search(r'<option value="en" selected>', html)
    bad = await phone.post("/me/language", {"language": "xx"})
    assert bad.status == 200 and (await Employee.get(code="E001")).language == "en"


async def test_the_printed_sheet_carries_the_page_url_and_its_qr_code(sim, bot, console, company):
    import segno

    from tests.conftest import make_console_user

    await make_console_user("boss", "maintainer")
    await console.sign_in("boss")

    response = await console.post("/console/codes/issue", {"employee_code": "E001"})

    html = await response.text()
    url = str(bot.make_url("/me/"))
    assert f'<p class="url">{url}</p>' in html
    expected = segno.make(url, error="m").svg_inline(scale=4, title="社員ページのQRコード")
    assert expected in html  # the QR code encodes exactly the printed URL
    assert "STEP1" in html and "「LINEアプリ」" in html and "「LINE ID連携」" in html
