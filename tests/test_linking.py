"""Account linking over real HTTP: chat → link page → sign in → LINE's dialog → accountLink."""

from __future__ import annotations

import base64
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from argon2 import PasswordHasher

from domain.linking import (
    SIGN_IN_LIMIT,
    issue_registration_code,
    link_expired_message,
    record_link_token,
    sign_in_failed_message,
)
from line_simulator import Simulator
from models import (
    Employee,
    InboxEvent,
    InboxStatus,
    LineAccount,
    LinkNonce,
    RegistrationCode,
    Throttle,
)
from tests.conftest import Company, LineActions, make_company, quick_link, until

# Bad-input variations run on SQLite only: they run the same queries as the flows tested on
# both databases, and each PostgreSQL test pays for a database of its own.
# The page's texts as an unknown (Japanese) visitor reads them.
LINK_EXPIRED = link_expired_message()
SIGN_IN_FAILED = sign_in_failed_message()
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
LINK_DONE = "LINE連携が完了しました"
LINK_FAILED = ("連携に失敗しました", "すでに使われています")


@pytest.fixture(autouse=True)
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash registration codes at a tiny Argon2 cost.

    At the production cost each hash or check takes about 0.2 s here, and these tests make
    about eighty; no rule under test depends on the cost (the end-to-end test keeps the real
    one). Same algorithm, same code path: only the parameters stored in each hash differ."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr("domain.hashing._hasher", cheap)


@pytest.fixture
async def company() -> Company:
    """Two employees in one department."""
    return await make_company({"総務部": [("E001", "山田 太郎"), ("E002", "佐藤 花子")]})


def nonce_of(response: aiohttp.ClientResponse) -> str:
    """The nonce our page put in the redirect to LINE's account-link dialog."""
    return parse_qs(urlsplit(response.headers["Location"]).query)["nonce"][0]


async def open_dialog(line: LineActions, user_id: str, response: aiohttp.ClientResponse) -> None:
    """Follow the redirect to LINE's dialog and wait for the bot's answer in chat."""
    before = len(line.sim.messages_for(user_id))
    async with line.session.get(response.headers["Location"]) as page:
        assert page.status == 200
    await until(lambda: len(line.sim.messages_for(user_id)) > before)


async def say(line: LineActions, user_id: str, text: str) -> str:
    """Send a chat text and return the bot's reply."""
    before = len(line.sim.messages_for(user_id))
    assert await line.sim.send_text(user_id, text) == 200
    await until(lambda: len(line.sim.messages_for(user_id)) > before)
    return line.texts(user_id)[-1]


async def csrf_of(session: aiohttp.ClientSession, page: str) -> str:
    """The CSRF token the link page gives this browser."""
    async with session.get(page) as response:
        html = await response.text()
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def says_link_failed(text: str) -> bool:
    """Whether a reply tells the user that linking bound nothing."""
    return LINK_DONE not in text and any(phrase in text for phrase in LINK_FAILED)


def account_link_event(sim: Simulator, user_id: str, nonce: str) -> dict[str, Any]:
    """An `ok` accountLink event from the user, as LINE sends it after its dialog."""
    return {
        "type": "accountLink",
        "source": {"type": "user", "userId": user_id},
        "replyToken": sim.issue_reply_token(user_id),
        "link": {"result": "ok", "nonce": nonce},
    }


async def handled(event: dict[str, Any]) -> InboxEvent:
    """Wait until the inbox has finished with the event and return it."""
    return await until(
        lambda: InboxEvent.get_or_none(
            webhook_event_id=event["webhookEventId"], status=InboxStatus.DONE
        )
    )


async def linked_employee_id(user_id: str) -> int | None:
    """The employee the LINE user is linked to, if any."""
    account = await LineAccount.get_or_none(user_id=user_id)
    return account.employee_id if account else None


# The whole flow


async def test_employee_links_line_through_the_whole_flow(sim, bot, line, company):
    yamada = company.employees["E001"]
    user_id = await line.befriend("たろう")
    issued = await issue_registration_code(yamada)

    url = await line.link_url(user_id)
    response = await line.sign_in(url, "E001", issued.code)
    assert response.status == 302
    await open_dialog(line, user_id, response)

    done = line.texts(user_id)[-1]
    assert LINK_DONE in done and "山田 太郎さん" in done and "メニュー" in done
    account = await LineAccount.get(user_id=user_id)
    assert account.employee_id == yamada.id and account.linked_at is not None
    assert account.display_name == "たろう"  # from the LINE profile
    code = await RegistrationCode.get(employee_id=yamada.id)
    assert code.used_at is not None
    nonce = await LinkNonce.get(employee_id=yamada.id)
    assert nonce.used_at is not None


