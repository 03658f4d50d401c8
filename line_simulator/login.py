"""LINE Login views (the access.line.me / api.line.me oauth2 role): the authorization page
(pick the local LINE user, consent, 友だち追加), the token endpoint (code → access token + ID
token, PKCE checked), verify and certs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from line_simulator import ids
from line_simulator.errors import default_fault_body
from line_simulator.id_tokens import ISSUER, IdTokenError, verify_id_token
from line_simulator.keys import SIMULATOR
from line_simulator.liff_host import USER_COOKIE
from line_simulator.pages import notice, render

if TYPE_CHECKING:
    from line_simulator.simulator import Simulator

log = logging.getLogger(__name__)


def _error(description: str, *, status: int = 400, error: str = "invalid_request") -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


async def verify(request: web.Request) -> web.Response:
    """POST /oauth2/v2.1/verify (form `id_token`, `client_id`, optional `nonce`, `user_id`)."""
    sim = request.app[SIMULATOR]
    fault = sim.take_fault("verify")
    if fault is not None:
        if fault.hold is not None:
            await fault.hold.wait()
        if fault.body is not None:
            return web.json_response(fault.body, status=fault.status)
        kind = "server_error" if fault.status >= 500 else "invalid_request"
        message = default_fault_body(fault.status)["message"]
        return _error(message, status=fault.status, error=kind)
    form = await request.post()
    token, client_id = form.get("id_token"), form.get("client_id")
    if not isinstance(token, str) or not token:
        return _error("Required parameter 'id_token' is missing.")
    if not isinstance(client_id, str) or not client_id:
        return _error("Required parameter 'client_id' is missing.")
    nonce, user_id = form.get("nonce"), form.get("user_id")
    try:
        claims = verify_id_token(
            sim.signer,
            token,
            client_id,
            sim.clock.now(),
            nonce=nonce if isinstance(nonce, str) else None,
            user_id=user_id if isinstance(user_id, str) else None,
        )
    except IdTokenError as error:
        log.info("ID token refused: %s", error)
        return _error(str(error))
    return web.json_response(claims)


async def certs(request: web.Request) -> web.Response:
    """GET /oauth2/v2.1/certs: the public keys of the simulator's ES256 ID tokens."""
    sim = request.app[SIMULATOR]
    fault = sim.take_fault("certs")
    if fault is not None:
        if fault.hold is not None:
            await fault.hold.wait()
        return web.json_response(
            fault.body or default_fault_body(fault.status), status=fault.status
        )
    return web.json_response(sim.signer.jwks())


# The authorization code flow of LINE Login for web apps (LINE Login v2.1 reference:
# GET /oauth2/v2.1/authorize, POST /oauth2/v2.1/token).

AUTHORIZATION_CODE_TTL = 600.0  # LINE: an authorization code is valid for 10 minutes
ID_TOKEN_LIFETIME = 3600
ACCESS_TOKEN_LIFETIME = 30 * 24 * 3600  # LINE: 30 days
SCOPES = ("openid", "profile", "email")
BOT_PROMPTS = ("normal", "aggressive")
# RFC 7636: a verifier is 43-128 unreserved characters; an S256 challenge is 43 base64url.
VERIFIER_SHAPE = re.compile(r"[A-Za-z0-9._~-]{43,128}")
CHALLENGE_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass
class AuthorizationCode:
    """A code the authorization page issued: for whom, for which request, whether used."""

    client_id: str
    redirect_uri: str
    user_id: str
    scopes: tuple[str, ...]
    nonce: str | None
    code_challenge: str | None
    issued_at: float
    used: bool = False


_codes: weakref.WeakKeyDictionary[Simulator, dict[str, AuthorizationCode]] = (
    weakref.WeakKeyDictionary()
)


def authorization_codes(sim: Simulator) -> dict[str, AuthorizationCode]:
    """The authorization codes the simulator issued (by code)."""
    return _codes.setdefault(sim, {})


@dataclass(frozen=True)
class AuthorizeRequest:
    """The checked parameters of an authorization request."""

    client_id: str
    redirect_uri: str
    state: str
    scopes: tuple[str, ...]
    nonce: str | None
    code_challenge: str | None
    bot_prompt: str | None

    def fields(self) -> dict[str, str]:
        """The request as the consent form carries it on."""
        values = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "state": self.state,
            "scope": " ".join(self.scopes),
            "nonce": self.nonce or "",
            "code_challenge": self.code_challenge or "",
            "code_challenge_method": "S256" if self.code_challenge else "",
            "bot_prompt": self.bot_prompt or "",
        }
        return {k: v for k, v in values.items() if v}


