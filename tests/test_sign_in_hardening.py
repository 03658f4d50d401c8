"""Sign-in under attack, over real HTTP on both forms (console, employee page): a stranger's
failures pause the stranger's address, never the account's owner on theirs, and only slow the
account; the hash queue refuses unauthenticated checks at once when full and lets a known
caller go first; sessions end on the server (sign-out, new password, disabling, a new role)
and after 12 hours however busy."""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher

from domain import hashing, throttle
from domain.actors import Actor
from domain.console_users import disable_user
from domain.throttle import SIGN_IN_LIMIT, SIGN_IN_SLOW_AFTER
from models import AuditEntry, Throttle
from tests import me_helpers
from tests.conftest import ConsoleActions, make_company, make_console_user, until
from tests.me_helpers import PASSWORD, EmployeePhone
from tests.test_cli_users import bot_cli
from web import sessions

bot, phone = me_helpers.bot, me_helpers.phone  # fixtures: the app with LINE Login on
WRONG = "not the password at all"


@pytest.fixture
async def company():
    """A maintainer `victim` on the console and employee E028 with a page password."""
    company = await make_company({"総務部": [("E028", "山田 太郎"), ("E029", "佐藤 花子")]})
    await make_console_user("victim", "maintainer")
    return company


@pytest.fixture
async def from_address(bot: TestServer) -> AsyncIterator:
    """Cookie-keeping browsers that connect from another loopback address (127.0.0.N)."""
    sessions_opened: list[aiohttp.ClientSession] = []

    def open_from(address: str) -> aiohttp.ClientSession:
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=(address, 0)),
            cookie_jar=aiohttp.CookieJar(unsafe=True),
        )
        sessions_opened.append(session)
        return session

    yield open_from
    for session in sessions_opened:
        await session.close()


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The slowing's waits, recorded instead of waited."""
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(throttle, "_sleep", record)
    return waits


def cookies_of(session: aiohttp.ClientSession) -> dict[str, str]:
    """The browser's cookies, to replay them later from another browser."""
    return {cookie.key: cookie.value for cookie in session.cookie_jar}


async def replayed(bot: TestServer, cookies: dict[str, str], path: str) -> int:
    """The status a copy of an old cookie gets on `path`."""
    async with (
        aiohttp.ClientSession(cookies=cookies) as session,
        session.get(bot.make_url(path), allow_redirects=False) as response,
    ):
        return response.status


# Failures cost the guesser, not the owner


async def test_a_stranger_hammering_a_console_login_does_not_lock_out_its_owner(
    bot, console, company, from_address, slept
):
    stranger = ConsoleActions(bot, from_address("127.0.0.2"))
    for login in ["victim", "VICTIM", "Victim", "victim", "ViCtIm"]:  # any case, one account
        assert (await stranger.sign_in(login, WRONG)).status == 401
    paused = await stranger.sign_in("victim")  # the stranger's address waits, right or not
    assert paused.status == 429 and int(paused.headers["Retry-After"]) > 0

    response = await console.sign_in("victim")  # the owner, from their own address
    assert response.status == 303 and response.headers["Location"] == "/console/"
    assert (await console.get("/console/alerts"))[0] == 200
    assert slept == []  # a handful of failures does not even slow the account
    assert await AuditEntry.filter(actor="victim", action="sign_in", result="refused").exists()


async def test_a_stranger_hammering_an_employee_code_does_not_lock_out_its_employee(
    bot, sim, phone, company, from_address, slept
):
    await phone.first_sign_in(company.employees["E028"])
    await phone.post("/me/logout")
    stranger = EmployeePhone(bot, sim, from_address("127.0.0.2"))
    for code in ["E028", "e028", "E028", "e028", "E028"]:  # any case, one employee
        assert (await stranger.sign_in(code, WRONG)).status == 401
    assert (await stranger.sign_in("E028", PASSWORD)).status == 429

    response = await phone.sign_in("E028", PASSWORD)
    assert response.status == 303 and response.headers["Location"] == "/me/"
    assert (await phone.get("/me/"))[0] == 200