async def test_link_button_postback_starts_linking_like_the_word(sim, bot, line, company):
    user_id = await line.befriend("たろう")
    issued = await issue_registration_code(company.employees["E001"])

    assert await sim.postback(user_id, "action=link", display_text="連携") == 200
    await until(lambda: len(sim.messages_for(user_id)) == 3)
    url = sim.messages_for(user_id)[-1]["template"]["actions"][0]["uri"]
    token = parse_qs(urlsplit(url).query)["linkToken"][0]
    assert sim.link_tokens[token].user_id == user_id

    response = await line.sign_in(url, "E001", issued.code)
    await open_dialog(line, user_id, response)
    assert LINK_DONE in line.texts(user_id)[-1]
    assert await linked_employee_id(user_id) == company.employees["E001"].id


async def test_linked_employee_asking_to_link_is_told_they_are_linked(sim, bot, line, company):
    user_id = await quick_link(sim, company.employees["E001"])
    tokens_before = len(sim.link_tokens)

    reply = await say(line, user_id, "連携")

    assert "すでに山田 太郎さんとして連携済みです" in reply
    assert len(sim.link_tokens) == tokens_before
    assert await linked_employee_id(user_id) == company.employees["E001"].id


# The sign-in form


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("employee_code", "whose_code"),
    [("E001", "made-up"), ("E999", "E001"), ("E001", "E002"), ("E003", "E003")],
    ids=["wrong-code", "unknown-employee", "another-employees-code", "retired-employee"],
)
async def test_sign_in_with_wrong_codes_is_refused_with_one_message(
    sim, bot, line, company, employee_code, whose_code
):
    company.employees["E003"] = await Employee.create(code="E003", name="退職 者", active=False)
    codes = {"made-up": "WRNG-CDE2"}
    for holder in {employee_code, whose_code} & set(company.employees):
        codes[holder] = (await issue_registration_code(company.employees[holder])).code
    user_id = await line.befriend("たろう")
    url = await line.link_url(user_id)

    response = await line.sign_in(url, employee_code, codes[whose_code])

    assert response.status == 422
    html = await response.text()
    assert SIGN_IN_FAILED in html and 'name="registration_code"' in html
    assert await LinkNonce.all().count() == 0


@SQLITE_ONLY
async def test_sign_in_with_an_empty_field_asks_for_both(sim, bot, line, company):
    user_id = await line.befriend("たろう")
    url = await line.link_url(user_id)

    response = await line.sign_in(url, "E001", " - ")

    assert response.status == 422
    assert "社員番号と登録コードを入力してください" in await response.text()
    assert await LinkNonce.all().count() == 0


async def test_too_many_wrong_codes_make_the_guesser_wait_and_leave_the_employee_alone(
    sim, bot, line, company
):
    # Employee codes are sequential (E001…): wrong guesses must not lock the real employee out.
    issued = await issue_registration_code(company.employees["E001"])
    guesser = await line.befriend("だれか")
    url = await line.link_url(guesser)

    wrong = [await line.sign_in(url, "E001", "WRNG-CDE2") for _ in range(SIGN_IN_LIMIT)]
    refused = await line.sign_in(url, "E001", issued.code)

    assert [r.status for r in wrong] == [422] * SIGN_IN_LIMIT
    assert refused.status == 429 and int(refused.headers["Retry-After"]) > 0
    assert "一時的に受け付けを停止" in await refused.text()
    assert await LinkNonce.all().count() == 0
    owner = await line.befriend("たろう")  # the employee, from their own LINE account
    response = await line.sign_in(await line.link_url(owner), "E001", issued.code)
    assert response.status == 302
    await open_dialog(line, owner, response)
    assert await linked_employee_id(owner) == company.employees["E001"].id


@SQLITE_ONLY
async def test_guesser_may_try_again_once_the_back_off_is_over(sim, bot, line, company):
    issued = await issue_registration_code(company.employees["E001"])
    user_id = await line.befriend("たろう")
    url = await line.link_url(user_id)
    for _ in range(SIGN_IN_LIMIT):
        assert (await line.sign_in(url, "E001", "WRNG-CDE2")).status == 422
    assert (await line.sign_in(url, "E001", issued.code)).status == 429

    await Throttle.all().update(blocked_until=datetime.now(UTC) - timedelta(seconds=1))

    assert (await line.sign_in(url, "E001", issued.code)).status == 302
    assert not await Throttle.all().exists()  # a success forgets the failures


