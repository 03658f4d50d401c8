"""Signing and posting webhook bodies to the bot, as the LINE platform does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from typing import Any

import aiohttp

log = logging.getLogger(__name__)


def signature(channel_secret: str, body: bytes) -> str:
    """Return x-line-signature: Base64 of HMAC-SHA256 of the raw body keyed by the secret."""
    digest = hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def encode_body(destination: str, events: list[dict[str, Any]]) -> bytes:
    """Return the raw webhook body for `events`."""
    payload = {"destination": destination, "events": events}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


async def post_webhook(url: str, channel_secret: str, body: bytes, *, time_limit: float) -> int:
    """POST a signed webhook body to `url` and return the HTTP status the bot answered."""
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "LineBotWebhook/2.0",
        "x-line-signature": signature(channel_secret, body),
    }
    # A session per delivery: the simulator may send before or after its own app runs, and a
    # session that outlives the event loop would leak (and warn) in tests.
    client_timeout = aiohttp.ClientTimeout(total=time_limit)
    async with (
        aiohttp.ClientSession(timeout=client_timeout) as session,
        session.post(url, data=body, headers=headers) as response,
    ):
        await response.read()
        log.debug("webhook answered %s", response.status)
        return response.status
