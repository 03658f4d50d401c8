"""The page itself: the employee's record, contact media (LINE, e-mail addresses on/off),
preferred language and recent answers; and the forms that change them."""

from aiohttp import web

from domain import email_confirmation, employee_page, family
from domain.actors import Actor
from domain.errors import Invalid, Throttled
from domain.i18n import gettext as _
from me.auth import signed_in
from me.keys import EMPLOYEE, LINE_EVENTS, LOGIN, OUTBOX
from me.render import render, url
from web.keys import WEB


def notices() -> dict[str, str]:
    """What the page says after a change (`?done=`), in the current language."""
    return {
        "password": _("パスワードを設定しました。"),
        "email": _("メールアドレスの設定を保存しました。"),
        "email_sent": _(
            "確認メールを送信しました。メールのリンクを開くと、このアドレスにも安否確認が届きます。"
        ),
        "email_unsent": _(
            "確認メールを送信できませんでした。しばらくしてから「確認メールを再送」を押してください。"
        ),
        "email_off": _(
            "メールの送信が設定されていないため、確認メールを送れません。管理者にご相談ください。"
        ),
        "language": _("言語の設定を保存しました。"),
        "family": _("家族の登録内容を保存しました。"),
        "family_answer": _("家族の安否を記録しました。"),
    }


async def render_home(request: web.Request, status: int = 200, **extra: object) -> web.Response:
    """The page, with a form's error or a one-time value (a family LINE code) shown."""
    return await _home(request, status, **extra)


async def _home(request: web.Request, status: int = 200, **extra: object) -> web.Response:
    view = await employee_page.my_page(request[EMPLOYEE].id)
    return render(
        request,
        "home.html",
        {
            "page": view,
            "languages": employee_page.LANGUAGES,
            "login_enabled": request.config_dict[LOGIN].enabled,
            "notice": notices().get(request.query.get("done", "")),
            "family_statuses": [(s.value, family.status_label(s)) for s in family.STATUS_ORDER],
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
    raise Invalid(_("メールアドレスを指定してください。"))


@signed_in()
async def email_add(request: web.Request) -> web.Response:
    """Add an e-mail address (switched on)."""
    employee = request[EMPLOYEE]
    form = await request.post()
    address = str(form.get("address", ""))[:300]
    try:
        sent = await employee_page.add_email(
            employee.id, address, Actor.me(employee.code), confirmations_for(request)
        )
    except (Invalid, Throttled) as exc:
        return await _home(request, email_error=exc.message, address=address)
    raise web.HTTPSeeOther(url(request, "home", done=sent_notice(request, sent)))


def sent_notice(request: web.Request, sent: bool) -> str:
    """The notice after a confirmation e-mail: sent, not sent, or e-mail off."""
    if sent:
        return "email_sent"
    return "email_unsent" if request.config_dict[OUTBOX].sender is not None else "email_off"


def confirmations_for(request: web.Request) -> email_confirmation.Confirmations:
    """What sending a confirmation link needs, for this request (family addresses too)."""
    settings = request.config_dict[WEB]
    return email_confirmation.Confirmations(
        secret=settings.secret_key,
        confirm_url=f"{settings.public_base_url}{url(request, 'email_confirm')}",
        sender=request.config_dict[OUTBOX].sender,
    )


@signed_in()
async def email_resend(request: web.Request) -> web.Response:
    """E-mail the confirmation link of an unconfirmed address again."""
    employee = request[EMPLOYEE]
    form = await request.post()
    email_id = _email_id(form.get("email_id"))
    if email_id is None:
        raise Invalid(_("社員情報のアドレスは確認不要です。"))
    try:
        sent = await email_confirmation.resend(
            employee.id, email_id, Actor.me(employee.code), confirmations_for(request)
        )
    except Throttled as exc:
        return await _home(request, status=429, email_error=exc.message)
    raise web.HTTPSeeOther(url(request, "home", done=sent_notice(request, sent)))


async def email_confirm_form(request: web.Request) -> web.Response:
    """The page a confirmation link opens: the address, and the button that confirms it (a
    mail scanner that follows links confirms nothing)."""
    token = request.query.get("token", "")
    secret = request.config_dict[WEB].secret_key
    address = await email_confirmation.pending_address(secret, token)
    for_family = email_confirmation.is_family_link(secret, token)
    return render(
        request, "email_confirm.html", {"address": address, "token": token, "family": for_family}
    )


async def email_confirm(request: web.Request) -> web.Response:
    """Confirm the address; no sign-in needed (the link is the proof it reached them)."""
    form = await request.post()
    token = str(form.get("token", ""))
    secret = request.config_dict[WEB].secret_key
    address = await email_confirmation.confirm(secret, token)
    for_family = email_confirmation.is_family_link(secret, token)
    context = {"address": address, "confirmed": True, "family": for_family}
    return render(request, "email_confirm.html", context)


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
        raise Invalid(_("このメールアドレスは削除できません。"))
    await employee_page.remove_email(employee.id, email_id, Actor.me(employee.code))
    raise web.HTTPSeeOther(url(request, "home", done="email"))


@signed_in()
async def language(request: web.Request) -> web.Response:
    """Save the preferred language."""
    employee = request[EMPLOYEE]
    form = await request.post()
    try:
        changed = await employee_page.set_language(
            employee.id, str(form.get("language", "")), Actor.me(employee.code)
        )
    except Invalid as exc:
        return await _home(request, error=exc.message)
    if changed.line_user_id is not None:
        await request.config_dict[LINE_EVENTS].language_changed(
            changed.line_user_id, changed.language
        )
    raise web.HTTPSeeOther(url(request, "home", done="language"))
