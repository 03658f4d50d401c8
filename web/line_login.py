"""LINE Login calls the SDK does not cover: ID-token verification (on aiohttp)."""

import base64
import binascii
import json
import logging
import re
import time
from dataclasses import dataclass

import aiohttp

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


def precheck(id_token: str, now: float) -> None:
    """Refuse, without calling LINE, a token that is not shaped like a JWT or is long expired."""
    # The payload is decoded without checking its signature: only LINE's answer makes a token
    # valid; this spares LINE (and us) a call that cannot succeed.
    if not id_token or len(id_token) > MAX_TOKEN_LENGTH or not JWT_SHAPE.fullmatch(id_token):
        raise InvalidIdToken("not shaped like a JWT")
    payload = id_token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        raise InvalidIdToken("payload is not JSON") from None
    expires = claims.get("exp") if isinstance(claims, dict) else None
    if not isinstance(expires, int | float) or isinstance(expires, bool):
        raise InvalidIdToken("no expiry")
    if expires + EXPIRY_LEEWAY < now:
        raise InvalidIdToken("expired")


def _retry_after(response: aiohttp.ClientResponse) -> int:
    raw = response.headers.get("Retry-After", "")
    seconds = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 7 else RETRY_AFTER
    return min(max(seconds, 1), MAX_RETRY_AFTER)


class IdTokenVerifier:
    """Verifies LIFF ID tokens for one LINE Login channel with LINE's verify endpoint."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        api_base_url: str,
        channel_id: str,
        *,
        timeout: aiohttp.ClientTimeout = VERIFY_TIMEOUT,
    ) -> None:
        self.http = http
        self.api_base_url = api_base_url
        self.channel_id = channel_id
        self.timeout = timeout

    async def verify(self, id_token: str) -> IdToken:
        """Have LINE verify a LIFF ID token (raises InvalidIdToken or LineUnavailable)."""
        precheck(id_token, time.time())
        try:
            async with self.http.post(
                f"{self.api_base_url}/oauth2/v2.1/verify",
                data={"id_token": id_token, "client_id": self.channel_id},
                timeout=self.timeout,
            ) as response:
                status = response.status
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
        return IdToken(user_id=body["sub"])