async def test_failures_from_many_addresses_slow_the_account_but_never_lock_it(
    bot, console, company, from_address, slept
):
    addresses = [f"127.0.0.{n}" for n in range(2, 6)]  # 4 x 5 failures, past the slowing
    for address in addresses:
        stranger = ConsoleActions(bot, from_address(address))
        for _ in range(SIGN_IN_LIMIT):
            assert (await stranger.sign_in("victim", WRONG)).status == 401
    failures = len(addresses) * SIGN_IN_LIMIT
    assert failures > SIGN_IN_SLOW_AFTER
    # Each attempt past the ceiling waited longer than the one before (up to the cap).
    assert len(slept) == failures - SIGN_IN_SLOW_AFTER
    assert slept == sorted(slept) and slept[0] < slept[-1] <= throttle.SIGN_IN_MAX_DELAY

    waits_before = len(slept)
    response = await console.sign_in("victim")  # the owner waits too, and gets in
    assert response.status == 303
    assert len(slept) == waits_before + 1 and slept[-1] == throttle.SIGN_IN_MAX_DELAY
    assert (await console.get("/console/alerts"))[0] == 200


# The hash queue: bounded, known callers first


class GatedHasher:
    """A cheap Argon2 hasher that records what it verifies and holds every check at a gate
    until the test opens it."""

    def __init__(self) -> None:
        self._inner = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        self.gate = threading.Event()
        self.gate.set()
        self.order: list[str] = []

    def hash(self, password: str) -> str:
        """Hash as the real hasher does, at a tiny cost."""
        return self._inner.hash(password)

    def verify(self, hash: str, password: str) -> bool:
        """Record the password, wait at the gate, verify."""
        self.order.append(password)
        self.gate.wait(timeout=10)  # a safety valve: the test opens the gate
        return self._inner.verify(hash, password)


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> GatedHasher:
    """One hash slot and two waiting places, the checks held at a gate."""
    gated = GatedHasher()
    monkeypatch.setattr(hashing, "_hasher", gated)
    monkeypatch.setattr(hashing, "HASH_SLOTS", 1)
    monkeypatch.setattr(hashing, "MAX_WAITING", 2)
    monkeypatch.setattr(hashing, "_queues", weakref.WeakKeyDictionary())
    return gated


async def test_a_full_hash_queue_refuses_a_sign_in_at_once_without_counting_it(
    bot, console, company, hasher, from_address
):
    hasher.gate.clear()
    held = [
        asyncio.create_task(ConsoleActions(bot, from_address("127.0.0.2")).sign_in(f"g{n}", WRONG))
        for n in range(3)  # one checked, two waiting: the queue is full
    ]
    await until(lambda: hasher.order and hashing.waiting() == 2)

    response = await console.sign_in("victim")  # answered while every check is held
    assert response.status == 429 and int(response.headers["Retry-After"]) > 0
    assert "混み合っています" in await response.text()
    assert not await Throttle.filter(key__startswith="console:victim").exists()
    assert await AuditEntry.filter(actor="victim", action="sign_in", result="refused").exists()

    hasher.gate.set()
    assert [r.status for r in await asyncio.gather(*held)] == [401, 401, 401]
    assert (await console.sign_in("victim")).status == 303  # room again


async def test_a_signed_in_employees_check_goes_ahead_of_waiting_sign_ins(
    bot, console, phone, company, hasher, from_address
):
    await phone.first_sign_in(company.employees["E028"])
    hasher.gate.clear()
    hasher.order.clear()
    strangers = [ConsoleActions(bot, from_address(f"127.0.0.{n}")) for n in (2, 3, 4)]
    held = [asyncio.create_task(strangers[0].sign_in("victim", "first in the slot"))]
    await until(lambda: hasher.order)
    for n, stranger in enumerate(strangers[1:]):
        held.append(asyncio.create_task(stranger.sign_in("victim", f"waiting {n}")))
    await until(lambda: hashing.waiting() == 2)

    change = asyncio.create_task(
        phone.post(
            "/me/password",
            {"current": PASSWORD, "password": "another-pass-77", "confirm": "another-pass-77"},
        )
    )  # a valid session: queued (a full queue does not refuse it), and ahead of the others
    await until(lambda: hashing.waiting() == 3)
    hasher.gate.set()

    assert (await change).status == 303
    assert [r.status for r in await asyncio.gather(*held)] == [401, 401, 401]
    assert hasher.order[:2] == ["first in the slot", PASSWORD]
    assert sorted(hasher.order[2:]) == ["waiting 0", "waiting 1"]  # they raced to the queue


