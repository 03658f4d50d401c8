"""What an attacker or a LINE outage does to the LIFF API and our pages: a LINE outage is not a
bad token, odd input is a 4xx (never a 500), an error is never larger than its request, and
every page carries the security headers."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, replace

import aiohttp
import pytest
from aiohttp.test_utils import unused_port

from domain.actors import Actor
from domain.alerts import start_alert
from domain.answers import MAX_NAMED_PROBLEMS, validate_answer
from domain.check_items import parse_items
from domain.errors import Invalid
from models import Alert, Answer, Template
from models.alert_templates import DEFAULT_TEMPLATE
from tests.conftest import free_port_socket, held_port_server, make_company, quick_link, until
from web.headers import content_security_policy
from web.keys import HTTP, ID_TOKENS
from web.line_keys import LineKeys

GOOD = {"本人": "無事", "家族": "全員無事", "家屋": "被害なし", "出社": "可能"}
TRY_LATER = "時間をおいて再度お試しください。"


@dataclass
class Drill:
    alert: Alert
    user_id: str


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> dict:
        return json.loads(self.raw)


@pytest.fixture
async def drill(sim, bot) -> Drill:
    company = await make_company({"総務部": [("E1", "山田 太郎")]})
    user_id = await quick_link(sim, company.employees["E1"])
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    await until(lambda: sim.messages_for(user_id))  # the drill reached their LINE
    return Drill(started.alert, user_id)


@pytest.fixture
def send(browser_session, bot):
    """Call the bot as the LIFF page's script would; return status, headers and raw body."""

    async def run(method: str, path: str, token: str | None = None, **kwargs) -> Reply:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kwargs.pop("headers", {}))
        async with browser_session.request(
            method, bot.make_url(path), headers=headers, **kwargs
        ) as response:
            return Reply(response.status, dict(response.headers), await response.read())

    return run


def answer_path(drill: Drill) -> str:
    return f"/liff/api/alerts/{drill.alert.id}/answer"


# A LINE outage is not a bad token (issue 6, point 4). Since LIFF tokens are verified with
# LINE's published keys (tests/test_id_token_keys.py), LINE's verify endpoint decides only when
# those keys cannot be fetched: these tests take the keys away first.


def keys_unreachable(sim) -> None:
    """LINE's keys (`/oauth2/v2.1/certs`) cannot be fetched: the verify endpoint decides."""
    sim.inject_fault("certs", 500, times=1000)


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_when_line_cannot_verify_the_employee_is_told_to_try_later(sim, drill, send, status):
    keys_unreachable(sim)
    sim.inject_fault("verify", status)
    reply = await send(
        "POST", answer_path(drill), sim.issue_id_token(drill.user_id), json={"choices": GOOD}
    )
    assert reply.status == 503
    assert reply.body["error"] == "line_unavailable"
    assert reply.body["message"].endswith(TRY_LATER)
    assert int(reply.headers["Retry-After"]) > 0
    assert not await Answer.exists(alert_id=drill.alert.id)


async def test_after_the_outage_the_same_answer_goes_through(sim, drill, send):
    keys_unreachable(sim)
    token = sim.issue_id_token(drill.user_id)
    sim.inject_fault("verify", 500)
    first = await send("POST", answer_path(drill), token, json={"choices": GOOD})
    assert first.status == 503
    second = await send("POST", answer_path(drill), token, json={"choices": GOOD})
    assert second.status == 200 and second.body["status"] == "回答済"


async def test_a_token_line_refuses_with_400_is_still_a_bad_token(sim, drill, send):
    keys_unreachable(sim)
    sim.inject_fault("verify", 400)
    reply = await send(
        "GET", f"/liff/api/alerts/{drill.alert.id}", sim.issue_id_token(drill.user_id)
    )
    assert reply.status == 401 and reply.body["error"] == "invalid_id_token"
    assert "Retry-After" not in reply.headers


async def test_a_verify_call_that_never_answers_is_line_unavailable(sim, bot, drill, send):
    keys_unreachable(sim)
    bot.app[ID_TOKENS].timeout = aiohttp.ClientTimeout(total=0.2)
    line_answers = asyncio.Event()
    sim.inject_fault("verify", 200, hold=line_answers)
    try:
        reply = await send(
            "GET", f"/liff/api/alerts/{drill.alert.id}", sim.issue_id_token(drill.user_id)
        )
    finally:
        line_answers.set()
    assert reply.status == 503 and reply.body["error"] == "line_unavailable"
    assert reply.body["message"].endswith(TRY_LATER) and "Retry-After" in reply.headers


