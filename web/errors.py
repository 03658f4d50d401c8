"""Domain errors as HTTP: the one map from domain errors to statuses, JSON error bodies
(`{"error": code, "message": text in the current language, "fields": {...}}`) for the
scripts, and the middleware that renders a face's own HTML error page."""

from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

from aiohttp import web

from domain.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Throttled
from domain.i18n import gettext as _

STATUS_FOR: dict[type[DomainError], HTTPStatus] = {
    NotFound: HTTPStatus.NOT_FOUND,
    Forbidden: HTTPStatus.FORBIDDEN,
    Conflict: HTTPStatus.CONFLICT,
    Invalid: HTTPStatus.UNPROCESSABLE_ENTITY,
    Throttled: HTTPStatus.TOO_MANY_REQUESTS,
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ErrorPage = Callable[[web.Request, HTTPStatus, str], web.StreamResponse]


def status_for(exc: DomainError) -> HTTPStatus:
    """The HTTP status of a domain error (400 for one the map does not name)."""
    return next(
        (s for cls, s in STATUS_FOR.items() if isinstance(exc, cls)), HTTPStatus.BAD_REQUEST
    )


def error_title(status: int) -> str:
    """The heading of an HTML error page, in the current language."""
    titles = {
        HTTPStatus.NOT_FOUND: _("見つかりません"),
        HTTPStatus.FORBIDDEN: _("この操作はできません"),
        HTTPStatus.CONFLICT: _("操作を完了できませんでした"),
        HTTPStatus.UNPROCESSABLE_ENTITY: _("入力内容を確認してください"),
        HTTPStatus.TOO_MANY_REQUESTS: _("しばらくしてからお試しください"),
    }
    return titles.get(status, _("エラー"))


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
    return json_error(status_for(exc), exc.code, exc.message, exc.fields)


def error_pages(page: ErrorPage) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """A face's middleware: a domain error its view lets out becomes `page` (the face's own
    header and a way back) with the map's status, instead of a bare text page."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except DomainError as exc:
            response = page(request, status_for(exc), exc.message)
            if isinstance(exc, Throttled):
                response.headers["Retry-After"] = str(max(1, exc.retry_after))
            return response

    return middleware