async def test_a_recorded_link_tokens_check_goes_ahead_of_waiting_sign_ins(
    bot, console, line, company, hasher, from_address
):
    from domain.linking import issue_registration_code, normalize_code
    from tests.test_link_hardening import post_form, sign_in_form

    issued = await issue_registration_code(company.employees["E029"])
    form = await sign_in_form(line, await line.link_url(await line.befriend("はなこ")))
    hasher.gate.clear()
    strangers = [ConsoleActions(bot, from_address(f"127.0.0.{n}")) for n in (2, 3, 4)]
    held = [asyncio.create_task(strangers[0].sign_in("victim", "first in the slot"))]
    await until(lambda: hasher.order)
    for n, stranger in enumerate(strangers[1:]):
        held.append(asyncio.create_task(stranger.sign_in("victim", f"waiting {n}")))
    await until(lambda: hashing.waiting() == 2)

    form.update(employee_code="E029", registration_code=issued.code)
    linking = asyncio.create_task(post_form(line, form))
    await until(lambda: hashing.waiting() == 3)
    hasher.gate.set()

    status, _, headers = await linking
    assert status == 302 and "accountLink" in headers["Location"]
    assert [r.status for r in await asyncio.gather(*held)] == [401, 401, 401]
    assert hasher.order[:2] == ["first in the slot", normalize_code(issued.code)]


# Sessions end on the server


async def test_a_console_cookie_replayed_after_sign_out_is_refused(bot, console, company):
    await console.sign_in("victim")
    cookies = cookies_of(console.session)
    assert await replayed(bot, cookies, "/console/alerts") == 200
    assert (await console.post("/console/logout")).status == 303
    assert await replayed(bot, cookies, "/console/alerts") == 303


async def test_a_console_cookie_replayed_after_user_passwd_is_refused(
    bot, console, company, database_url
):
    await console.sign_in("victim")
    cookies = cookies_of(console.session)
    code, _, err = await bot_cli(
        "user", "passwd", "victim", "--password-stdin",
        database_url=database_url, stdin="a brand new secret 9\n",
    )  # fmt: skip
    assert code == 0, err
    assert await replayed(bot, cookies, "/console/alerts") == 303
    assert (await console.get("/console/alerts"))[0] == 303


async def test_a_console_cookie_replayed_after_disabling_is_refused(bot, console, company):
    await console.sign_in("victim")
    cookies = cookies_of(console.session)
    await disable_user("victim", Actor.cli())
    assert await replayed(bot, cookies, "/console/alerts") == 303


@pytest.mark.parametrize(("role", "ended"), [("sender", True), ("maintainer", False)])
async def test_a_console_cookie_replayed_after_a_role_change_is_refused(
    bot, console, company, role, ended
):
    await make_console_user("boss", "maintainer")
    await console.sign_in("victim")
    cookies = cookies_of(console.session)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        boss = ConsoleActions(bot, other)
        await boss.sign_in("boss")
        saved = await boss.post("/console/users/victim/update", {"name": "山田", "role": role})
        assert saved.status == 303
    # A new role ends every older session; saving the name alone ends none.
    assert await replayed(bot, cookies, "/console/alerts") == (303 if ended else 200)
    assert (await console.get("/console/alerts"))[0] == (303 if ended else 200)


async def test_an_employee_page_cookie_replayed_after_sign_out_is_refused(bot, sim, phone, company):
    await phone.first_sign_in(company.employees["E028"])
    cookies = cookies_of(phone.session)
    assert await replayed(bot, cookies, "/me/") == 200
    assert (await phone.post("/me/logout")).status == 303
    assert await replayed(bot, cookies, "/me/") == 303
    assert await AuditEntry.filter(actor="E028", action="sign_out", result="ok").exists()


async def test_an_employee_page_cookie_replayed_after_a_password_change_is_refused(
    bot, sim, phone, company
):
    await phone.first_sign_in(company.employees["E028"])
    cookies = cookies_of(phone.session)
    response = await phone.post(
        "/me/password",
        {"current": PASSWORD, "password": "another-pass-77", "confirm": "another-pass-77"},
    )
    assert response.status == 303
    assert (await phone.get("/me/"))[0] == 200  # the session that changed it goes on
    assert await replayed(bot, cookies, "/me/") == 303


@pytest.mark.parametrize("face", ["console", "me"])
async def test_a_session_ends_after_twelve_hours_however_busy(
    bot, console, phone, company, monkeypatch, face
):
    if face == "console":
        await console.sign_in("victim")
        get, path = console.get, "/console/alerts"
    else:
        await phone.first_sign_in(company.employees["E028"])
        get, path = phone.get, "/me/"
    assert (await get(path))[0] == 200
    real_time = sessions.time.time
    monkeypatch.setattr(sessions, "IDLE_SECONDS", 10**9)  # never idle: only the age counts
    monkeypatch.setattr(sessions.time, "time", lambda: real_time() + sessions.MAX_AGE_SECONDS - 60)
    assert (await get(path))[0] == 200
    monkeypatch.setattr(sessions.time, "time", lambda: real_time() + sessions.MAX_AGE_SECONDS + 5)
    assert (await get(path))[0] == 303
