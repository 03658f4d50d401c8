"""The local LINE platform's LINE Login for web pages, alone: the authorization page (pick the
local LINE user, consent, 友だち追加 sends the follow event), the token endpoint (code → access
token + ID token, single use, PKCE, redirect_uri and client checked) and verify with nonce."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest
from aiohttp import web

from line_simulator import Simulator
from tests.conftest import held_port_server

SECRET = "login-channel-secret"
CALLBACK = "https://anpi.example/me/line/callback"


@pytest.fixture
def login_sim(sim: Simulator) -> Simulator:
    """The simulator with its LINE Login channel's secret and one registered callback."""
    sim.config.login_channel_secret = SECRET
    sim.config.login_redirect_uris.append(CALLBACK)
    return sim


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A browser that does not follow redirects by itself (cookies kept)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


@pytest.fixture
async def webhook(login_sim: Simulator) -> AsyncIterator[list[dict[str, Any]]]:
    """A stand-in bot that records the webhook events the simulator sends it."""
    received: list[dict[str, Any]] = []

    async def callback(request: web.Request) -> web.Response:
        received.extend((await request.json())["events"])
        return web.Response()

    app = web.Application()
    app.router.add_post("/callback", callback)
    server = held_port_server(app)
    await server.start_server()
    login_sim.config.webhook_url = str(server.make_url("/callback"))
    yield received
    await server.close()


def pkce() -> tuple[str, str]:
    """A verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_params(sim: Simulator, challenge: str, **changes: str) -> dict[str, str]:
    """An authorization request as the employee page makes it."""
    params = {
        "response_type": "code",
        "client_id": sim.config.login_channel_id,
        "redirect_uri": CALLBACK,
        "state": "state-123",
        "scope": "openid profile",
        "nonce": "nonce-456",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "bot_prompt": "aggressive",
    } | changes
    return {k: v for k, v in params.items() if v != ""}


def base(sim: Simulator) -> str:
    return sim.config.public_base_url or ""


async def consent(
    http: aiohttp.ClientSession,
    sim: Simulator,
    params: dict[str, str],
    user_id: str,
    *,
    add_friend: bool = True,
    action: str = "allow",
) -> aiohttp.ClientResponse:
    """Submit the consent form as the chosen user."""
    form = dict(params, user=user_id, action=action)
    if add_friend:
        form["add_friend"] = "1"
    async with http.post(
        f"{base(sim)}/oauth2/v2.1/authorize", data=form, allow_redirects=False
    ) as response:
        await response.read()
        return response


def back(response: aiohttp.ClientResponse) -> dict[str, str]:
    """The query LINE sends the browser back to the callback with."""
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def exchange(
    http: aiohttp.ClientSession, sim: Simulator, code: str, verifier: str, **changes: str
) -> tuple[int, dict[str, Any]]:
    """POST the token endpoint; status and JSON."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "client_id": sim.config.login_channel_id,
        "client_secret": SECRET,
        "code_verifier": verifier,
    } | changes
    async with http.post(f"{base(sim)}/oauth2/v2.1/token", data=form) as response:
        return response.status, await response.json()


async def a_code(http, sim: Simulator, verifier_challenge=None, **changes) -> tuple[str, str]:
    """A fresh authorization code for a new user who is already a friend; (code, verifier)."""
    verifier, challenge = verifier_challenge or pkce()
    user = sim.add_user("たろう")
    user.friend = True
    response = await consent(http, sim, authorize_params(sim, challenge, **changes), user.user_id)
    return back(response)["code"], verifier


async def test_the_authorize_page_lists_local_users_and_offers_add_friend(login_sim, http):
    login_sim.add_user("たろう")
    login_sim.add_user("はなこ")
    _, challenge = pkce()
    params = authorize_params(login_sim, challenge)
    url = f"{base(login_sim)}/oauth2/v2.1/authorize?{urlencode(params)}"

    async with http.get(url) as page:
        html = await page.text()

    assert page.status == 200
    assert "たろう" in html and "はなこ" in html
    assert 'name="add_friend"' in html and "友だち追加" in html
    assert "プロフィール情報" in html


async def test_without_bot_prompt_there_is_no_add_friend(login_sim, http):
    login_sim.add_user("たろう")
    _, challenge = pkce()
    params = authorize_params(login_sim, challenge, bot_prompt="")

    async with http.get(f"{base(login_sim)}/oauth2/v2.1/authorize?{urlencode(params)}") as page:
        html = await page.text()

    assert page.status == 200 and 'name="add_friend"' not in html


