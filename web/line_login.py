"""LINE Login calls the SDK does not cover: ID-token verification (on aiohttp; ES256 tokens
locally with LINE's keys, `web/line_keys.py`), the authorization-code flow."""

import base64
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import aiohttp

from web.id_token_cache import VerifiedTokens
from web.line_keys import (
    BadSignature,
    Jws,
    KeysUnavailable,
    LineKeys,
    MalformedToken,
    SignatureThread,
    check_claims,
    check_shape,
    log_line_call,
    split_jws,
)

log = logging.getLogger(__name__)

LINE_ISSUER = "https://access.line.me"
VERIFY_TIMEOUT = aiohttp.ClientTimeout(total=10)
# How long to ask the browser to wait when LINE cannot answer (or LINE's own Retry-After,
# kept within these bounds).
RETRY_AFTER = 30
MAX_RETRY_AFTER = 300
# A JWT is three base64url segments; LINE's ID tokens are well under a kilobyte.
JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
MAX_TOKEN_LENGTH = 4096
# Our clock and LINE's may differ a little: only a token this far past `exp` is refused
# without asking LINE.
EXPIRY_LEEWAY = 60
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


class InvalidIdToken(Exception):
    """LINE did not vouch for the token (expired, forged, for another channel)."""


class LineUnavailable(Exception):
    """LINE could not answer (5xx, 429, timeout, no connection): try again later."""

    def __init__(self, reason: str, retry_after: int = RETRY_AFTER) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True)
class IdToken:
    """The verified claims we use: the LINE user ID (`sub`) and nothing else."""

    user_id: str


def precheck(id_token: str, now: float) -> Jws:
    """Refuse, without calling LINE, a token that is not shaped like a JWT or is long expired;
    the token's parts, decoded (nothing else about them checked)."""
    # The payload is read without checking its signature: only LINE's answer or LINE's key
    # makes a token valid; this spares LINE (and us) a check that cannot succeed.
    if not id_token or len(id_token) > MAX_TOKEN_LENGTH or not JWT_SHAPE.fullmatch(id_token):
        raise InvalidIdToken("not shaped like a JWT")
    try:
        token = split_jws(id_token)
    except MalformedToken as exc:
        raise InvalidIdToken(str(exc)) from None
    expires = token.claims.get("exp")
    if not isinstance(expires, int | float) or isinstance(expires, bool):
        raise InvalidIdToken("no expiry")
    if expires + EXPIRY_LEEWAY < now:
        raise InvalidIdToken("expired")
    return token


def _retry_after(response: aiohttp.ClientResponse) -> int:
    raw = response.headers.get("Retry-After", "")
    seconds = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 7 else RETRY_AFTER
    return min(max(seconds, 1), MAX_RETRY_AFTER)


