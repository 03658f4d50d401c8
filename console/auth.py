"""Who is signed in: the session holds the user's ID and when they were last seen; every view
declares the roles it serves, and the check runs on the server before the view."""

import functools
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from aiohttp import web
from aiohttp_session import get_session, new_session

from console.keys import VIEWER
from domain.console_users import Viewer, viewer
from domain.errors import NotFound
from models import ConsoleRole

IDLE_SECONDS = 30 * 60  # a session unused this long is signed out

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def start_session(request: web.Request, signed_in: Viewer) -> None:
    """A fresh session for the user who just signed in (a new cookie, so no fixation)."""
    session = await new_session(request)
    session["uid"] = signed_in.user_id
    session["seen"] = int(time.time())


async def end_session(request: web.Request) -> None:
    """Sign out."""
    session = await get_session(request)
    session.invalidate()


async def current_viewer(request: web.Request) -> Viewer | None:
    """The signed-in, still active user, or None (expired by idleness, disabled, none)."""
    session = await get_session(request)
    uid, seen = session.get("uid"), session.get("seen")
    if not isinstance(uid, int) or not isinstance(seen, int):
        return None
    now = int(time.time())
    if now - seen > IDLE_SECONDS:
        session.invalidate()
        return None
    try:
        found = await viewer(uid)
    except NotFound:
        session.invalidate()
        return None
    session["seen"] = now
    return found


def requires(*roles: ConsoleRole) -> Callable[[Handler], Handler]:
    """A view for these roles (a maintainer passes every check; no roles: any signed-in
    user). Anonymous users go to the sign-in page; others get 403."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            found = await current_viewer(request)
            if found is None:
                login = request.app.router["login"].url_for()
                if request.method == "GET":
                    raise web.HTTPSeeOther(f"{login}?{urlencode({'next': request.path_qs})}")
                raise web.HTTPUnauthorized(text="ログインしてください。")
            if roles and not found.may(*roles):
                raise web.HTTPForbidden(text="この操作を行う権限がありません。")
            request[VIEWER] = found
            return await handler(request)

        return guarded

    return decorate