async def test_expired_registration_code_is_refused(sim, bot, line, company):
    issued = await issue_registration_code(company.employees["E001"], timedelta(seconds=-1))
    user_id = await line.befriend("たろう")
    url = await line.link_url(user_id)

    response = await line.sign_in(url, "E001", issued.code)

    assert response.status == 422 and SIGN_IN_FAILED in await response.text()
    assert await LinkNonce.all().count() == 0


async def test_newly_issued_code_revokes_the_previous_one(sim, bot, line, company):
    yamada = company.employees["E001"]
    first = await issue_registration_code(yamada)
    second = await issue_registration_code(yamada)
    user_id = await line.befriend("たろう")
    url = await line.link_url(user_id)

    old = await line.sign_in(url, "E001", first.code)
    new = await line.sign_in(url, "E001", second.code)

    assert old.status == 422 and SIGN_IN_FAILED in await old.text()
    assert new.status == 302


@SQLITE_ONLY
@pytest.mark.parametrize(
    "query", ["", "?linkToken=", "?linkToken=" + "x" * 201], ids=["none", "empty", "too-long"]
)
async def test_link_page_without_a_usable_link_token_says_the_link_is_invalid(
    bot, browser_session, query
):
    async with browser_session.get(str(bot.make_url("/link")) + query) as response:
        html = await response.text()
    assert response.status == 400
    assert LINK_EXPIRED in html and "無効" in html
    assert 'name="registration_code"' not in html


@SQLITE_ONLY
async def test_sign_in_without_a_link_token_is_refused(bot, line):
    await record_link_token("U" + "0" * 32, "t")
    csrf = await csrf_of(line.session, str(bot.make_url("/link?linkToken=t")))
    # The codes are wrong too: past the link-token check this would be a 422.
    form = {"csrf_token": csrf, "employee_code": "E001", "registration_code": "WRNG-CDE2"}

    async with line.session.post(
        bot.make_url("/link"), data=form, allow_redirects=False
    ) as response:
        html = await response.text()

    assert response.status == 400 and LINK_EXPIRED in html


@SQLITE_ONLY
@pytest.mark.parametrize("csrf", ["missing", "forged", "another-browsers", "no-cookie"])
async def test_sign_in_without_this_browsers_csrf_token_is_forbidden(bot, line, csrf):
    await record_link_token("U" + "0" * 32, "t")
    page = str(bot.make_url("/link?linkToken=t"))
    # The codes are wrong too: past the CSRF check this would be a 422.
    form = {"linkToken": "t", "employee_code": "E001", "registration_code": "WRNG-CDE2"}
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other,
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as cookieless,
    ):
        own, theirs = await csrf_of(line.session, page), await csrf_of(other, page)
        sent = {
            "missing": None,
            "forged": own.split(".")[0] + "." + "0" * 64,
            "another-browsers": theirs,
            "no-cookie": own,
        }[csrf]
        if sent is not None:
            form["csrf_token"] = sent
        browser = cookieless if csrf == "no-cookie" else line.session
        async with browser.post(bot.make_url("/link"), data=form, allow_redirects=False) as resp:
            assert resp.status == 403


# The nonce and the accountLink event


async def test_replayed_nonce_binds_nothing_for_another_user(sim, bot, line, company):
    yamada = company.employees["E001"]
    taro = await line.befriend("たろう")
    issued = await issue_registration_code(yamada)
    response = await line.sign_in(await line.link_url(taro), "E001", issued.code)
    await open_dialog(line, taro, response)
    intruder = await line.befriend("だれか")

    event = account_link_event(sim, intruder, nonce_of(response))
    assert await sim.send_events([event]) == 200
    await until(lambda: len(sim.messages_for(intruder)) == 3)

    assert says_link_failed(line.texts(intruder)[-1])
    assert await linked_employee_id(intruder) is None
    assert await linked_employee_id(taro) == yamada.id


async def test_nonce_sent_by_another_line_user_binds_nothing_and_tells_nothing(
    sim, bot, line, company
):
    # The nonce leaked before its owner reached LINE's dialog (a shared link, a log).
    yamada = company.employees["E001"]
    taro, intruder = await line.befriend("たろう"), await line.befriend("だれか")
    issued = await issue_registration_code(yamada)
    response = await line.sign_in(await line.link_url(taro), "E001", issued.code)
    unknown = account_link_event(sim, intruder, secrets.token_urlsafe(32))
    assert await sim.send_events([unknown]) == 200
    await until(lambda: len(sim.messages_for(intruder)) == 3)

    event = account_link_event(sim, intruder, nonce_of(response))
    assert await sim.send_events([event]) == 200
    await until(lambda: len(sim.messages_for(intruder)) == 4)

    assert line.texts(intruder)[-1] == line.texts(intruder)[-2]  # as for an unknown nonce
    assert "山田" not in line.texts(intruder)[-1]
    assert await linked_employee_id(intruder) is None
    assert not await LineAccount.filter(employee_id=yamada.id).exists()
    await open_dialog(line, taro, response)  # the owner's nonce still works
    assert LINK_DONE in line.texts(taro)[-1]
    assert await linked_employee_id(taro) == yamada.id


