"""Signing in and out."""

import math
from http import HTTPStatus

from aiohttp import web

from console.auth import current_viewer, end_session, start_session
from console.keys import SIGN_IN_ATTEMPTS
from console.render import render
from domain import audit, console_users
from domain.errors import Invalid
from domain.throttle import Throttled, wait_phrase


def _next(value: object) -> str:
    """Where to go after signing in: only a path inside the console (no open redirect)."""
    target = value if isinstance(value, str) else ""
    if target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console/"


def _refused(request: web.Request, retry_after: int, target: str, login: str) -> web.Response:
    """429: sign-in pauses; the page says when it lifts."""
    retry_after = max(1, retry_after)
    message = (
        "ログインの試行回数が上限に達したため、一時的に受け付けを停止しています。"
        f"{wait_phrase(retry_after)}後にもう一度お試しください。"
    )
    response = render(
        request,
        "login.html",
        {"error": message, "next": target, "login": login},
        status=HTTPStatus.TOO_MANY_REQUESTS,
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


async def login_form(request: web.Request) -> web.Response:
    """The sign-in page (a signed-in user goes straight on)."""
    if await current_viewer(request) is not None:
        raise web.HTTPSeeOther(_next(request.query.get("next")))
    return render(request, "login.html", {"next": _next(request.query.get("next")), "login": ""})


async def login_submit(request: web.Request) -> web.Response:
    """Check the login and password; a pause after repeated failures says when it lifts."""
    form = await request.post()
    login = str(form.get("login", ""))[:64]
    target = _next(form.get("next"))
    # Cheapest refusal first: an address sending too much waits before any password check.
    wait = request.config_dict[SIGN_IN_ATTEMPTS].take(request.remote or "")
    if wait:
        return _refused(request, math.ceil(wait), target, login)
    try:
        viewer = await console_users.sign_in(login, str(form.get("password", "")))
    except Throttled as exc:
        await audit.record("console", login, "sign_in", result="refused")
        return _refused(request, exc.retry_after, target, login)
    except Invalid as exc:
        await audit.record("console", login, "sign_in", result="failed")
        return render(
            request,
            "login.html",
            {"error": exc.message, "next": target, "login": login},
            status=HTTPStatus.UNAUTHORIZED,
        )
    await start_session(request, viewer)
    await audit.record("console", viewer.login, "sign_in")
    raise web.HTTPSeeOther(target)


async def logout(request: web.Request) -> web.Response:
    """Sign out (POST, with the CSRF token)."""
    viewer = await current_viewer(request)
    await end_session(request)
    if viewer is not None:
        await audit.record("console", viewer.login, "sign_out")
    raise web.HTTPSeeOther(str(request.app.router["login"].url_for()))
