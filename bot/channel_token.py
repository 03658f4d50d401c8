"""The channel access token every Messaging API call carries: the long-lived one configured, or
(LINE's recommendation) short-lived stateless tokens this process issues itself from the
channel ID and secret through line-bot-sdk's channel access token client, renewed before
they expire.

Stateless tokens (`POST /oauth2/v3/token`) live 15 minutes and LINE sets no limit on how many
are issued, so each process keeps its own and nothing is shared: no token is stored anywhere,
and one process's renewal never waits on another's."""

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
from linebot.v3.oauth import AsyncApiClient, AsyncChannelAccessToken, Configuration
from linebot.v3.oauth.exceptions import ApiException

from bot.line_api import REQUEST_TIMEOUT, TokenUnavailable, line_call_done

log = logging.getLogger(__name__)

# Renew when a token has less than this left (of 15 minutes): a call never goes out with a
# token about to lapse, and a failed renewal has minutes to succeed before the old one does.
RENEW_BEFORE = 300.0


class ChannelToken(Protocol):
    """Where a LINE client gets the bearer token for its next call."""

    async def current(self) -> str:
        """The token to send now."""
        ...

    async def close(self) -> None:
        """Release what the source holds."""
        ...


class StatelessTokens:
    """Stateless channel access tokens issued for one channel, renewed RENEW_BEFORE seconds
    before they expire (one renewal at a time; callers wait for it)."""

    def __init__(
        self,
        api_base_url: str,
        channel_id: str,
        channel_secret: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channel_id = channel_id
        self._secret = channel_secret
        self.clock = clock
        self._client = AsyncApiClient(Configuration(host=api_base_url))
        self._api = AsyncChannelAccessToken(self._client)
        self._token = ""
        self._expires_at = 0.0
        self._lock = asyncio.Lock()
        self.issued = 0  # how many this process has asked LINE for
        _log_calls(self._client)

    async def current(self) -> str:
        """A token with at least RENEW_BEFORE seconds left, else a new one (raises
        TokenUnavailable when none can be had and the last one has lapsed)."""
        if self.clock() < self._expires_at - RENEW_BEFORE:
            return self._token
        async with self._lock:
            if self.clock() >= self._expires_at - RENEW_BEFORE:
                await self._renew()
        return self._token

    async def _renew(self) -> None:
        try:
            response = await self._api.issue_stateless_channel_token_by_client_secret(
                self.channel_id, self._secret, _request_timeout=REQUEST_TIMEOUT
            )
        except (ApiException, TimeoutError, aiohttp.ClientError) as exc:
            reason = f"HTTP {exc.status}" if isinstance(exc, ApiException) else type(exc).__name__
            if self.clock() < self._expires_at:
                log.warning(
                    "channel access token not renewed (%s): the current one is kept", reason
                )
                return
            raise TokenUnavailable(f"no channel access token: {reason}") from None
        self._token = response.access_token
        self._expires_at = self.clock() + response.expires_in
        self.issued += 1
        log.info("channel access token issued, valid %d s", response.expires_in)

    async def close(self) -> None:
        """Close the token client's HTTP session."""
        await self._client.close()


def _log_calls(client: AsyncApiClient) -> None:
    """Log and count each call to the token endpoint like every other LINE call."""
    rest = client.rest_client
    send = rest.request

    async def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        path = urlsplit(url).path
        try:
            response = await send(method, url, *args, **kwargs)
        except ApiException as exc:
            line_call_done(method, path, exc.status, exc.headers)
            raise
        except (TimeoutError, aiohttp.ClientError) as exc:
            line_call_done(method, path, None, None, type(exc).__name__)
            raise
        line_call_done(method, path, response.status, response.getheaders())
        return response

    rest.request = request