@SQLITE_ONLY
async def test_unknown_nonce_binds_nothing(sim, bot, line, company):
    user_id = await line.befriend("たろう")

    event = account_link_event(sim, user_id, secrets.token_urlsafe(32))
    assert await sim.send_events([event]) == 200
    await until(lambda: len(sim.messages_for(user_id)) == 3)

    assert says_link_failed(line.texts(user_id)[-1])
    assert await linked_employee_id(user_id) is None
    assert not await LineAccount.filter(employee_id__not_isnull=True).exists()


async def test_expired_nonce_binds_nothing(sim, bot, line, company):
    user_id = await line.befriend("たろう")
    issued = await issue_registration_code(company.employees["E001"])
    response = await line.sign_in(await line.link_url(user_id), "E001", issued.code)
    await LinkNonce.all().update(expires_at=datetime.now(UTC) - timedelta(seconds=1))

    await open_dialog(line, user_id, response)

    assert says_link_failed(line.texts(user_id)[-1])
    assert await linked_employee_id(user_id) is None


@SQLITE_ONLY
@pytest.mark.parametrize("with_source", [False, True], ids=["as-line-sends-it", "with-source"])
async def test_failed_account_link_binds_nothing_and_sends_nothing(
    sim, bot, line, company, with_source
):
    user_id = await line.befriend("たろう")
    issued = await issue_registration_code(company.employees["E001"])
    response = await line.sign_in(await line.link_url(user_id), "E001", issued.code)
    event = {"type": "accountLink", "link": {"result": "failed", "nonce": nonce_of(response)}}
    if with_source:  # LINE sends none; a reply token here would show a reply
        event["source"] = {"type": "user", "userId": user_id}
        event["replyToken"] = sim.issue_reply_token(user_id)
    sent_before = len(sim.sent)

    assert await sim.send_events([event]) == 200
    await handled(event)

    assert len(sim.sent) == sent_before
    assert await linked_employee_id(user_id) is None
    assert (await LinkNonce.get()).used_at is None


@SQLITE_ONLY
async def test_nonce_is_fresh_random_url_safe_base64_and_not_the_employee_id(
    sim, bot, line, company
):
    yamada = company.employees["E001"]
    issued = await issue_registration_code(yamada)
    user_id = await line.befriend("たろう")

    nonce = nonce_of(await line.sign_in(await line.link_url(user_id), "E001", issued.code))
    again = nonce_of(await line.sign_in(await line.link_url(user_id), "E001", issued.code))

    assert re.fullmatch(r"[A-Za-z0-9_-]{22,255}", nonce)
    assert len(base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))) >= 16  # ≥128 bits
    assert nonce not in {str(yamada.id), yamada.code} and yamada.code not in nonce
    assert again != nonce
    stored = await LinkNonce.all().values_list("nonce_hash", flat=True)
    assert nonce not in stored and again not in stored  # kept only as hashes


async def test_nonce_of_a_code_used_since_binds_nothing(sim, bot, line, company):
    # A code that leaked: someone else signs in with it before its owner finishes linking.
    yamada = company.employees["E001"]
    issued = await issue_registration_code(yamada)
    taro, intruder = await line.befriend("たろう"), await line.befriend("だれか")
    own = await line.sign_in(await line.link_url(taro), "E001", issued.code)
    stolen = await line.sign_in(await line.link_url(intruder), "E001", issued.code)
    await open_dialog(line, taro, own)
    assert (await RegistrationCode.get(employee_id=yamada.id)).used_at is not None

    await open_dialog(line, intruder, stolen)

    assert says_link_failed(line.texts(intruder)[-1])
    assert await linked_employee_id(intruder) is None
    assert await linked_employee_id(taro) == yamada.id


async def test_nonce_of_a_code_revoked_since_binds_nothing(sim, bot, line, company):
    # The code leaked and the administrator issued a new one: the old one must stop working.
    yamada = company.employees["E001"]
    leaked = await issue_registration_code(yamada)
    intruder = await line.befriend("だれか")
    stolen = await line.sign_in(await line.link_url(intruder), "E001", leaked.code)
    await issue_registration_code(yamada)

    await open_dialog(line, intruder, stolen)

    assert says_link_failed(line.texts(intruder)[-1])
    assert await linked_employee_id(intruder) is None


