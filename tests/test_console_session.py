"""Signing in to the console: passwords, lockout that lifts, sign-out, idle expiry, roles."""

from __future__ import annotations

from functools import partial

import pytest

from domain.throttle import SIGN_IN_LIMIT
from models import AuditEntry, ConsoleUser
from tests.conftest import make_company, make_console_user
from web.ratelimit import RateLimiter
from web.sessions import IDLE_SECONDS


@pytest.fixture
async def users(bot):
    company = await make_company({"総務部": [("E1", "山田")], "営業部": [("E2", "佐藤")]})
    await make_console_user("boss", "maintainer")
    await make_console_user("soumu", "supervisor", [company.departments["総務部"]])
    return company


async def test_anonymous_visitors_are_sent_to_sign_in(console, users):
    status, _ = await console.get("/console/alerts")
    assert status == 303
    status, html = await console.get("/console/login?next=/console/alerts")
    assert status == 200 and "ログインID" in html


async def test_signing_in_opens_the_console_and_signing_out_closes_it(console, users):
    response = await console.sign_in("boss")
    assert response.status == 303 and response.headers["Location"] == "/console/"
    status, html = await console.get("/console/alerts")
    assert status == 200 and "安否確認一覧" in html and "boss" in html
    response = await console.post("/console/logout")
    assert response.status == 303
    status, _ = await console.get("/console/alerts")
    assert status == 303
    assert await AuditEntry.filter(actor="boss", action="sign_in", result="ok").exists()
    assert await AuditEntry.filter(actor="boss", action="sign_out").exists()


@pytest.mark.parametrize("login", ["boss", "nobody"])
async def test_a_wrong_password_and_an_unknown_login_are_answered_alike(console, users, login):
    response = await console.sign_in(login, "wrong password!")
    assert response.status == 401
    status, _ = await console.get("/console/alerts")
    assert status == 303


async def test_repeated_failures_pause_sign_in_and_say_when_it_lifts(console, users):
    for _ in range(SIGN_IN_LIMIT):
        assert (await console.sign_in("boss", "wrong password!")).status == 401
    response = await console.sign_in("boss")  # even the right password waits now
    assert response.status == 429
    assert int(response.headers["Retry-After"]) > 0
    status, _ = await console.get("/console/alerts")
    assert status == 303


async def test_sign_in_without_the_csrf_token_is_forbidden(console, users):
    response = await console.post("/console/login", {"login": "boss", "password": "x"}, csrf=False)
    assert response.status == 403


async def test_a_session_idle_too_long_is_signed_out(console, users, monkeypatch):
    await console.sign_in("boss")
    assert (await console.get("/console/alerts"))[0] == 200
    import web.sessions as auth

    real_time = auth.time.time
    monkeypatch.setattr(auth.time, "time", lambda: real_time() + IDLE_SECONDS + 5)
    assert (await console.get("/console/alerts"))[0] == 303


async def test_a_disabled_user_is_signed_out_at_the_next_request(console, users):
    await console.sign_in("soumu")
    assert (await console.get("/console/alerts"))[0] == 200
    await ConsoleUser.filter(login="soumu").update(active=False)
    assert (await console.get("/console/alerts"))[0] == 303


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/elsewhere"])
async def test_sign_in_never_redirects_outside_the_console(console, users, target):
    response = await console.post(
        "/console/login", {"login": "boss", "password": "correct horse battery staple",
                           "next": target},
    )  # fmt: skip
    assert response.headers["Location"] == "/console/"


@pytest.fixture
def address_clock_stopped(monkeypatch):
    """The console's per-address limiter, created with a clock that stands still: no attempt
    is refilled while a slow machine checks the burst's passwords (0.5 a second)."""
    monkeypatch.setattr("console.app.RateLimiter", partial(RateLimiter, clock=lambda: 1000.0))


async def test_one_address_spraying_logins_is_paused_before_any_password_check(
    address_clock_stopped, console, users
):
    from console.app import ADDRESS_BURST
    from models import Throttle

    for n in range(ADDRESS_BURST):
        assert (await console.sign_in(f"guess{n}", "wrong password!")).status == 401
    response = await console.sign_in("boss")  # a new login, the right password: still waits
    assert response.status == 429 and int(response.headers["Retry-After"]) > 0
    # Only the attempts that got through reached the per-login counters (and a hash check).
    assert await Throttle.filter(key__startswith="console:").count() == ADDRESS_BURST