class IdTokenVerifier:
    """Verifies LIFF ID tokens for one LINE Login channel: ES256 tokens locally with LINE's
    published keys, LINE's verify endpoint only when those cannot decide (keys unreachable, a
    key LINE does not publish, another algorithm)."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        api_base_url: str,
        channel_id: str,
        *,
        timeout: aiohttp.ClientTimeout = VERIFY_TIMEOUT,
        verified: VerifiedTokens | None = None,
        keys: LineKeys | None = None,
        signatures: SignatureThread | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.http = http
        self.api_base_url = api_base_url
        self.channel_id = channel_id
        self.timeout = timeout
        self.verified = VerifiedTokens() if verified is None else verified
        self.keys = LineKeys(http, api_base_url) if keys is None else keys
        self.signatures = SignatureThread() if signatures is None else signatures
        self.clock = clock

    def close(self) -> None:
        """Stop the thread that checks signatures."""
        self.signatures.close()

    async def verify(self, id_token: str) -> IdToken:
        """Verify a LIFF ID token (raises InvalidIdToken or LineUnavailable).

        A token already accepted is not checked again before its expiry (`verified`)."""
        user_id = self.verified.user_id(id_token)
        if user_id is not None:
            return IdToken(user_id=user_id)
        now = self.clock()
        token = precheck(id_token, now)
        claims = await self._verify_locally(token, now)
        if claims is None:
            claims = await self._ask_line(id_token)
        self.verified.remember(id_token, claims["sub"], claims.get("exp"))
        return IdToken(user_id=claims["sub"])

    async def _verify_locally(self, token: Jws, now: float) -> dict | None:
        """The claims, checked with LINE's key; None when the keys cannot decide."""
        kid = token.es256_kid
        if kid is None:
            return None
        try:
            key = await self.keys.key(kid)
        except KeysUnavailable as exc:
            log.warning("verifying an ID token with LINE's endpoint: %s", exc)
            return None
        if key is None:
            return None
        try:
            check_shape(token, key)
            if not await self.signatures.check(key, token.signed, token.signature):
                raise BadSignature("InvalidSignatureError")
            return check_claims(token, issuer=LINE_ISSUER, audience=self.channel_id, now=now)
        except BadSignature as exc:
            raise InvalidIdToken(str(exc)) from None

    async def _ask_line(self, id_token: str) -> dict:
        """Have LINE's verify endpoint check the token; its claims."""
        try:
            async with self.http.post(
                f"{self.api_base_url}/oauth2/v2.1/verify",
                # Encoded here: aiohttp's FormData costs a third of the call's CPU.
                data=urlencode({"id_token": id_token, "client_id": self.channel_id}).encode(),
                headers=FORM_HEADERS,
                timeout=self.timeout,
            ) as response:
                status = response.status
                log_line_call("POST", "/oauth2/v2.1/verify", status, response.headers)
                if status == 429 or status >= 500:
                    raise LineUnavailable(f"HTTP {status}", _retry_after(response))
                body = await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise LineUnavailable(f"verify call failed: {type(exc).__name__}") from None
        except ValueError:
            if status == 200:  # LINE said yes in a body we cannot read
                raise LineUnavailable("verify answered 200 without JSON") from None
            raise InvalidIdToken(f"HTTP {status}") from None
        if status != 200 or not isinstance(body, dict):
            description = body.get("error_description") if isinstance(body, dict) else None
            raise InvalidIdToken(description or f"HTTP {status}")
        # LINE checked signature and expiry; check it was issued by LINE, for us.
        if (
            body.get("iss") != LINE_ISSUER
            or body.get("aud") != self.channel_id
            or not body.get("sub")
        ):
            raise InvalidIdToken("unexpected claims")
        return body


# LINE Login for web pages (the employee page's LINE ID連携): the authorization code flow with
# PKCE, `state` and `nonce`; the code is exchanged at the token endpoint and the ID token
# verified by LINE's verify endpoint with the nonce.

LOGIN_SCOPE = "openid profile"
LOGIN_TIMEOUT = aiohttp.ClientTimeout(total=10)
MAX_DISPLAY_NAME = 200


class LoginRefused(Exception):
    """LINE refused the authorization code (used, expired, another redirect_uri or verifier)."""


@dataclass(frozen=True)
class LoginRequest:
    """What one sign-in with LINE remembers until LINE calls back; each value is used once."""

    state: str
    nonce: str
    code_verifier: str


def new_login_request() -> LoginRequest:
    """Fresh, unpredictable `state`, `nonce` and PKCE verifier (43-128 characters)."""
    return LoginRequest(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(64),  # 86 characters of [A-Za-z0-9_-]
    )


def code_challenge(code_verifier: str) -> str:
    """PKCE S256: base64url (no padding) of SHA-256 of the verifier."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(
    access_base_url: str,
    channel_id: str,
    redirect_uri: str,
    request: LoginRequest,
    *,
    bot_prompt: str = "aggressive",
) -> str:
    """LINE's authorization URL; `bot_prompt=aggressive` has LINE offer 友だち追加 itself."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": channel_id,
            "redirect_uri": redirect_uri,
            "state": request.state,
            "scope": LOGIN_SCOPE,
            "nonce": request.nonce,
            "code_challenge": code_challenge(request.code_verifier),
            "code_challenge_method": "S256",
            "bot_prompt": bot_prompt,
        }
    )
    return f"{access_base_url}/oauth2/v2.1/authorize?{query}"


