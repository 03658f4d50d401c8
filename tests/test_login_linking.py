"""LINE ID連携 from the employee page over real HTTP: the page → LINE Login's page on the local
LINE platform (友だち追加 ticked) → the callback (code exchanged, ID token verified with the
nonce) → linked, the linked rich menu, and the completion message in LINE exactly once."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
import pytest

from domain.linking import link_notice_owed
from models import AuditEntry, LineAccount, UsageDay
from tests import conftest, me_helpers
from tests.conftest import make_company, quick_link, until
from tests.me_helpers import EmployeePhone, menu_seen, query

# Fixtures: the app with LINE Login on, the employee's phone, the synced rich menus.
bot, phone, menus = me_helpers.bot, me_helpers.phone, me_helpers.menus

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
DONE = "LINE連携が完了しました"
GREETING = "友だち追加ありがとうございます"


@pytest.fixture
async def company():
    """Two employees in one department."""
    return await make_company({"総務部": [("E001", "山田 太郎"), ("E002", "佐藤 花子")]})


def texts(sim, user_id: str) -> list[str]:
    """What the user's LINE chat shows, as text."""
    return [m.get("text") or m.get("altText") or "" for m in sim.messages_for(user_id)]


def sent(sim, kind: str, user_id: str) -> list:
    """The bot's accepted calls of one kind (reply, push) that reached this user."""
    return [s for s in sim.sent if s.kind == kind and user_id in s.to and 200 <= s.status < 300]


async def billable() -> int:
    """Billable messages counted so far."""
    return sum(await UsageDay.all().values_list("messages", flat=True))


def with_query(url: str, **changes: str) -> str:
    """The URL with some query values replaced."""
    parts = urlsplit(url)
    values = query(url) | changes
    return urlunsplit(parts._replace(query=urlencode(values)))


async def test_new_employee_links_line_from_the_page_and_is_told_in_line(
    sim, bot, phone: EmployeePhone, company, menus
):
    yamada = company.employees["E001"]
    user = sim.add_user("たろう")  # not a friend of the official account yet
    await phone.first_sign_in(yamada)

    authorize_url = await phone.start_line_login()
    asked = query(authorize_url)
    assert authorize_url.startswith(f"{sim.config.public_base_url}/oauth2/v2.1/authorize?")
    assert asked["scope"] == "openid profile" and asked["bot_prompt"] == "aggressive"
    assert asked["code_challenge_method"] == "S256" and asked["state"] and asked["nonce"]
    callback = await phone.authorize(authorize_url, user.user_id, add_friend=True)
    assert query(callback)["friendship_status_changed"] == "true"
    assert user.reachable  # 友だち追加 on LINE's page made the user a friend
    # LINE's follow event reaches the bot before the browser comes back: its reply waits for
    # the link, so the chat gets the completion only, never the unlinked greeting first.
    await until(lambda: LineAccount.exists(user_id=user.user_id, followed=True))

    status, _, location = await phone.open(callback)

    assert status == 303 and location == "/me/line?done=linked"
    account = await LineAccount.get(user_id=user.user_id)
    assert account.employee_id == yamada.id and account.display_name == "たろう"
    assert account.followed and not account.blocked
    await until(lambda: any(DONE in t for t in texts(sim, user.user_id)))
    assert texts(sim, user.user_id) == [texts(sim, user.user_id)[-1]]  # one message
    assert "山田 太郎さん" in texts(sim, user.user_id)[-1]
    assert not any(GREETING in t for t in texts(sim, user.user_id))
    assert sent(sim, "push", user.user_id) == [] and len(sent(sim, "reply", user.user_id)) == 1
    assert await billable() == 0  # a reply is free
    await until(lambda: menu_seen(sim, user.user_id) == menus["linked"])
    assert not await link_notice_owed(user.user_id)
    status, html = await phone.get("/me/line")
    assert status == 200 and "登録済" in html
    status, html = await phone.get("/me/")
    assert 'id="medium-line"' in html and "登録済" in html


