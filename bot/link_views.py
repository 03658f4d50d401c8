"""The sign-in page of account linking: employee code + registration code, then LINE's
account-link dialog with a fresh nonce."""

from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web

from domain import linking
from domain.errors import NotFound, Throttled, wait_phrase
from domain.hashing import prioritized
from domain.i18n import gettext as _
from domain.i18n import speaking
from web.csrf import csrf_token
from web.i18n import accepted_language
from web.keys import LINK, LINK_ATTEMPTS
from web.ratelimit import RateLimiter
from web.sign_in import AddressBusy, sign_in_flow

# Sign-ins per client address, in this process: generous enough for an office behind one
# address linking together, small enough that one address cannot keep the hashers busy.
ADDRESS_BURST = 60
ADDRESS_PER_SECOND = 1.0


def address_limiter() -> RateLimiter:
    """The per-address limiter of sign-in attempts (one per app)."""
    return RateLimiter(ADDRESS_BURST, ADDRESS_PER_SECOND)


def _busy(wait: str) -> str:
    return _(
        "このネットワークからの連携手続きが集中しているため、一時的に受け付けを停止しています。"
        "%(wait)s後にもう一度お試しください。",
        wait=wait,
    )


def _then_start_again(reason: str) -> str:
    return _(
        "%(reason)sその後、LINEのトークで「連携」と送信して、新しいリンクから手続きしてください。",
        reason=reason,
    )


def _visitor_language(request: web.Request) -> str:
    """The page speaks the phone's language: the person linking is not known yet."""
    return accepted_language(request.headers.get("Accept-Language"))


def _link_token(value: object) -> str:
    token = value if isinstance(value, str) else ""
    return token if 0 < len(token) <= 200 else ""


def _page(
    request: web.Request,
    status: HTTPStatus,
    *,
    link_token: str = "",
    employee_code: str = "",
    error: str | None = None,
) -> web.Response:
    context: dict[str, Any] = {
        "csrf_token": csrf_token(request),
        "link_token": link_token,
        "employee_code": employee_code,
        "error": error,
    }
    return aiohttp_jinja2.render_template("link.html", request, context, status=status)


async def link_form(request: web.Request) -> web.Response:
    """Show the sign-in form for a link token the bot obtained from LINE (else say why not)."""
    with speaking(_visitor_language(request)):
        return await _link_form(request)


async def _link_form(request: web.Request) -> web.Response:
    token = _link_token(request.query.get("linkToken"))
    if await linking.link_token_user(token) is None:
        return _page(request, HTTPStatus.BAD_REQUEST, error=linking.link_expired_message())
    return _page(request, HTTPStatus.OK, link_token=token)


async def link_submit(request: web.Request) -> web.Response:
    """Check the codes; on success send the browser to LINE's account-link dialog."""
    with speaking(_visitor_language(request)):
        return await _link_submit(request)


async def _link_submit(request: web.Request) -> web.Response:
    form = await request.post()  # already read (and cached) by the CSRF check
    token = _link_token(form.get("linkToken"))
    employee_code = str(form.get("employee_code", ""))[:64]

    def paused(exc: Throttled) -> web.Response:
        if isinstance(exc, AddressBusy):
            return _page(
                request,
                HTTPStatus.TOO_MANY_REQUESTS,
                link_token=token,  # the form stays, to send again once the wait is over
                employee_code=employee_code,
                error=_busy(wait_phrase(exc.retry_after)),
            )
        return _page(request, HTTPStatus.TOO_MANY_REQUESTS, error=_then_start_again(exc.message))

    try:
        # begin_link hashes only for a link token the bot recorded: a LINE user linking,
        # whose check goes ahead of unauthenticated sign-ins flooding the hash queue.
        with prioritized():
            nonce = await sign_in_flow(
                request,
                LINK_ATTEMPTS,
                lambda: linking.begin_link(
                    token, employee_code, str(form.get("registration_code", ""))[:64]
                ),
                # A wrong answer keeps the form, to correct and send again.
                lambda error, status: _page(
                    request, status, link_token=token, employee_code=employee_code, error=error
                ),
                paused=paused,
                refused=HTTPStatus.UNPROCESSABLE_ENTITY,
            )
    except NotFound as exc:
        return _page(request, HTTPStatus.BAD_REQUEST, error=exc.message)
    if isinstance(nonce, web.Response):
        return nonce
    query = urlencode({"linkToken": token, "nonce": nonce})
    raise web.HTTPFound(
        f"{request.config_dict[LINK].access_base_url}/dialog/bot/accountLink?{query}"
    )
