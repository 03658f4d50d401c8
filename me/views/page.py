"""The page itself: the employee's record, contact media (LINE, e-mail addresses on/off),
preferred language and recent answers; and the forms that change them."""

from aiohttp import web

from domain import employee_page
from domain.audit import Actor
from domain.errors import Invalid
from me.auth import signed_in
from me.keys import EMPLOYEE, LOGIN
from me.render import render, url

NOTICES = {
    "password": "パスワードを設定しました。",
    "email": "メールアドレスの設定を保存しました。",
    "language": "言語の設定を保存しました。",
}


async def _home(request: web.Request, status: int = 200, **extra: object) -> web.Response:
    view = await employee_page.my_page(request[EMPLOYEE].id)
    return render(
        request,
        "home.html",
        {
            "page": view,
            "languages": employee_page.LANGUAGES,
            "login_enabled": request.config_dict[LOGIN].enabled,
            "notice": NOTICES.get(request.query.get("done", "")),
            **extra,
        },
        status=status,
    )


@signed_in()
async def home(request: web.Request) -> web.Response:
    """The employee's own record."""
    return await _home(request)


def _email_id(raw: object) -> int | None:
    """`record` (the address on the employee record) or an added address's number."""
    value = str(raw or "")
    if value == "record":
        return None
    if value.isdigit() and len(value) <= 9:
        return int(value)
    raise Invalid("メールアドレスを指定してください。")


@signed_in()
async def email_add(request: web.Request) -> web.Response:
    """Add an e-mail address (switched on)."""
    employee = request[EMPLOYEE]
    form = await request.post()
    address = str(form.get("address", ""))[:300]
    try:
        await employee_page.add_email(employee.id, address, Actor.me(employee.code))
    except Invalid as exc:
        return await _home(request, email_error=exc.message, address=address)
    raise web.HTTPSeeOther(url(request, "home", done="email"))


@signed_in()
async def email_switch(request: web.Request) -> web.Response:
    """Switch one address on or off."""
    employee = request[EMPLOYEE]
    form = await request.post()
    await employee_page.set_email_enabled(
        employee.id,
        _email_id(form.get("email_id")),
        form.get("enabled") == "1",
        Actor.me(employee.code),
    )
    raise web.HTTPSeeOther(url(request, "home", done="email"))


@signed_in()
async def email_remove(request: web.Request) -> web.Response:
    """Remove an address the employee added."""
    employee = request[EMPLOYEE]
    form = await request.post()
    email_id = _email_id(form.get("email_id"))
    if email_id is None:
        raise Invalid("このメールアドレスは削除できません。")
    await employee_page.remove_email(employee.id, email_id, Actor.me(employee.code))
    raise web.HTTPSeeOther(url(request, "home", done="email"))


@signed_in()
async def language(request: web.Request) -> web.Response:
    """Save the preferred language."""
    employee = request[EMPLOYEE]
    form = await request.post()
    try:
        await employee_page.set_language(
            employee.id, str(form.get("language", "")), Actor.me(employee.code)
        )
    except Invalid as exc:
        return await _home(request, error=exc.message)
    raise web.HTTPSeeOther(url(request, "home", done="language"))