async def test_another_new_friend_while_a_link_is_in_flight_is_still_greeted(
    sim, bot, phone: EmployeePhone, company
):
    await phone.first_sign_in(company.employees["E001"])
    await phone.start_line_login()  # in flight: a follow may be this link's
    stranger = sim.add_user("通りすがり")

    assert await sim.follow(stranger.user_id) == 200

    await until(lambda: any(GREETING in t for t in texts(sim, stranger.user_id)), within=20)
    assert not any(DONE in t for t in texts(sim, stranger.user_id))


async def test_follow_arriving_after_the_link_carries_the_completion_by_reply(
    sim, bot, phone: EmployeePhone, company
):
    user = sim.add_user("たろう")
    await phone.first_sign_in(company.employees["E001"])
    callback = await phone.authorize(await phone.start_line_login(), user.user_id, add_friend=False)
    # LINE said the friendship changed, but its follow event is late: it comes after the link.
    callback = with_query(callback, friendship_status_changed="true")
    returning = asyncio.create_task(phone.open(callback))
    await until(lambda: LineAccount.exists(user_id=user.user_id, employee_id__isnull=False))
    assert await sim.follow(user.user_id) == 200

    status, _, location = await returning

    assert status == 303 and location == "/me/line?done=linked"
    await until(lambda: any(DONE in t for t in texts(sim, user.user_id)))
    assert [t for t in texts(sim, user.user_id) if GREETING in t] == []
    assert sum(DONE in t for t in texts(sim, user.user_id)) == 1
    assert len(sent(sim, "reply", user.user_id)) == 1
    assert sent(sim, "push", user.user_id) == []
    assert await billable() == 0  # replies are free


async def test_user_who_is_no_friend_gets_the_completion_when_adding_the_account(
    sim, bot, phone: EmployeePhone, company
):
    user = sim.add_user("たろう")
    await phone.first_sign_in(company.employees["E001"])

    status, location = await phone.link_line(user.user_id, add_friend=False)

    assert status == 303 and location == "/me/line?done=linked"
    account = await LineAccount.get(user_id=user.user_id)
    assert account.employee_id == company.employees["E001"].id
    assert not account.followed  # never seen to follow: alerts would not reach them
    assert sim.sent == [] or sent(sim, "push", user.user_id) == []
    assert await link_notice_owed(user.user_id)

    assert await sim.follow(user.user_id) == 200
    await until(lambda: any(DONE in t for t in texts(sim, user.user_id)))
    assert len(sent(sim, "reply", user.user_id)) == 1 and await billable() == 0


async def test_friend_linking_from_the_page_gets_one_push(sim, bot, phone, company):
    user = sim.add_user("たろう")
    assert await sim.follow(user.user_id) == 200  # befriended earlier, greeted then
    await until(lambda: texts(sim, user.user_id))
    await until(lambda: LineAccount.exists(user_id=user.user_id, followed=True))
    await phone.first_sign_in(company.employees["E001"])

    callback = await phone.authorize(await phone.start_line_login(), user.user_id)
    assert query(callback)["friendship_status_changed"] == "false"  # already a friend
    status, _, _ = await phone.open(callback)

    assert status == 303
    await until(lambda: any(DONE in t for t in texts(sim, user.user_id)))
    assert len(sent(sim, "push", user.user_id)) == 1 and await billable() == 1


# Refusals


@SQLITE_ONLY
async def test_a_callback_with_another_state_is_refused(sim, bot, phone, company):
    user = sim.add_user("たろう")
    await phone.first_sign_in(company.employees["E001"])
    callback = await phone.authorize(await phone.start_line_login(), user.user_id)

    status, html, _ = await phone.open(with_query(callback, state="forged-state"))

    assert status == 400 and "LINE連携の手続きを確認できませんでした" in html
    assert not await LineAccount.exists(user_id=user.user_id, employee_id__isnull=False)
    # The state is spent: the genuine callback no longer works either.
    status, html, _ = await phone.open(callback)
    assert status == 400 and not await LineAccount.exists(employee_id__isnull=False)


@SQLITE_ONLY
@pytest.mark.parametrize("started", [False, True], ids=["never-started", "started"])
@pytest.mark.parametrize("state", ["xyz", "状態", ""], ids=["other", "non-ascii", "empty"])
async def test_a_callback_with_a_state_this_browser_did_not_get_is_refused(
    sim, bot, phone, company, started, state
):
    await phone.first_sign_in(company.employees["E001"])
    if started:
        await phone.start_line_login()

    status, html, _ = await phone.open(
        phone.url("/me/line/callback") + "?" + urlencode({"code": "abc", "state": state})
    )

    assert status == 400 and "LINE連携の手続きを確認できませんでした" in html