@dataclass(frozen=True)
class LineIdentity:
    """Who signed in with LINE: the user ID and display name, nothing else (seed FAQ Q1)."""

    user_id: str
    display_name: str


async def _post_form(
    http: aiohttp.ClientSession, url: str, form: dict[str, str], limit: aiohttp.ClientTimeout
) -> tuple[int, object]:
    """POST a form to LINE; (status, parsed JSON or None). 429/5xx and no answer raise
    LineUnavailable."""
    try:
        async with http.post(url, data=form, timeout=limit) as response:
            status = response.status
            log_line_call("POST", urlsplit(url).path, status, response.headers)
            if status == 429 or status >= 500:
                raise LineUnavailable(f"HTTP {status}", _retry_after(response))
            try:
                body = await response.json(content_type=None)
            except ValueError:
                body = None
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise LineUnavailable(f"LINE Login call failed: {type(exc).__name__}") from None
    if status == 200 and not isinstance(body, dict):
        raise LineUnavailable("LINE answered 200 without JSON")
    return status, body


def _description(status: int, body: object) -> str:
    if isinstance(body, dict):
        return str(body.get("error_description") or body.get("error") or f"HTTP {status}")
    return f"HTTP {status}"


class LoginClient:
    """LINE Login for one channel: exchanges an authorization code and has LINE verify the
    ID token it carries (signature, `iss`, `aud`, `exp`, `nonce`)."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        api_base_url: str,
        channel_id: str,
        channel_secret: str,
        *,
        timeout: aiohttp.ClientTimeout = LOGIN_TIMEOUT,
    ) -> None:
        self.http = http
        self.api_base_url = api_base_url
        self.channel_id = channel_id
        self.channel_secret = channel_secret
        self.timeout = timeout

    async def exchange_code(self, code: str, redirect_uri: str, code_verifier: str) -> str:
        """The ID token for an authorization code (raises LoginRefused or LineUnavailable)."""
        status, body = await _post_form(
            self.http,
            f"{self.api_base_url}/oauth2/v2.1/token",
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": self.channel_id,
                "client_secret": self.channel_secret,
                "code_verifier": code_verifier,
            },
            self.timeout,
        )
        if status != 200:
            raise LoginRefused(_description(status, body))
        id_token = body.get("id_token") if isinstance(body, dict) else None
        if not isinstance(id_token, str) or not id_token:
            raise LoginRefused("no ID token (scope without openid)")
        return id_token

    async def verify(self, id_token: str, nonce: str) -> LineIdentity:
        """Have LINE verify the ID token for this channel and nonce, then check the claims
        ourselves too (raises InvalidIdToken or LineUnavailable)."""
        now = time.time()
        precheck(id_token, now)
        status, body = await _post_form(
            self.http,
            f"{self.api_base_url}/oauth2/v2.1/verify",
            {"id_token": id_token, "client_id": self.channel_id, "nonce": nonce},
            self.timeout,
        )
        if status != 200 or not isinstance(body, dict):
            raise InvalidIdToken(_description(status, body))
        expires = body.get("exp")
        if (
            body.get("iss") != LINE_ISSUER
            or body.get("aud") != self.channel_id
            or not isinstance(body.get("sub"), str)
            or not body["sub"]
            or not isinstance(body.get("nonce"), str)
            or not secrets.compare_digest(body["nonce"].encode(), nonce.encode())
            or not isinstance(expires, int | float)
            or isinstance(expires, bool)
            or expires + EXPIRY_LEEWAY < now
        ):
            raise InvalidIdToken("unexpected claims")
        name = body.get("name")
        return LineIdentity(
            user_id=body["sub"],
            display_name=name[:MAX_DISPLAY_NAME] if isinstance(name, str) else "",
        )

    async def identify(self, code: str, redirect_uri: str, request: LoginRequest) -> LineIdentity:
        """The LINE user behind an authorization code issued for `request`."""
        id_token = await self.exchange_code(code, redirect_uri, request.code_verifier)
        return await self.verify(id_token, request.nonce)
