"""The one small interface through which the product talks to the Messaging API.

Built on line-bot-sdk v3's async client from the configured host, so the same code talks to
LINE, to the local LINE platform, or to any other fake."""

import json
import logging
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
    CreateRichMenuAliasRequest,
    PushMessageRequest,
    ReplyMessageRequest,
    RichMenuBulkLinkRequest,
    RichMenuRequest,
    UpdateRichMenuAliasRequest,
)
from linebot.v3.messaging.exceptions import ApiException

from bot.metrics import endpoint_label, observe_line_call
from domain.delivery import SendOutcome, SendResult
from domain.line_rate import MemoryRateLimiter, RateLimiter, endpoint_of
from domain.linking import LineProfile
from domain.usage import LineQuota

if TYPE_CHECKING:
    from bot.channel_token import ChannelToken

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=15)
MONTHLY_LIMIT_MESSAGE = "You have reached your monthly limit."
BULK_LINK_MAX = 500  # users per bulk link call
MULTICAST_PATH = "/v2/bot/message/multicast"
# What the SDK's generated `multicast` deserialises each answer as (its error types are kept).
MULTICAST_RESPONSES = {
    "200": "object",
    "400": "ErrorResponse",
    "403": "ErrorResponse",
    "409": "ErrorResponse",
    "429": "ErrorResponse",
}
RECIPIENT = re.compile(r"to\[(\d+)\]")  # a 400 detail's property naming one recipient


def error_message(exc: ApiException) -> str:
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


def refused_recipients(exc: ApiException) -> tuple[tuple[int, str], ...]:
    """The positions in `to` (with LINE's message) of a 400 whose every detail names a
    recipient (`to[3]`): the rest of the request was fine."""
    try:
        details = json.loads(exc.body or "{}").get("details") or []
    except (ValueError, AttributeError):
        return ()
    found = [
        (RECIPIENT.fullmatch(str(d.get("property"))), d) for d in details if isinstance(d, dict)
    ]
    if exc.status != 400 or not found or not all(match for match, _ in found):
        return ()
    return tuple((int(match[1]), str(d.get("message", ""))) for match, d in found if match)


def classify(exc: ApiException) -> SendResult:
    """Map an API error to what the sender should do about it."""
    message = error_message(exc)
    status = exc.status
    if status == 400:
        return SendResult(SendOutcome.REJECTED, status, message, refused_recipients(exc))
    if status == 409:
        return SendResult(SendOutcome.ALREADY_ACCEPTED, status, message)
    if status == 429 and MONTHLY_LIMIT_MESSAGE not in message:
        return SendResult(SendOutcome.RETRY, status, message)
    if status is not None and status >= 500:
        return SendResult(SendOutcome.RETRY, status, message)
    return SendResult(SendOutcome.REJECTED, status, message)


class TokenUnavailable(aiohttp.ClientError):
    """No channel access token could be had: to a caller, LINE cannot be reached."""


def line_call_done(
    method: str, path: str, status: int | None, headers: Any, failure: str = ""
) -> None:
    """Log and count one call to LINE, with the `x-line-request-id` LINE support asks for
    (the path's IDs left out: they name people)."""
    request_id = headers.get("x-line-request-id", "-") if headers else "-"
    observe_line_call(method, path, status)
    log.info(
        "LINE %s %s -> %s x-line-request-id=%s",
        method.upper(),
        endpoint_label(path),
        status if status is not None else failure or "no answer",
        request_id,
    )


def _limit_requests(client: AsyncApiClient, line: "LineApi") -> None:
    """Make every request of an SDK client acquire `line.limiter` first, then log and count
    it. The SDK sends each call through its REST client's `request`, so one hook covers every
    method below."""
    rest = client.rest_client
    send = rest.request

    async def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        path = urlsplit(url).path
        await line.limiter.acquire(endpoint_of(method, path))
        if line.token is not None and kwargs.get("headers") is not None:
            kwargs["headers"]["Authorization"] = f"Bearer {await line.token.current()}"
        return await logged_call(send, method, url, *args, **kwargs)

    rest.request = request