@SQLITE_ONLY
async def test_a_replayed_code_is_refused(sim, bot, phone, company):
    user = sim.add_user("たろう")
    await phone.first_sign_in(company.employees["E001"])
    callback = await phone.authorize(await phone.start_line_login(), user.user_id)
    status, _, _ = await phone.open(callback)
    assert status == 303
    # Start again so the session holds a fresh state, then present the old code with it.
    authorize_url = await phone.start_line_login()

    status, html, _ = await phone.open(with_query(callback, state=query(authorize_url)["state"]))

    assert status == 400 and "LINEでの本人確認ができませんでした" in html
    assert await AuditEntry.exists(action="line_link", result="refused")


def claims_for(sim, user_id: str, nonce: str, changes: dict[str, str]) -> dict:
    """The claims of a genuine ID token for this sign-in, with some changed."""
    now = int(sim.clock.now())
    return {
        "iss": "https://access.line.me",
        "sub": user_id,
        "aud": sim.config.login_channel_id,
        "exp": now + 3600,
        "iat": now,
        "nonce": nonce,
        "name": "たろう",
    } | changes


@SQLITE_ONLY
@pytest.mark.parametrize(
    "changes",
    [{"aud": "1999999999"}, {"nonce": "another-sign-in"}],
    ids=["another-audience", "another-nonce"],
)
async def test_an_id_token_for_another_audience_or_nonce_is_refused(
    sim, bot, phone, company, monkeypatch, changes
):
    user = sim.add_user("たろう")
    await phone.first_sign_in(company.employees["E001"])
    authorize_url = await phone.start_line_login()
    callback = await phone.authorize(authorize_url, user.user_id)
    nonce = query(authorize_url)["nonce"]
    # LINE's token endpoint hands out a token (signed by LINE) for another channel or sign-in.
    monkeypatch.setattr(
        "line_simulator.login.id_token_claims",
        lambda sim_, code: claims_for(sim, user.user_id, nonce, changes),
    )

    status, html, _ = await phone.open(callback)

    assert status == 400 and "LINEでの本人確認ができませんでした" in html
    assert not await LineAccount.exists(employee_id__isnull=False)


async def test_a_line_account_linked_to_someone_else_is_refused(sim, bot, phone, company):
    sato_line = await quick_link(sim, company.employees["E002"], "はなこ")
    await phone.first_sign_in(company.employees["E001"])

    status, html = await phone.link_line(sato_line)

    assert status == 409 and "すでに別の社員の連携に使われています" in html
    account = await LineAccount.get(user_id=sato_line)
    assert account.employee_id == company.employees["E002"].id
    assert not await LineAccount.exists(employee_id=company.employees["E001"].id)
    assert not any(DONE in t for t in texts(sim, sato_line))


@SQLITE_ONLY
async def test_cancelling_on_lines_page_links_nothing(sim, bot, phone, company):
    user = sim.add_user("たろう")
    await phone.first_sign_in(company.employees["E001"])
    callback = await phone.authorize(await phone.start_line_login(), user.user_id, action="deny")
    assert query(callback)["error"] == "access_denied"

    status, _, location = await phone.open(callback)

    assert status == 303 and location == "/me/line?done=cancelled"
    assert not await LineAccount.exists(employee_id__isnull=False)


# Relinking and unlinking


async def test_relinking_to_a_new_line_account_replaces_the_old_after_confirming(
    sim, bot, phone, company
):
    yamada = company.employees["E001"]
    old_line = await quick_link(sim, yamada, "たろう(旧)")
    new_line = sim.add_user("たろう(新)")
    await phone.first_sign_in(yamada)

    status, html = await phone.link_line(new_line.user_id)

    assert status == 200 and "切り替えますか" in html and "たろう(新)" in html
    assert (await LineAccount.get(user_id=old_line)).employee_id == yamada.id  # not yet

    response = await phone.post("/me/line/replace")

    assert response.status == 303 and response.headers["Location"] == "/me/line?done=linked"
    assert (await LineAccount.get(user_id=new_line.user_id)).employee_id == yamada.id
    old = await LineAccount.get(user_id=old_line)
    assert old.employee_id is None and old.display_name == "たろう(旧)"
    await until(lambda: any(DONE in t for t in texts(sim, new_line.user_id)))
    # The confirmation is single use.
    assert (await phone.post("/me/line/replace")).status == 400


