"""Who is signed in to the employee page: the session holds the employee's ID, how they
signed in, their session generation (signing out or a new password ends older sessions) and
when it started and was last seen (30 idle minutes or 12 hours end it)."""

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp_session import get_session

from domain.employee_page import SignedIn, signed_in_employee
from domain.i18n import DEFAULT_LANGUAGE, set_language, speaking
from domain.i18n import gettext as _
from me.keys import EMPLOYEE
from models import Employee
from web import sessions

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def language(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every request starts in Japanese; `signed_in` switches to the employee's language.
    Outermost, so the error pages speak it too; the block resets it afterwards."""
    with speaking(DEFAULT_LANGUAGE):
        return await handler(request)


async def start_session(request: web.Request, signed: SignedIn) -> None:
    """A fresh session for the employee who just signed in."""
    await sessions.start_session(
        request,
        eid=signed.employee_id,
        gen=signed.generation,
        via="code" if signed.via_code else "password",
        pw_required=signed.must_set_password,
    )


async def current_employee(request: web.Request) -> Employee | None:
    """The signed-in, still active employee, or None (expired, ended on the server by a
    sign-out or a new password, retired, none)."""
    session = await sessions.live_session(request)
    if session is None:
        return None
    eid, generation = session.get("eid"), session.get("gen")
    if not isinstance(eid, int) or not isinstance(generation, int):
        session.invalidate()
        return None
    employee = await signed_in_employee(eid, generation)
    if employee is None:
        session.invalidate()
        return None
    return employee


def _to(request: web.Request, name: str) -> str:
    return str(request.app.router[name].url_for())


def signed_in(*, password_step: bool = False) -> Callable[[Handler], Handler]:
    """A view for the signed-in employee. Anonymous browsers go to the sign-in page; a
    session opened with a registration code where passwords are used goes to the password
    page first (`password_step`: the view that is that page)."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            employee = await current_employee(request)
            if employee is None:
                if request.method == "GET":
                    raise web.HTTPSeeOther(_to(request, "login"))
                raise web.HTTPUnauthorized(
                    text=_("ログインの有効期限が切れました。もう一度ログインしてください。")
                )
            session = await get_session(request)
            if session.get("pw_required") and not password_step:
                raise web.HTTPSeeOther(_to(request, "password"))
            request[EMPLOYEE] = employee
            # The page, and an error page for it, speaks the employee's language (unset:
            # Japanese) for the rest of this request.
            set_language(employee.language)
            return await handler(request)

        return guarded

    return decorate
