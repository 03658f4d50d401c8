"""The sign-in page of account linking: employee code + registration code, then LINE's
account-link dialog with a fresh nonce."""

from http import HTTPStatus
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web

from domain import linking
from domain.errors import Invalid
from web.csrf import csrf_token
from web.keys import LINK

LINK_EXPIRED = (
    "このリンクは無効です。LINEのトークで「連携」と送信して、新しいリンクから手続きしてください。"
)


def _link_token(value: object) -> str:
    token = value if isinstance(value, str) else ""
    return token if 0 < len(token) <= 200 else ""


async def link_form(request: web.Request) -> web.Response:
    """Show the sign-in form for the link token LINE gave the user."""
    token = _link_token(request.query.get("linkToken"))
    context = {
        "csrf_token": csrf_token(request),
        "link_token": token,
        "employee_code": "",
        "error": None if token else LINK_EXPIRED,
    }
    status = HTTPStatus.OK if token else HTTPStatus.BAD_REQUEST
    return aiohttp_jinja2.render_template("link.html", request, context, status=status)


async def link_submit(request: web.Request) -> web.Response:
    """Check the codes; on success send the browser to LINE's account-link dialog."""
    form = await request.post()
    token = _link_token(form.get("linkToken"))
    employee_code = str(form.get("employee_code", ""))[:64]
    if not token:
        return aiohttp_jinja2.render_template(
            "link.html",
            request,
            {
                "csrf_token": csrf_token(request),
                "link_token": "",
                "employee_code": "",
                "error": LINK_EXPIRED,
            },
            status=HTTPStatus.BAD_REQUEST,
        )
    try:
        nonce = await linking.begin_link(employee_code, str(form.get("registration_code", ""))[:64])
    except Invalid as exc:
        return aiohttp_jinja2.render_template(
            "link.html",
            request,
            {
                "csrf_token": csrf_token(request),
                "link_token": token,
                "employee_code": employee_code,
                "error": exc.message,
            },
            status=HTTPStatus.UNPROCESSABLE_ENTITY,
        )
    query = urlencode({"linkToken": token, "nonce": nonce})
    raise web.HTTPFound(
        f"{request.config_dict[LINK].access_base_url}/dialog/bot/accountLink?{query}"
    )