@SQLITE_ONLY
async def test_declining_the_relink_keeps_the_old_line_account(sim, bot, phone, company):
    yamada = company.employees["E001"]
    old_line = await quick_link(sim, yamada, "たろう(旧)")
    new_line = sim.add_user("たろう(新)")
    await phone.first_sign_in(yamada)
    status, _ = await phone.link_line(new_line.user_id)
    assert status == 200

    response = await phone.post("/me/line/replace/cancel")

    assert response.headers["Location"] == "/me/line?done=kept"
    assert (await LineAccount.get(user_id=old_line)).employee_id == yamada.id
    assert not await LineAccount.exists(user_id=new_line.user_id, employee_id__isnull=False)


async def test_unlinking_from_the_page_is_the_chats_unlink(sim, bot, phone, company, menus):
    yamada = company.employees["E001"]
    user_id = await quick_link(sim, yamada, "たろう")
    sim.richmenus.user_links[user_id] = menus["linked"]
    await phone.first_sign_in(yamada)
    status, html = await phone.get("/me/line?unlink=confirm")
    assert status == 200 and "解除しますか" in html

    response = await phone.post("/me/line/unlink")

    assert response.headers["Location"] == "/me/line?done=unlinked"
    account = await LineAccount.get(user_id=user_id)
    assert account.employee_id is None and account.linked_at is None
    assert account.display_name == "たろう"  # what the FAQ allows stays
    status, html = await phone.get("/me/line")
    assert "未登録" in html
    assert menu_seen(sim, user_id) == menus["unlinked"]  # the default again


@SQLITE_ONLY
async def test_the_supervisor_still_sees_only_whether_line_is_registered(
    sim, bot, phone, console, company
):
    from tests.conftest import make_console_user

    user = sim.add_user("ひみつの名前")
    await phone.first_sign_in(company.employees["E001"])
    status, _ = await phone.link_line(user.user_id)
    assert status == 303
    await make_console_user("boss", "maintainer")
    await console.sign_in("boss")

    status, html = await console.get("/console/employees")

    assert status == 200 and "ひみつの名前" not in html  # 連絡先情報閲覧不可 by default


@SQLITE_ONLY
async def test_without_the_login_channel_secret_the_page_offers_chat_linking(sim, database_url):
    server = await conftest.start_bot(sim, database_url, conftest.FAST_ENGINE, workers=())
    try:
        company = await make_company({"総務部": [("E001", "山田 太郎")]})
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            phone = EmployeePhone(server, sim, session)
            await phone.first_sign_in(company.employees["E001"])
            status, html = await phone.get("/me/line")
            assert status == 200 and 'id="line-link"' not in html and "「連携」と送信" in html
            assert (await phone.post("/me/line/start")).status == 404
    finally:
        await server.close()


def test_the_login_channel_secret_comes_from_the_environment():
    from bot.config import Config

    config = Config.from_env({"LINE_LOGIN_CHANNEL_SECRET": "abc"})

    assert config.line_login_channel_secret == "abc"
    assert Config.from_env({}).line_login_channel_secret == ""


@SQLITE_ONLY
async def test_line_not_answering_the_token_call_says_try_later(
    sim, bot, phone, company, monkeypatch
):
    from aiohttp import web

    user = sim.add_user("たろう")
    await phone.first_sign_in(company.employees["E001"])
    callback = await phone.authorize(await phone.start_line_login(), user.user_id)

    def unavailable(*_):
        raise web.HTTPServiceUnavailable()

    monkeypatch.setattr("line_simulator.login.id_token_claims", unavailable)

    status, html, _ = await phone.open(callback)

    assert status == 503 and "時間をおいて再度お試しください" in html
    assert not await LineAccount.exists(employee_id__isnull=False)
