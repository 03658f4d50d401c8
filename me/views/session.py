"""Signing in (employee code + password, or a registration code the first time), out, and
setting the password."""

import math
from http import HTTPStatus

from aiohttp import web
from aiohttp_session import get_session

from domain import audit, employee_page
from domain.errors import Invalid, NotFound
from domain.throttle import Throttled, wait_phrase
from me.auth import current_employee, end_session, signed_in, start_session
from me.keys import EMPLOYEE, SIGN_IN_ATTEMPTS
from me.render import render, url


def _busy(retry_after: int) -> str:
    return (
        "ログインの試行回数が上限に達したため、一時的に受け付けを停止しています。"
        f"{wait_phrase(retry_after)}後にもう一度お試しください。"
    )


def _refused(request: web.Request, retry_after: int, code: str) -> web.Response:
    """429: sign-in pauses; the page says when it lifts."""
    retry_after = max(1, retry_after)
    response = render(
        request,
        "login.html",
        {"error": _busy(retry_after), "employee_code": code},
        status=HTTPStatus.TOO_MANY_REQUESTS,
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


async def login_form(request: web.Request) -> web.Response:
    """The sign-in page (a signed-in employee goes straight on)."""
    if await current_employee(request) is not None:
        raise web.HTTPSeeOther(url(request, "home"))
    return render(request, "login.html", {"employee_code": ""})


async def login_submit(request: web.Request) -> web.Response:
    """Check the employee code with the password or registration code."""
    form = await request.post()
    code = str(form.get("employee_code", ""))[:64]
    # Cheapest refusal first: an address sending too much waits before any hash is checked.
    wait = request.config_dict[SIGN_IN_ATTEMPTS].take(request.remote or "")
    if wait:
        return _refused(request, math.ceil(wait), code)
    try:
        signed = await employee_page.sign_in(code, str(form.get("secret", "")))
    except Throttled as exc:
        await audit.record("me", code, "sign_in", result="refused")
        return _refused(request, exc.retry_after, code)
    except Invalid as exc:
        await audit.record("me", code, "sign_in", result="failed")
        return render(
            request,
            "login.html",
            {"error": exc.message, "employee_code": code},
            status=HTTPStatus.UNAUTHORIZED,
        )
    await start_session(request, signed)
    await audit.record(
        "me", code.strip(), "sign_in", detail={"via": "code" if signed.via_code else "password"}
    )
    raise web.HTTPSeeOther(url(request, "password" if signed.must_set_password else "home"))


async def logout(request: web.Request) -> web.Response:
    """Sign out (POST, with the CSRF token)."""
    await end_session(request)
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
        mark = await employee_page.set_password(
            employee.id,
            str(form.get("password", "")),
            str(form.get("confirm", "")),
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
    session["mark"] = mark
    session["via"] = "password"
    session["pw_required"] = False
    await audit.record("me", employee.code, "password_set")
    raise web.HTTPSeeOther(url(request, "home", done="password"))