@pytest.mark.parametrize(
    "changes",
    [{"client_id": "9999"}, {"redirect_uri": "https://evil.example/callback"}],
    ids=["wrong-client", "unregistered-redirect-uri"],
)
async def test_an_untrusted_request_is_refused_on_lines_own_page(login_sim, http, changes):
    _, challenge = pkce()
    params = authorize_params(login_sim, challenge, **changes)

    async with http.get(
        f"{base(login_sim)}/oauth2/v2.1/authorize?{urlencode(params)}", allow_redirects=False
    ) as page:
        html = await page.text()

    assert page.status == 400 and "Location" not in page.headers
    assert "Invalid" in html


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "openid phone"}, "invalid_scope"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"bot_prompt": "always"}, "invalid_request"),
    ],
    ids=["response-type", "scope", "pkce-plain", "bot-prompt"],
)
async def test_a_bad_request_goes_back_with_an_error(login_sim, http, changes, error):
    _, challenge = pkce()
    params = authorize_params(login_sim, challenge, **changes)

    async with http.get(
        f"{base(login_sim)}/oauth2/v2.1/authorize?{urlencode(params)}", allow_redirects=False
    ) as response:
        assert response.status == 302
        query = back(response)

    assert query["error"] == error and query["state"] == "state-123"


async def test_consent_with_add_friend_befriends_and_sends_the_follow_event_first(
    login_sim, http, webhook
):
    user = login_sim.add_user("たろう")
    _, challenge = pkce()

    response = await consent(http, login_sim, authorize_params(login_sim, challenge), user.user_id)

    query = back(response)
    assert query["state"] == "state-123" and query["code"]
    assert query["friendship_status_changed"] == "true"
    assert user.reachable
    assert [e["type"] for e in webhook] == ["follow"]
    assert webhook[0]["source"]["userId"] == user.user_id


async def test_consent_without_add_friend_or_already_a_friend_sends_nothing(
    login_sim, http, webhook
):
    stranger = login_sim.add_user("たろう")
    friend = login_sim.add_user("はなこ")
    friend.friend = True
    _, challenge = pkce()
    params = authorize_params(login_sim, challenge)

    unticked = back(await consent(http, login_sim, params, stranger.user_id, add_friend=False))
    already = back(await consent(http, login_sim, params, friend.user_id))

    assert unticked["friendship_status_changed"] == "false" and not stranger.reachable
    assert already["friendship_status_changed"] == "false"
    assert webhook == []


async def test_denying_goes_back_with_access_denied(login_sim, http):
    user = login_sim.add_user("たろう")
    _, challenge = pkce()

    response = await consent(
        http, login_sim, authorize_params(login_sim, challenge), user.user_id, action="deny"
    )

    query = back(response)
    assert query["error"] == "access_denied" and query["state"] == "state-123"
    assert "code" not in query


async def test_the_code_is_exchanged_once_for_an_id_token_lines_verify_accepts(login_sim, http):
    code, verifier = await a_code(http, login_sim)

    status, body = await exchange(http, login_sim, code, verifier)

    assert status == 200
    assert body["token_type"] == "Bearer" and body["access_token"] and body["expires_in"] > 0
    assert body["scope"] == "openid profile"
    form = {"id_token": body["id_token"], "client_id": login_sim.config.login_channel_id}
    async with http.post(
        f"{base(login_sim)}/oauth2/v2.1/verify", data=form | {"nonce": "nonce-456"}
    ) as verified:
        claims = await verified.json()
    assert verified.status == 200
    assert claims["iss"] == "https://access.line.me" and claims["nonce"] == "nonce-456"
    assert claims["name"] == "たろう" and claims["sub"].startswith("U")
    async with http.post(
        f"{base(login_sim)}/oauth2/v2.1/verify", data=form | {"nonce": "another"}
    ) as refused:
        assert refused.status == 400
        assert (await refused.json())["error_description"] == "Invalid IdToken Nonce."

    again, error = await exchange(http, login_sim, code, verifier)
    assert again == 400 and error["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"redirect_uri": "https://anpi.example/other"}, "invalid_grant"),
        ({"code_verifier": "x" * 50}, "invalid_grant"),
        ({"code_verifier": ""}, "invalid_grant"),
        ({"client_secret": "wrong"}, "invalid_client"),
        ({"grant_type": "refresh_token"}, "unsupported_grant_type"),
    ],
    ids=["wrong-redirect-uri", "wrong-verifier", "no-verifier", "wrong-secret", "grant-type"],
)
async def test_the_token_endpoint_refuses_a_mismatch(login_sim, http, changes, error):
    code, verifier = await a_code(http, login_sim)

    status, body = await exchange(http, login_sim, code, verifier, **changes)

    assert status == 400 and body["error"] == error
    assert "id_token" not in body


async def test_a_code_expires_after_ten_minutes(login_sim, http):
    code, verifier = await a_code(http, login_sim)
    login_sim.clock.advance(601)

    status, body = await exchange(http, login_sim, code, verifier)

    assert status == 400 and body["error"] == "invalid_grant"


async def test_scope_without_openid_gives_no_id_token(login_sim, http):
    code, verifier = await a_code(http, login_sim, scope="profile")

    status, body = await exchange(http, login_sim, code, verifier)

    assert status == 200 and "id_token" not in body


def test_an_issued_id_token_carries_the_nonce(login_sim):
    from line_simulator.login import AuthorizationCode, id_token_claims

    user = login_sim.add_user("たろう")
    code = AuthorizationCode(
        "1", CALLBACK, user.user_id, ("openid",), "n-1", None, login_sim.clock.now()
    )

    claims = id_token_claims(login_sim, code)

    assert claims["nonce"] == "n-1" and "name" not in claims
    assert json.dumps(claims)  # plain JSON
