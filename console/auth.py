"""Who is signed in: the session holds the user's ID, their session generation (signing out,
a new password, disabling or a new role end older sessions) and when it started and was last
seen; every view declares the roles it serves, and the check runs on the server before the
view."""

import functools
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from aiohttp import web

from console.keys import VIEWER
from domain.console_users import Viewer, viewer
from domain.errors import Forbidden, NotFound
from domain.i18n import DEFAULT_LANGUAGE, set_language, speaking
from domain.i18n import gettext as _
from models import ConsoleRole
from web import sessions

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def language(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every request starts in Japanese (the sign-in page too, whatever the browser asks for:
    the console stays Japanese unless a user chooses otherwise); `requires` switches to the
    signed-in user's language. Outermost, so the error pages speak it too. The block resets it
    afterwards, so no request depends on aiohttp giving each request a task of its own."""
    with speaking(DEFAULT_LANGUAGE):
        return await handler(request)


async def start_session(request: web.Request, signed_in: Viewer) -> None:
    """A fresh session for the user who just signed in."""
    await sessions.start_session(request, uid=signed_in.user_id, gen=signed_in.generation)


async def current_viewer(request: web.Request) -> Viewer | None:
    """The signed-in, still active user, or None (expired, ended on the server, disabled,
    none)."""
    session = await sessions.live_session(request)
    if session is None:
        return None
    uid, generation = session.get("uid"), session.get("gen")
    if not isinstance(uid, int) or not isinstance(generation, int):
        session.invalidate()
        return None
    try:
        return await viewer(uid, generation)
    except NotFound:
        session.invalidate()
        return None


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
                raise web.HTTPUnauthorized(text=_("ログインしてください。"))
            request[VIEWER] = found  # the error page's header shows who is signed in
            set_language(found.language)
            if roles and not found.may(*roles):
                raise Forbidden(_("この操作を行う権限がありません。"), code="role")
            return await handler(request)

        return guarded

    return decorate