async def logged_call(send: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
    """One SDK request through `send`, logged and counted by `line_call_done` however it ends
    (LINE's answer, an error status, a timeout)."""
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


class LineApi:
    """Sends replies, pushes and multicasts, issues link tokens, reads profiles, manages rich
    menus (their images go to the data host)."""

    def __init__(
        self,
        base_url: str,
        access_token: str,
        data_base_url: str | None = None,
        *,
        limiter: RateLimiter | None = None,
        token: "ChannelToken | None" = None,
    ) -> None:
        # Short-lived tokens (bot/channel_token.py) replace `access_token` on every call.
        self.token = token
        self._client = AsyncApiClient(Configuration(host=base_url, access_token=access_token))
        self._api = AsyncMessagingApi(self._client)
        # The SDK sends blobs to the host its configuration names, so the data host needs a
        # client of its own.
        self._data_client = AsyncApiClient(
            Configuration(host=data_base_url or base_url, access_token=access_token)
        )
        self._blob = AsyncMessagingApiBlob(self._data_client)
        # Every request waits for its endpoint's rate limit (domain/line_rate.py); the
        # deployment's shared limiter is passed in, else this instance keeps its own.
        self.limiter: RateLimiter = limiter or MemoryRateLimiter()
        _limit_requests(self._client, self)
        _limit_requests(self._data_client, self)

    async def close(self) -> None:
        """Close the underlying HTTP sessions."""
        await self._client.close()
        await self._data_client.close()
        if self.token is not None:
            await self.token.close()

    async def reply(self, reply_token: str | None, messages: list[dict[str, Any]]) -> bool:
        """Reply (free of charge); False when LINE refused (e.g. an expired token)."""
        if not reply_token:
            return False
        request = ReplyMessageRequest.from_dict({"replyToken": reply_token, "messages": messages})
        try:
            await self._api.reply_message(request, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            log.warning("reply refused: %s %s", exc.status, error_message(exc))
            return False
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("reply failed: %s", type(exc).__name__)
            return False
        return True

    async def multicast(
        self, user_ids: list[str], messages: list[dict[str, Any]], retry_key: str
    ) -> SendResult:
        """Send to at most 500 users under one retry key.

        The body goes out as the engine prepared it, through the SDK's own low-level call
        (its auth, retry-key header, error types and the rate-limit hook above): the generated
        `multicast` would parse the Flex message into pydantic models and serialise it back,
        5–10 ms of CPU a request, for the same JSON."""
        return await self._send(
            self._client.call_api(
                MULTICAST_PATH,
                "POST",
                {},
                [],
                {
                    "Accept": "application/json",
                    "Content-Type": "application/json",
                    "X-Line-Retry-Key": retry_key,
                },
                body={"to": user_ids, "messages": messages},
                post_params=[],
                files={},
                response_types_map=MULTICAST_RESPONSES,
                auth_settings=["Bearer"],
                _return_http_data_only=False,
                collection_formats={},
                _request_timeout=REQUEST_TIMEOUT,
                _host=self._api.line_base_path,
            )
        )

    async def push(
        self, user_id: str, messages: list[dict[str, Any]], retry_key: str
    ) -> SendResult:
        """Send to one user under a retry key (billable, unlike a reply)."""
        request = PushMessageRequest.from_dict({"to": user_id, "messages": messages})
        return await self._send(
            self._api.push_message_with_http_info(
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

    async def profile(self, user_id: str) -> LineProfile | None:
        """The user's display name and language (when LINE gives one), or None when LINE will
        not tell (not a friend, an error)."""
        try:
            found = await self._api.get_profile(user_id, _request_timeout=REQUEST_TIMEOUT)
        except (TimeoutError, ApiException, aiohttp.ClientError) as exc:
            log.warning("profile lookup failed: %s", type(exc).__name__)
            return None
        return LineProfile(found.display_name, found.language)

    async def group_name(self, group_id: str) -> str | None:
        """The group's name, or None when LINE will not tell."""
        try:
            summary = await self._api.get_group_summary(group_id, _request_timeout=REQUEST_TIMEOUT)
        except (TimeoutError, ApiException, aiohttp.ClientError, ValueError) as exc:
            log.warning("group summary lookup failed: %s", type(exc).__name__)
            return None
        return summary.group_name

    async def leave_group(self, group_id: str) -> bool:
        """Make the bot leave a group; True once it is out (LINE's 404: it already was)."""
        try:
            await self._api.leave_group(group_id, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status == 404:
                return True
            log.warning("leaving a group refused: %s %s", exc.status, error_message(exc))
            return False
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning("leaving a group failed: %s", type(exc).__name__)
            return False
        return True

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

    # Rich menus: these raise ApiException (and aiohttp errors); bot/richmenus.py decides.

    async def create_rich_menu(self, request_json: dict[str, Any]) -> str:
        """Create a rich menu from its JSON (LINE's rich menu object); return its ID."""
        request = RichMenuRequest.from_dict(request_json)
        response = await self._api.create_rich_menu(request, _request_timeout=REQUEST_TIMEOUT)
        return response.rich_menu_id

    async def upload_rich_menu_image(
        self, rich_menu_id: str, data: bytes, content_type: str = "image/png"
    ) -> None:
        """Attach the image to a rich menu (once per menu: LINE cannot replace it)."""
        await self._blob.set_rich_menu_image(
            rich_menu_id,
            data,
            _headers={"Content-Type": content_type},
            _request_timeout=REQUEST_TIMEOUT,
        )

    async def list_rich_menus(self) -> list[tuple[str, str]]:
        """Every rich menu of the channel as (ID, name)."""
        response = await self._api.get_rich_menu_list(_request_timeout=REQUEST_TIMEOUT)
        return [(menu.rich_menu_id, menu.name) for menu in response.richmenus]

    async def has_rich_menu_image(self, rich_menu_id: str) -> bool:
        """Whether the rich menu has its image (LINE answers 404 for the content otherwise)."""
        try:
            await self._blob.get_rich_menu_image(rich_menu_id, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def delete_rich_menu(self, rich_menu_id: str) -> None:
        """Delete a rich menu."""
        await self._api.delete_rich_menu(rich_menu_id, _request_timeout=REQUEST_TIMEOUT)

    async def get_default_rich_menu_id(self) -> str | None:
        """The default rich menu's ID, or None when there is none."""
        try:
            response = await self._api.get_default_rich_menu_id(_request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return response.rich_menu_id

    async def set_default_rich_menu(self, rich_menu_id: str) -> None:
        """Show this rich menu to every user without a menu of their own."""
        await self._api.set_default_rich_menu(rich_menu_id, _request_timeout=REQUEST_TIMEOUT)

    async def alias_target(self, alias_id: str) -> str | None:
        """The rich menu an alias points to, or None when the alias does not exist."""
        try:
            response = await self._api.get_rich_menu_alias(
                alias_id, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return response.rich_menu_id

    async def create_or_update_alias(self, alias_id: str, rich_menu_id: str) -> None:
        """Point an alias at a rich menu, creating the alias when it does not exist yet."""
        if await self.alias_target(alias_id) is None:
            request = CreateRichMenuAliasRequest(
                rich_menu_alias_id=alias_id, rich_menu_id=rich_menu_id
            )
            await self._api.create_rich_menu_alias(request, _request_timeout=REQUEST_TIMEOUT)
        else:
            update = UpdateRichMenuAliasRequest(rich_menu_id=rich_menu_id)
            await self._api.update_rich_menu_alias(
                alias_id, update, _request_timeout=REQUEST_TIMEOUT
            )

    async def link_rich_menu(self, user_id: str, rich_menu_id: str) -> None:
        """Show this rich menu to one user (it beats the default)."""
        await self._api.link_rich_menu_id_to_user(
            user_id, rich_menu_id, _request_timeout=REQUEST_TIMEOUT
        )

    async def unlink_rich_menu(self, user_id: str) -> None:
        """Take the user's own rich menu away, so the default shows again."""
        await self._api.unlink_rich_menu_id_from_user(user_id, _request_timeout=REQUEST_TIMEOUT)

    async def link_rich_menu_bulk(self, user_ids: list[str], rich_menu_id: str) -> None:
        """Link a rich menu to many users, 500 per call (LINE applies it asynchronously)."""
        for start in range(0, len(user_ids), BULK_LINK_MAX):
            request = RichMenuBulkLinkRequest(
                rich_menu_id=rich_menu_id, user_ids=user_ids[start : start + BULK_LINK_MAX]
            )
            await self._api.link_rich_menu_id_to_users(request, _request_timeout=REQUEST_TIMEOUT)
