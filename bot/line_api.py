"""The one small interface through which the product talks to the Messaging API.

Built on line-bot-sdk v3's async client from the configured host, so the same code talks to
LINE, to the local LINE platform, or to any other fake."""

import json
import logging
from typing import Any

import aiohttp
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    MulticastRequest,
    ReplyMessageRequest,
)
from linebot.v3.messaging.exceptions import ApiException

from domain.delivery import SendOutcome, SendResult
from domain.usage import LineQuota

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=15)
MONTHLY_LIMIT_MESSAGE = "You have reached your monthly limit."


def _error_message(exc: ApiException) -> str:
    """LINE's `message` from an error body, or the raw status."""
    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        return f"HTTP {exc.status}"
    message = body.get("message") or f"HTTP {exc.status}"
    details = body.get("details") or []
    if details:
        message += (
            " ("
            + "; ".join(f"{d.get('property', '')}: {d.get('message', '')}" for d in details)
            + ")"
        )
    return message


def classify(exc: ApiException) -> SendResult:
    """Map an API error to what the sender should do about it."""
    message = _error_message(exc)
    status = exc.status
    if status == 409:
        return SendResult(SendOutcome.ALREADY_ACCEPTED, status, message)
    if status == 429 and MONTHLY_LIMIT_MESSAGE not in message:
        return SendResult(SendOutcome.RETRY, status, message)
    if status is not None and status >= 500:
        return SendResult(SendOutcome.RETRY, status, message)
    return SendResult(SendOutcome.REJECTED, status, message)


class LineApi:
    """Sends replies, pushes and multicasts, issues link tokens, reads profiles."""

    def __init__(self, base_url: str, access_token: str) -> None:
        self._client = AsyncApiClient(Configuration(host=base_url, access_token=access_token))
        self._api = AsyncMessagingApi(self._client)

    async def close(self) -> None:
        """Close the underlying HTTP session."""
        await self._client.close()

    async def reply(self, reply_token: str | None, messages: list[dict[str, Any]]) -> bool:
        """Reply (free of charge); False when LINE refused (e.g. an expired token)."""
        if not reply_token:
            return False
        request = ReplyMessageRequest.from_dict({"replyToken": reply_token, "messages": messages})
        try:
            await self._api.reply_message(request, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            log.warning("reply refused: %s %s", exc.status, _error_message(exc))
            return False
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("reply failed: %s", type(exc).__name__)
            return False
        return True

    async def multicast(
        self, user_ids: list[str], messages: list[dict[str, Any]], retry_key: str
    ) -> SendResult:
        """Send to at most 500 users under one retry key."""
        request = MulticastRequest.from_dict({"to": user_ids, "messages": messages})
        return await self._send(
            self._api.multicast_with_http_info(
                request, x_line_retry_key=retry_key, _request_timeout=REQUEST_TIMEOUT
            )
        )

    async def _send(self, call: Any) -> SendResult:
        try:
            response = await call
        except ApiException as exc:
            return classify(exc)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return SendResult(SendOutcome.RETRY, None, type(exc).__name__)
        return SendResult(SendOutcome.ACCEPTED, response.status_code)

    async def issue_link_token(self, user_id: str) -> str:
        """A fresh account-link token for this user (valid 10 minutes, single use)."""
        response = await self._api.issue_link_token(user_id, _request_timeout=REQUEST_TIMEOUT)
        return response.link_token

    async def display_name(self, user_id: str) -> str | None:
        """The user's LINE display name, or None when LINE will not tell."""
        try:
            profile = await self._api.get_profile(user_id, _request_timeout=REQUEST_TIMEOUT)
        except (TimeoutError, ApiException, aiohttp.ClientError) as exc:
            log.warning("profile lookup failed: %s", type(exc).__name__)
            return None
        return profile.display_name

    async def quota(self) -> LineQuota | None:
        """This month's message limit (type none|limited, value), or None when LINE fails."""
        try:
            response = await self._api.get_message_quota(_request_timeout=REQUEST_TIMEOUT)
        except (TimeoutError, ApiException, aiohttp.ClientError, ValueError) as exc:
            log.warning("quota lookup failed: %s", type(exc).__name__)
            return None
        return LineQuota(str(response.type.value), response.value)

    async def consumption(self) -> int | None:
        """Messages LINE counted this month (totalUsage), or None when LINE fails."""
        try:
            response = await self._api.get_message_quota_consumption(
                _request_timeout=REQUEST_TIMEOUT
            )
        except (TimeoutError, ApiException, aiohttp.ClientError, ValueError) as exc:
            log.warning("quota consumption lookup failed: %s", type(exc).__name__)
            return None
        return response.total_usage