async def test_when_line_cannot_be_reached_at_all_it_is_line_unavailable(sim, bot, drill, send):
    keys_unreachable(sim)
    nowhere = f"http://127.0.0.1:{unused_port()}"  # nothing listens
    bot.app[ID_TOKENS].api_base_url = nowhere
    bot.app[ID_TOKENS].keys = LineKeys(bot.app[HTTP], nowhere)
    reply = await send(
        "GET", f"/liff/api/alerts/{drill.alert.id}", sim.issue_id_token(drill.user_id)
    )
    assert reply.status == 503 and reply.body["error"] == "line_unavailable"


@pytest.mark.parametrize("kind", ["not-a-jwt", "payload-not-json", "no-exp", "long-expired"])
async def test_a_token_that_cannot_be_valid_is_refused_without_asking_line(sim, drill, send, kind):
    def segment(claims: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")

    tokens = {
        "not-a-jwt": "not-a-jwt",
        "payload-not-json": "eyJhbGciOiJFUzI1NiJ9.bm90IGpzb24.c2ln",
        "no-exp": f"eyJhbGciOiJFUzI1NiJ9.{segment({'sub': drill.user_id})}.c2ln",
        "long-expired": sim.issue_id_token(drill.user_id, expires_in=-3600),
    }
    sim.inject_fault("verify", 500)  # would turn into a 503 if LINE were asked
    reply = await send("GET", f"/liff/api/alerts/{drill.alert.id}", tokens[kind])
    assert reply.status == 401 and reply.body["error"] == "invalid_id_token"
    assert "verify" in sim.faults, "LINE's verify endpoint was called"


# Odd input is a 4xx, never a 500 (issue 6, point 6)


@pytest.mark.parametrize("alert_id", ["2147483648", "4294967296", "9999999999"])
async def test_an_alert_number_past_the_database_int_is_not_found(sim, drill, send, alert_id):
    token = sim.issue_id_token(drill.user_id)
    reply = await send("GET", f"/liff/api/alerts/{alert_id}", token)
    assert reply.status == 404 and reply.body["error"] == "alert_not_found"
    reply = await send("POST", f"/liff/api/alerts/{alert_id}/answer", token, json={"choices": GOOD})
    assert reply.status == 404 and reply.body["error"] == "alert_not_found"


async def test_an_alert_number_past_64_bits_is_not_found(sim, drill, send):
    token = sim.issue_id_token(drill.user_id)
    reply = await send("GET", "/liff/api/alerts/9223372036854775808", token)
    assert reply.status == 404


async def test_json_nested_thousands_deep_is_bad_json(sim, drill, send):
    nested = b'{"choices":' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    reply = await send(
        "POST",
        answer_path(drill),
        sim.issue_id_token(drill.user_id),
        data=nested,
        headers={"Content-Type": "application/json"},
    )
    assert reply.status == 400 and reply.body["error"] == "bad_json"


async def test_json_nested_100000_deep_is_refused_as_too_large(sim, drill, send):
    reply = await send(
        "POST",
        answer_path(drill),
        sim.issue_id_token(drill.user_id),
        data=b"[" * 100_000 + b"]" * 100_000,
        headers={"Content-Type": "application/json"},
    )
    assert reply.status == 413 and reply.body["error"] == "body_too_large"


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_body_larger_than_any_answer_is_refused_with_413(sim, drill, send, framing):
    body = json.dumps({"choices": GOOD, "message": "あ" * 30_000}).encode()  # about 90 kB

    async def chunks():
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    reply = await send(
        "POST",
        answer_path(drill),
        sim.issue_id_token(drill.user_id),
        data=body if framing == "content-length" else chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert reply.status == 413
    assert reply.body["error"] == "body_too_large" and reply.body["message"]
    assert not await Answer.exists(alert_id=drill.alert.id)


# An error is never larger than its request (issue 6, point 7)


async def test_thousands_of_made_up_items_get_a_short_fixed_refusal(sim, drill, send):
    choices = {**GOOD, **{f"x{n:05d}": "y" for n in range(3000)}}  # about 48 kB
    payload = json.dumps({"choices": choices}).encode()
    reply = await send(
        "POST",
        answer_path(drill),
        sim.issue_id_token(drill.user_id),
        data=payload,
        headers={"Content-Type": "application/json"},
    )
    assert reply.status == 422 and reply.body["error"] == "invalid_answer"
    assert len(reply.raw) < 1000 < len(payload)
    assert "x0" not in reply.body["message"] and "fields" not in reply.body


def test_sixty_thousand_unknown_labels_name_no_field():
    items = parse_items(DEFAULT_TEMPLATE["items"])
    with pytest.raises(Invalid) as refused:
        validate_answer(items, {f"x{n}": "y" for n in range(60_000)}, "")
    assert refused.value.fields == {} and len(refused.value.message) < 100


def test_an_error_names_a_few_problems_and_echoes_little_of_the_input():
    items = parse_items(DEFAULT_TEMPLATE["items"])
    long = "長" * 10_000
    with pytest.raises(Invalid) as refused:
        validate_answer(
            items, {long: "無事", "本人": long, "家族": long, "家屋": long}, "あ" * 1001
        )
    error = refused.value
    assert len(error.fields) <= MAX_NAMED_PROBLEMS
    assert len(error.message) < 500 and all(len(key) < 30 for key in error.fields)
    # Six problems (the unknown label, three choices, 出社 missing, the message): five named.
    assert "ほか1件" in error.message


# Security headers on every page (issue 6, point 9)


@pytest.mark.parametrize(
    "path",
    ["/liff/?liff.state=%3Falert%3D1", "/link", "/liff/static/answer.js", "/healthz", "/nope"],
    ids=["liff-page", "link-page", "static", "json", "not-found"],
)
async def test_every_response_carries_the_security_headers(sim, bot, send, path):
    reply = await send("GET", path)
    headers = reply.headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert f"script-src 'self' {sim.config.public_base_url}" in csp
    server = headers["Server"]
    assert "aiohttp" not in server and "Python" not in server
    assert not any(c.isdigit() for c in server)


def test_the_csp_allows_lines_sdk_from_its_cdn_and_lines_hosts_in_production():
    csp = content_security_policy("https://static.line-scdn.net/liff/edge/2/sdk.js")
    assert "script-src 'self' https://static.line-scdn.net;" in csp
    assert "connect-src 'self' https://*.line.me https://*.line-scdn.net;" in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]


async def test_even_an_unhandled_error_page_names_no_versions(sim, sqlite_db):
    """aiohttp's own 500 page bypasses middlewares: the headers come with every response."""
    from aiohttp import web

    from bot.app import create_app
    from tests.conftest import bot_config

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    listening = free_port_socket()
    port = listening.getsockname()[1]
    app = create_app(replace(bot_config(sim, sqlite_db, port), workers=()))
    app.router.add_get("/broken", broken)
    server = held_port_server(app, listening)
    await server.start_server()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(server.make_url("/broken")) as response,
        ):
            assert response.status == 500
            assert response.headers["Server"] == "Anpi"
            assert response.headers["X-Frame-Options"] == "DENY"
    finally:
        await server.close()


@pytest.mark.parametrize(("base", "hsts"), [("https://anpi.example", True), ("http://x", False)])
async def test_hsts_is_sent_on_every_response_only_when_served_over_https(
    sim, sqlite_db, base, hsts
):

    from bot.app import create_app
    from tests.conftest import bot_config

    listening = free_port_socket()
    port = listening.getsockname()[1]
    config = replace(bot_config(sim, sqlite_db, port), workers=(), public_base_url=base)
    server = held_port_server(create_app(config), listening)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            for path in ["/healthz", "/console/login", "/me/", "/liff/static/answer.js", "/nope"]:
                async with session.get(server.make_url(path), allow_redirects=False) as response:
                    value = response.headers.get("Strict-Transport-Security")
                    if hsts:
                        max_age = int(value.split("max-age=")[1].split(";")[0])
                        assert max_age >= 365 * 24 * 3600, path
                    else:
                        assert value is None, path
    finally:
        await server.close()
