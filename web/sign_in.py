"""The sign-in flow every sign-in form shares (link page, console, employee page): the
per-address limit first, as the cheapest refusal, then the domain's sign-in; a pause either
way is answered 429 with Retry-After by the face's own page."""

import math
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TypeVar

from aiohttp import web

from domain.errors import Invalid, Throttled, wait_phrase
from domain.hashing import HashQueueBusy
from domain.i18n import gettext as _
from web.ratelimit import RateLimiter

T = TypeVar("T")


class AddressBusy(Throttled):
    """Too many sign-ins from one client address, in this process."""

    code = "address_busy"


def paused_message(retry_after: int) -> str:
    """What a sign-in form says while sign-in pauses."""
    return _(
        "ログインの試行回数が上限に達したため、一時的に受け付けを停止しています。"
        "%(wait)s後にもう一度お試しください。",
        wait=wait_phrase(retry_after),
    )


async def sign_in_flow(
    request: web.Request,
    limiter: web.AppKey[RateLimiter],
    sign_in: Callable[[], Awaitable[T]],
    page: Callable[[str, HTTPStatus], web.Response],
    *,
    paused: Callable[[Throttled], web.Response] | None = None,
    refused: HTTPStatus = HTTPStatus.UNAUTHORIZED,
) -> T | web.Response:
    """The signed-in result, or the face's 429 page (with Retry-After) while sign-in pauses:
    for this address (AddressBusy) or for what the domain counts attempts by (Throttled).

    `page(error, status)` is the face's form with an error: a wrong answer (Invalid) is
    shown on it with the status `refused`; `paused` renders a pause its own way (by default:
    the form saying when sign-in resumes)."""
    try:
        wait = request.config_dict[limiter].take(request.remote or "")
        if wait:
            raise AddressBusy(max(1, math.ceil(wait)))
        return await sign_in()
    except Invalid as exc:
        return page(exc.message, refused)
    except Throttled as exc:
        if paused is not None:
            response = paused(exc)
        elif isinstance(exc, HashQueueBusy):
            response = page(exc.message, HTTPStatus.TOO_MANY_REQUESTS)
        else:
            response = page(paused_message(exc.retry_after), HTTPStatus.TOO_MANY_REQUESTS)
        response.headers["Retry-After"] = str(max(1, exc.retry_after))
        return response
