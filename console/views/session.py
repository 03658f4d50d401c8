"""Signing in and out."""

from http import HTTPStatus

from aiohttp import web

from console.auth import current_viewer, end_session, start_session
from console.render import render
from domain import audit, console_users
from domain.errors import Invalid
from domain.throttle import Throttled


def _next(value: object) -> str:
    """Where to go after signing in: only a path inside the console (no open redirect)."""
    target = value if isinstance(value, str) else ""
    if target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console/"


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
    try:
        viewer = await console_users.sign_in(login, str(form.get("password", "")))
    except Throttled as exc:
        await audit.record("console", login, "sign_in", result="refused")
        response = render(
            request,
            "login.html",
            {"error": exc.message, "next": target, "login": login},
            status=HTTPStatus.TOO_MANY_REQUESTS,
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
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
