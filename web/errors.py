"""JSON error bodies: `{"error": code, "message": Japanese text, "fields": {...}}`, and the
one map from domain errors to HTTP statuses."""

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from aiohttp import web

from domain.errors import Conflict, DomainError, Forbidden, Invalid, NotFound

STATUS_FOR: dict[type[DomainError], HTTPStatus] = {
    NotFound: HTTPStatus.NOT_FOUND,
    Forbidden: HTTPStatus.FORBIDDEN,
    Conflict: HTTPStatus.CONFLICT,
    Invalid: HTTPStatus.UNPROCESSABLE_ENTITY,
}


def json_error(
    status: int,
    code: str,
    message: str,
    fields: dict | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """A 4xx/5xx JSON body naming the problem for the script and the person."""
    body: dict[str, Any] = {"error": code, "message": message}
    if fields:
        body["fields"] = fields
    return web.json_response(body, status=status, headers=headers)


def domain_error_response(exc: DomainError) -> web.Response:
    """The JSON response for a domain error."""
    status = next((s for cls, s in STATUS_FOR.items() if isinstance(exc, cls)), 400)
    return json_error(status, exc.code, exc.message, exc.fields)
