"""Signing in and out."""

from http import HTTPStatus

from aiohttp import web

from console.auth import current_viewer, start_session
from console.keys import SIGN_IN_ATTEMPTS
from console.render import render
from domain import console_users
from web.sessions import end_session
from web.sign_in import sign_in_flow


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

    def page(error: str, status: HTTPStatus) -> web.Response:
        return render(
            request, "login.html", {"error": error, "next": target, "login": login}, status=status
        )

    viewer = await sign_in_flow(
        request,
        SIGN_IN_ATTEMPTS,
        lambda: console_users.sign_in(login, str(form.get("password", "")), request.remote or ""),
        page,
    )
    if isinstance(viewer, web.Response):
        return viewer
    await start_session(request, viewer)
    raise web.HTTPSeeOther(target)


async def logout(request: web.Request) -> web.Response:
    """Sign out (POST, with the CSRF token)."""
    viewer = await current_viewer(request)
    await end_session(request)
    if viewer is not None:
        await console_users.sign_out(viewer)
    raise web.HTTPSeeOther(str(request.app.router["login"].url_for()))