class AuthorizeError(Exception):
    """A request LINE refuses: on its own page (no trusted redirect_uri yet), or by
    redirecting back with `error` and `error_description`."""

    def __init__(self, error: str, description: str, *, redirect_uri: str | None = None,
                 state: str | None = None) -> None:  # fmt: skip
        super().__init__(description)
        self.error = error
        self.description = description
        self.redirect_uri = redirect_uri
        self.state = state


def parse_authorize(sim: Simulator, params: Any) -> AuthorizeRequest:
    """Check an authorization request as LINE does (raises AuthorizeError)."""

    def value(name: str) -> str:
        raw = params.get(name, "")
        return raw if isinstance(raw, str) else ""

    if value("client_id") != sim.config.login_channel_id:
        raise AuthorizeError("invalid_request", "Invalid client_id")
    redirect_uri = value("redirect_uri")
    if redirect_uri not in sim.config.login_redirect_uris:
        raise AuthorizeError("invalid_request", "Invalid redirect_uri value")
    state = value("state")

    def refuse(error: str, description: str) -> AuthorizeError:
        return AuthorizeError(error, description, redirect_uri=redirect_uri, state=state)

    if value("response_type") != "code":
        raise refuse("unsupported_response_type", "response_type must be code")
    if not state:
        raise refuse("invalid_request", "state is required")
    scopes = tuple(value("scope").split())
    if not scopes or any(scope not in SCOPES for scope in scopes):
        raise refuse("invalid_scope", "invalid scope")
    challenge, method = value("code_challenge"), value("code_challenge_method")
    if challenge or method:
        if method != "S256":
            raise refuse("invalid_request", "code_challenge_method must be S256")
        if not CHALLENGE_SHAPE.fullmatch(challenge):
            raise refuse("invalid_request", "invalid code_challenge")
    bot_prompt = value("bot_prompt")
    if bot_prompt and bot_prompt not in BOT_PROMPTS:
        raise refuse("invalid_request", "bot_prompt must be normal or aggressive")
    return AuthorizeRequest(
        client_id=value("client_id"),
        redirect_uri=redirect_uri,
        state=state,
        scopes=scopes,
        nonce=value("nonce") or None,
        code_challenge=challenge or None,
        bot_prompt=bot_prompt or None,
    )


def _back_to(redirect_uri: str, query: dict[str, str]) -> web.Response:
    separator = "&" if "?" in redirect_uri else "?"
    return web.Response(
        status=302, headers={"Location": redirect_uri + separator + urlencode(query)}
    )


def _refused(error: AuthorizeError) -> web.Response:
    if error.redirect_uri is None:
        return notice("LINEログイン", f"400 Bad Request: {error.description}", status=400)
    query = {"error": error.error, "error_description": error.description}
    if error.state:
        query["state"] = error.state
    return _back_to(error.redirect_uri, query)


def _consent_page(
    sim: Simulator, request: web.Request, login: AuthorizeRequest, *, error: str = "",
    status: int = 200,
) -> web.Response:  # fmt: skip
    current = request.cookies.get(USER_COOKIE, "")
    users = list(sim.users.values())
    chosen = current if current in sim.users else (users[0].user_id if users else "")
    return render(
        "login_authorize.html",
        status=status,
        title="LINEログイン",
        fields=login.fields(),
        users=users,
        chosen=chosen,
        scopes=login.scopes,
        bot_prompt=login.bot_prompt,
        error=error,
    )


async def authorize(request: web.Request) -> web.Response:
    """GET /oauth2/v2.1/authorize: the consent page (which local LINE user you are, what the
    channel may read, and 友だち追加 when `bot_prompt` asks for it)."""
    sim = request.app[SIMULATOR]
    try:
        login = parse_authorize(sim, request.query)
    except AuthorizeError as error:
        return _refused(error)
    return _consent_page(sim, request, login)


