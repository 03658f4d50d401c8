"""The channel access token every Messaging API call carries: the long-lived one configured, or
(LINE's recommendation) short-lived stateless tokens issued from the channel ID and secret
through line-bot-sdk's channel access token client, renewed before they expire.

Stateless tokens (`POST /oauth2/v3/token`) live 15 minutes; the current one is stored in the
`channel_token` table so every process of a deployment (`serve`, workers, the CLI) sends the
same one and renews it once. LINE sets no limit on how many are issued and each stays valid
until it expires, so processes renewing at the same moment need no lock: each issues one and
the last write wins."""

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import aiohttp
from linebot.v3.oauth import AsyncApiClient, AsyncChannelAccessToken, Configuration
from linebot.v3.oauth.exceptions import ApiException
from tortoise.exceptions import BaseORMException

from bot.line_api import REQUEST_TIMEOUT, TokenUnavailable, logged_call
from models import ChannelToken as StoredToken

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
    """Stateless channel access tokens for one channel, shared by every process through the
    database and renewed RENEW_BEFORE seconds before they expire (one renewal at a time in a
    process, callers wait for it; processes renewing at once each issue one, the last stored wins).
    A copy is kept in memory: the database is read only when that copy is due for renewal."""

    def __init__(
        self,
        api_base_url: str,
        channel_id: str,
        channel_secret: str,
        *,
        clock: Callable[[], float] = time.time,
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
            if self.clock() >= self._expires_at - RENEW_BEFORE and not await self._load():
                await self._renew()
        return self._token

    async def _load(self) -> bool:
        """Adopt the stored token if it has more than RENEW_BEFORE left."""
        try:
            stored = await StoredToken.get_or_none(channel_id=self.channel_id)
        except BaseORMException as exc:
            log.warning("stored channel access token not read (%s)", type(exc).__name__)
            return False
        if stored is None or self.clock() >= stored.expires_at - RENEW_BEFORE:
            return False
        self._token, self._expires_at = stored.token, stored.expires_at
        return True

    async def _store(self) -> None:
        """Upsert this process's token for every other process (a failure keeps it local)."""
        row = StoredToken(
            channel_id=self.channel_id,
            token=self._token,
            expires_at=self._expires_at,
            updated_at=datetime.now(UTC),
        )
        try:
            await StoredToken.bulk_create(
                [row],
                on_conflict=["channel_id"],
                update_fields=["token", "expires_at", "updated_at"],
            )
        except BaseORMException as exc:
            log.warning("channel access token not stored (%s)", type(exc).__name__)

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
        await self._store()

    async def close(self) -> None:
        """Close the token client's HTTP session."""
        await self._client.close()


def _log_calls(client: AsyncApiClient) -> None:
    """Log and count each call to the token endpoint like every other LINE call."""
    rest = client.rest_client
    send = rest.request

    async def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        return await logged_call(send, method, url, *args, **kwargs)

    rest.request = request
