"""CSRF protection for our HTML forms: a per-browser token in a cookie, signed with
SECRET_KEY, that every unsafe form request must echo in `csrf_token`."""

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from web.keys import WEB

COOKIE = "anpi_csrf"
FIELD = "csrf_token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
REQUEST_TOKEN = web.RequestKey("csrf_token", str)


def _sign(secret: str, raw: str) -> str:
    return hmac.new(secret.encode(), raw.encode(), hashlib.sha256).hexdigest()


def _valid(secret: str, token: str | None) -> bool:
    if not token or "." not in token:
        return False
    raw, signature = token.rsplit(".", 1)
    return hmac.compare_digest(_sign(secret, raw), signature)


def csrf_token(request: web.Request) -> str:
    """The token to put in this response's forms (template helper)."""
    return request[REQUEST_TOKEN]


def exempt(handler: Callable) -> Callable:
    """Mark a view that authenticates otherwise (signed webhook, bearer ID token)."""
    handler.csrf_exempt = True  # type: ignore[attr-defined]
    return handler


@web.middleware
async def csrf_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Refuse unsafe requests without the cookie's token; hand the token to templates."""
    settings = request.config_dict[WEB]
    secret = settings.secret_key
    cookie = request.cookies.get(COOKIE)
    fresh = not _valid(secret, cookie)
    token = cookie if not fresh else ""
    if fresh:
        raw = secrets.token_urlsafe(24)
        token = f"{raw}.{_sign(secret, raw)}"
    request[REQUEST_TOKEN] = token
    route_handler = request.match_info.handler
    if request.method not in SAFE_METHODS and not getattr(route_handler, "csrf_exempt", False):
        form = await request.post()
        sent = form.get(FIELD)
        if fresh or not isinstance(sent, str) or not hmac.compare_digest(sent, token):
            raise web.HTTPForbidden(
                text="フォームの有効期限が切れました。ページを開き直してください。",
                content_type="text/plain",
            )
    response = await handler(request)
    if fresh:
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="Lax",
            # Behind a TLS-terminating proxy the request looks like http: trust our own URL.
            secure=settings.secure_cookies,
        )
    return response