async def consent(request: web.Request) -> web.Response:
    """POST /oauth2/v2.1/authorize: allow (befriend the bot first if 友だち追加 is ticked)
    and go back with a code, or deny and go back with `access_denied`."""
    sim = request.app[SIMULATOR]
    form = await request.post()
    try:
        login = parse_authorize(sim, form)
    except AuthorizeError as error:
        return _refused(error)
    if form.get("action") != "allow":
        description = "The resource owner denied the request."
        return _back_to(
            login.redirect_uri,
            {"error": "access_denied", "error_description": description, "state": login.state},
        )
    user = sim.users.get(str(form.get("user", "")))
    if user is None:
        return _consent_page(sim, request, login, error="ユーザーを選んでください。", status=400)
    friendship_changed = False
    if login.bot_prompt and form.get("add_friend") == "1" and not user.reachable:
        friendship_changed = True
        try:
            await sim.follow(user.user_id)  # the follow event reaches the bot first, as on LINE
        except (aiohttp.ClientError, TimeoutError, RuntimeError) as error:
            log.warning("follow event not delivered: %s", type(error).__name__)
    code = ids.opaque_token(24)
    authorization_codes(sim)[code] = AuthorizationCode(
        client_id=login.client_id,
        redirect_uri=login.redirect_uri,
        user_id=user.user_id,
        scopes=login.scopes,
        nonce=login.nonce,
        code_challenge=login.code_challenge,
        issued_at=sim.clock.now(),
    )
    query = {"code": code, "state": login.state}
    if login.bot_prompt:
        query["friendship_status_changed"] = "true" if friendship_changed else "false"
    response = _back_to(login.redirect_uri, query)
    response.set_cookie(USER_COOKIE, user.user_id, path="/", httponly=True, samesite="Lax")
    return response


def _token_error(error: str, description: str, status: int = 400) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a verifier."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def id_token_claims(sim: Simulator, code: AuthorizationCode) -> dict[str, Any]:
    """The claims of the ID token a code is exchanged for (`name` with scope profile)."""
    now = int(sim.clock.now())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": code.user_id,
        "aud": code.client_id,
        "exp": now + ID_TOKEN_LIFETIME,
        "iat": now,
        "amr": ["linesso"],
    }
    if code.nonce is not None:
        claims["nonce"] = code.nonce
    if "profile" in code.scopes:
        claims["name"] = sim.users[code.user_id].display_name
    return claims


async def token(request: web.Request) -> web.Response:
    """POST /oauth2/v2.1/token: exchange an authorization code, once, for an access token
    and (scope openid) an ID token; the redirect_uri and the PKCE verifier must match."""
    sim = request.app[SIMULATOR]
    form = await request.post()

    def value(name: str) -> str:
        raw = form.get(name, "")
        return raw if isinstance(raw, str) else ""

    if value("grant_type") != "authorization_code":
        return _token_error("unsupported_grant_type", "unsupported grant_type")
    secret = sim.config.login_channel_secret
    if (
        value("client_id") != sim.config.login_channel_id
        or not secret
        or not hmac.compare_digest(value("client_secret").encode(), secret.encode())
    ):
        return _token_error("invalid_client", "invalid client")
    record = authorization_codes(sim).get(value("code"))
    if record is None or record.client_id != value("client_id"):
        return _token_error("invalid_grant", "invalid authorization code")
    if record.used or sim.clock.now() - record.issued_at > AUTHORIZATION_CODE_TTL:
        return _token_error("invalid_grant", "invalid authorization code")
    record.used = True  # presented by its client: never again, whatever follows
    if value("redirect_uri") != record.redirect_uri:
        return _token_error("invalid_grant", "redirect_uri does not match")
    if record.code_challenge is not None:
        verifier = value("code_verifier")
        if not VERIFIER_SHAPE.fullmatch(verifier) or not hmac.compare_digest(
            s256(verifier), record.code_challenge
        ):
            return _token_error("invalid_grant", "invalid code_verifier")
    body: dict[str, Any] = {
        "access_token": ids.opaque_token(32),
        "expires_in": ACCESS_TOKEN_LIFETIME,
        "refresh_token": ids.opaque_token(24),
        "scope": " ".join(record.scopes),
        "token_type": "Bearer",
    }
    if "openid" in record.scopes:
        body["id_token"] = sim.signer.issue(id_token_claims(sim, record))
    return web.json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
