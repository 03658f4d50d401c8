"""Signing in (employee code + password, or a registration code the first time), out, and
setting the password."""

from http import HTTPStatus

from aiohttp import web
from aiohttp_session import get_session

from domain import employee_page
from domain.actors import Actor
from domain.errors import Invalid, NotFound, Throttled
from me.auth import current_employee, signed_in, start_session
from me.keys import EMPLOYEE, SIGN_IN_ATTEMPTS
from me.render import render, url
from web.sessions import end_session
from web.sign_in import sign_in_flow


async def login_form(request: web.Request) -> web.Response:
    """The sign-in page (a signed-in employee goes straight on)."""
    if await current_employee(request) is not None:
        raise web.HTTPSeeOther(url(request, "home"))
    return render(request, "login.html", {"employee_code": ""})


async def login_submit(request: web.Request) -> web.Response:
    """Check the employee code with the password or registration code."""
    form = await request.post()
    code = str(form.get("employee_code", ""))[:64]

    def page(error: str, status: HTTPStatus) -> web.Response:
        return render(request, "login.html", {"error": error, "employee_code": code}, status=status)

    signed = await sign_in_flow(
        request,
        SIGN_IN_ATTEMPTS,
        lambda: employee_page.sign_in(code, str(form.get("secret", "")), request.remote or ""),
        page,
    )
    if isinstance(signed, web.Response):
        return signed
    await start_session(request, signed)
    raise web.HTTPSeeOther(url(request, "password" if signed.must_set_password else "home"))


async def logout(request: web.Request) -> web.Response:
    """Sign out (POST, with the CSRF token): every session of the employee ends."""
    employee = await current_employee(request)
    await end_session(request)
    if employee is not None:
        await employee_page.sign_out(employee.id, Actor.me(employee.code))
    raise web.HTTPSeeOther(url(request, "login"))


async def _password_context(request: web.Request) -> dict:
    session = await get_session(request)
    employee = request[EMPLOYEE]
    return {
        "first": bool(session.get("pw_required")),
        # Changing a password the session was opened with asks for it again.
        "ask_current": session.get("via") == "password" and employee.password_hash is not None,
        "min_length": employee_page.MIN_PASSWORD,
    }


@signed_in(password_step=True)
async def password_form(request: web.Request) -> web.Response:
    """Set (the first time) or change the password."""
    return render(request, "password.html", await _password_context(request))


@signed_in(password_step=True)
async def password_submit(request: web.Request) -> web.Response:
    """Save the new password; the session goes on under it."""
    employee = request[EMPLOYEE]
    form = await request.post()
    context = await _password_context(request)
    try:
        generation = await employee_page.set_password(
            employee.id,
            str(form.get("password", "")),
            str(form.get("confirm", "")),
            Actor.me(employee.code),
            current=str(form.get("current", "")) if context["ask_current"] else None,
        )
    except Throttled as exc:
        response = render(
            request,
            "password.html",
            {**context, "error": exc.message},
            status=HTTPStatus.TOO_MANY_REQUESTS,
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except Invalid as exc:
        return render(
            request,
            "password.html",
            {**context, "error": exc.message, "fields": exc.fields},
        )  # 200, as flaskr does: a form to correct is not a failed request
    except NotFound:
        await end_session(request)
        raise web.HTTPSeeOther(url(request, "login")) from None
    session = await get_session(request)
    session["gen"] = generation
    session["via"] = "password"
    session["pw_required"] = False
    raise web.HTTPSeeOther(url(request, "home", done="password"))
