"""CSRF protection for our HTML forms: a per-browser token in a cookie, signed for this
purpose (`domain.signing`), that every unsafe form request must echo in `csrf_token`."""

import hmac
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from domain.signing import CSRF, sign, unsign
from web.keys import WEB

COOKIE = "anpi_csrf"
FIELD = "csrf_token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
REQUEST_TOKEN = web.RequestKey("csrf_token", str)


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
    if getattr(request.match_info.handler, "csrf_exempt", False):
        # Authenticated otherwise (a signature, an ID token) and rendering no form: no cookie
        # to read or issue (the LIFF answer API takes every answer of an earthquake).
        return await handler(request)
    settings = request.config_dict[WEB]
    secret = settings.secret_key
    cookie = request.cookies.get(COOKIE)
    fresh = unsign(secret, CSRF, cookie) is None
    token = sign(secret, CSRF, secrets.token_urlsafe(24)) if fresh else cookie
    request[REQUEST_TOKEN] = token
    if request.method not in SAFE_METHODS:
        form = await request.post()
        sent = form.get(FIELD)
        echoed = isinstance(sent, str) and hmac.compare_digest(sent.encode(), token.encode())
        if fresh or not echoed:
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