# One LINE account per employee, one employee per LINE account


async def test_linking_an_employee_from_a_second_line_account_moves_the_link(
    sim, bot, line, company
):
    yamada = company.employees["E001"]
    old_phone = await quick_link(sim, yamada, "たろう(旧)")

    new_phone = await line.linked_friend(yamada, "たろう(新)")

    assert LINK_DONE in line.texts(new_phone)[-1]
    assert await linked_employee_id(new_phone) == yamada.id
    assert await linked_employee_id(old_phone) is None
    assert await LineAccount.filter(employee_id=yamada.id).count() == 1


async def test_relinking_a_line_account_to_another_employee_unlinks_the_first(
    sim, bot, line, company
):
    yamada, sato = company.employees["E001"], company.employees["E002"]
    user_id = await line.befriend("共用スマホ")
    first_url = await line.link_url(user_id)
    second_url = await line.link_url(user_id)  # asked twice before linking: two live tokens
    response = await line.sign_in(first_url, "E001", (await issue_registration_code(yamada)).code)
    await open_dialog(line, user_id, response)

    response = await line.sign_in(second_url, "E002", (await issue_registration_code(sato)).code)
    await open_dialog(line, user_id, response)

    assert "佐藤 花子さん" in line.texts(user_id)[-1]
    assert await linked_employee_id(user_id) == sato.id
    assert not await LineAccount.filter(employee_id=yamada.id).exists()


# Unlinking


@pytest.mark.parametrize(
    ("how", "data"), [("text", "連携解除"), ("postback", "action=unlink")], ids=["text", "postback"]
)
async def test_unlinking_asks_first_then_removes_the_link_and_says_how_to_link_again(
    sim, bot, line, company, how, data
):
    user_id = await quick_link(sim, company.employees["E001"], "たろう")

    if how == "text":
        assert await sim.send_text(user_id, data) == 200
    else:
        assert await sim.postback(user_id, data) == 200
    await until(lambda: sim.messages_for(user_id))
    confirm = sim.messages_for(user_id)[-1]["template"]
    assert confirm["type"] == "confirm"
    assert "山田 太郎さんとのLINE連携を解除しますか" in confirm["text"]
    assert await linked_employee_id(user_id) == company.employees["E001"].id  # not yet

    assert await sim.postback(user_id, confirm["actions"][0]["data"]) == 200
    await until(lambda: len(sim.messages_for(user_id)) == 2)

    reply = line.texts(user_id)[-1]
    assert "山田 太郎さんとの連携を解除しました" in reply and "「連携」と送信" in reply
    account = await LineAccount.get(user_id=user_id)
    assert (account.employee_id, account.linked_at) == (None, None)
    # What the privacy FAQ allows stays: the user ID and the display name, nothing else.
    assert (account.user_id, account.display_name) == (user_id, "たろう")


async def test_unlinking_can_be_called_off_at_the_confirm_step(sim, bot, line, company):
    user_id = await quick_link(sim, company.employees["E001"])
    assert await sim.send_text(user_id, "連携解除") == 200
    await until(lambda: sim.messages_for(user_id))
    cancel = sim.messages_for(user_id)[-1]["template"]["actions"][1]

    assert await sim.postback(user_id, cancel["data"]) == 200
    await until(lambda: len(sim.messages_for(user_id)) == 2)

    assert "連携解除を取り消しました" in line.texts(user_id)[-1]
    assert await linked_employee_id(user_id) == company.employees["E001"].id


async def test_confirming_an_unlink_twice_unlinks_once(sim, bot, line, company):
    user_id = await quick_link(sim, company.employees["E001"])

    assert await sim.postback(user_id, "action=unlink_confirm") == 200
    await until(lambda: sim.messages_for(user_id))
    assert await sim.postback(user_id, "action=unlink_confirm") == 200
    await until(lambda: len(sim.messages_for(user_id)) == 3)

    assert "連携を解除しました" in line.texts(user_id)[0]
    assert "連携が必要です" in line.texts(user_id)[1]  # the second tap: nothing left to unlink
    assert await linked_employee_id(user_id) is None


async def test_unlinking_when_not_linked_says_so(sim, bot, line):
    user_id = await line.befriend("たろう")

    before = len(sim.messages_for(user_id))
    assert await sim.send_text(user_id, "連携解除") == 200
    await until(lambda: len(sim.messages_for(user_id)) == before + 2)

    assert "連携が必要です" in line.texts(user_id)[-2]
    assert sim.messages_for(user_id)[-1]["template"]["actions"][0]["data"] == "action=link"
