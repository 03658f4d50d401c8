"""LINE-shaped API errors and their standard messages."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from aiohttp import web

AUTH_FAILED = (
    "Authentication failed. Confirm that the access token in the authorization header is valid."
)
RATE_LIMITED = "The API rate limit has been exceeded. Try again later."
INVALID_REPLY_TOKEN = "Invalid reply token"
RETRY_KEY_ACCEPTED = "The retry key is already accepted"
RETRY_KEY_INVALID = "The value of the X-Line-Retry-Key header is invalid"
RETRY_KEY_NOT_SUPPORTED = "The X-Line-Retry-Key header is not supported by this API"
NOT_FOUND = "Not found"
BAD_JSON = "The request body could not be parsed as JSON"
TOO_LARGE = "The request body is too large"

# What LINE answers for a status when a fault is injected without a body.
DEFAULT_FAULT_MESSAGES: dict[int, str] = {
    400: "The request body has 1 error(s)",
    401: AUTH_FAILED,
    403: "Access to this API is not available for your account",
    404: NOT_FOUND,
    409: RETRY_KEY_ACCEPTED,
    413: TOO_LARGE,
    429: RATE_LIMITED,
    500: "An error occurred in the backend server.",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class LineApiError(Exception):
    """An error answer of the Messaging API: status, JSON body and extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        details: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message}
        if details is not None:
            self.body["details"] = details
        if extra:
            self.body.update(extra)
        self.headers = headers or {}

    @classmethod
    def with_body(cls, status: int, body: dict[str, Any]) -> LineApiError:
        """Return an error answering exactly `body` (an injected fault's)."""
        error = cls(status, str(body.get("message", "")))
        error.body = dict(body)
        return error

    def response(self) -> web.Response:
        """Return this error as an aiohttp JSON response."""
        return web.json_response(self.body, status=self.status, headers=self.headers)


def default_fault_body(status: int) -> dict[str, Any]:
    """Return the body LINE would send with `status` when no body was given."""
    try:
        fallback = HTTPStatus(status).phrase
    except ValueError:
        fallback = "Error"
    return {"message": DEFAULT_FAULT_MESSAGES.get(status, fallback)}
