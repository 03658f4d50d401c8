"""LINE Login calls the SDK does not cover: ID-token verification (on aiohttp)."""

import logging
from dataclasses import dataclass

import aiohttp

log = logging.getLogger(__name__)

LINE_ISSUER = "https://access.line.me"
VERIFY_TIMEOUT = aiohttp.ClientTimeout(total=10)


class InvalidIdToken(Exception):
    """LINE did not vouch for the token (expired, forged, for another channel)."""


@dataclass(frozen=True)
class IdToken:
    """The verified claims we use: the LINE user ID (`sub`) and nothing else."""

    user_id: str


class IdTokenVerifier:
    """Verifies LIFF ID tokens for one LINE Login channel with LINE's verify endpoint."""

    def __init__(self, http: aiohttp.ClientSession, api_base_url: str, channel_id: str) -> None:
        self.http = http
        self.api_base_url = api_base_url
        self.channel_id = channel_id

    async def verify(self, id_token: str) -> IdToken:
        """Ask LINE to verify a LIFF ID token for our LINE Login channel."""
        if not id_token:
            raise InvalidIdToken("no ID token")
        try:
            async with self.http.post(
                f"{self.api_base_url}/oauth2/v2.1/verify",
                data={"id_token": id_token, "client_id": self.channel_id},
                timeout=VERIFY_TIMEOUT,
            ) as response:
                body = await response.json(content_type=None)
                status = response.status
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise InvalidIdToken(f"verify call failed: {type(exc).__name__}") from None
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
