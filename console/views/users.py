"""Maintainer pages for console users: the list, adding one, changing name, role and
departments, disabling and enabling, and resetting a password; and every user's own account
page, where they choose the console's language."""

from aiohttp import web

from console.auth import requires
from console.keys import VIEWER
from console.render import render
from domain import console_users as users
from domain.employees import department_choices
from domain.errors import Conflict, Invalid, NotFound
from domain.i18n import LANGUAGES
from domain.i18n import gettext as _
from models import ConsoleRole

MAINTAINER = ConsoleRole.MAINTAINER
# Marked here, translated where shown.
ROLE_LABELS = {
    ConsoleRole.SUPERVISOR: _("集計権限者"),
    ConsoleRole.SENDER: _("発信権限者"),
    ConsoleRole.MAINTAINER: _("メンテナンス担当者"),
}
NOTICES = {
    "added": _("ユーザーを追加しました。"),
    "updated": _("保存しました。"),
    "disabled": _("ユーザーを無効にしました。"),
    "enabled": _("ユーザーを有効にしました。"),
    "password": _("パスワードを再設定しました。本人に安全な方法で伝えてください。"),
}


def setup_routes(app: web.Application) -> None:
    """Register this module's named routes."""
    app.router.add_get("/users", user_list, name="users")
    app.router.add_post("/users", user_add, name="user_add")
    app.router.add_post(r"/users/{login}/update", user_update, name="user_update")
    app.router.add_post(r"/users/{login}/disable", user_disable, name="user_disable")
    app.router.add_post(r"/users/{login}/enable", user_enable, name="user_enable")
    app.router.add_post(r"/users/{login}/password", user_password, name="user_password")
    app.router.add_get("/account", account, name="account")
    app.router.add_post("/account/language", account_language, name="account_language")


def _done(request: web.Request, what: str) -> web.HTTPSeeOther:
    url = request.app.router["users"].url_for().with_query(done=what)
    return web.HTTPSeeOther(str(url))


async def _page(request: web.Request, status: int = 200, **extra: object) -> web.Response:
    return render(
        request,
        "users.html",
        {
            "users": await users.list_users(),
            "departments": await department_choices(),
            "roles": {role: _(label) for role, label in ROLE_LABELS.items()},
            "form": {},
            **extra,
        },
        status=status,
    )


def _role(raw: object) -> ConsoleRole:
    try:
        return ConsoleRole(str(raw))
    except ValueError:
        raise Invalid(_("役割を選んでください。"), code="invalid_role") from None


def _department_ids(form: object) -> list[int]:
    raw = [str(v) for v in form.getall("departments", [])]  # type: ignore[attr-defined]
    if not all(v.isdigit() and len(v) < 10 for v in raw):
        raise Invalid(_("部署が見つかりません。"), code="no_department")
    return [int(v) for v in raw]


@requires(MAINTAINER)
async def user_list(request: web.Request) -> web.Response:
    """Every console user with the forms that change them."""
    notice = NOTICES.get(request.query.get("done", ""))
    return await _page(request, notice=_(notice) if notice else "")


@requires(MAINTAINER)
async def user_add(request: web.Request) -> web.Response:
    """Add a user; errors re-render the page with what was typed (never the password)."""
    form = await request.post()
    typed = {k: str(form.get(k, ""))[:200] for k in ("login", "name", "role")}
    try:
        departments = await users.find_departments_by_id(_department_ids(form))
        await users.add_user(
            typed["login"],
            typed["name"],
            str(form.get("password", "")),
            _role(typed["role"]),
            departments,
            request[VIEWER].actor,
        )
    except (Invalid, Conflict) as exc:
        typed["departments"] = [str(v) for v in form.getall("departments", [])]
        return await _page(request, error=exc.message, form=typed)
    raise _done(request, "added")


@requires(MAINTAINER)
async def user_update(request: web.Request) -> web.Response:
    """Change a user's name, role and departments."""
    form = await request.post()
    try:
        departments = await users.find_departments_by_id(_department_ids(form))
        await users.update_user(
            request.match_info["login"],
            name=str(form.get("name", "")),
            role=_role(form.get("role")),
            departments=departments,
            actor=request[VIEWER].actor,
        )
    except NotFound as exc:
        raise web.HTTPNotFound(text=exc.message) from None
    except (Invalid, Conflict) as exc:
        return await _page(request, error=exc.message)
    raise _done(request, "updated")


@requires(MAINTAINER)
async def user_disable(request: web.Request) -> web.Response:
    """Disable a user (never oneself nor the last maintainer)."""
    try:
        await users.disable_user(request.match_info["login"], request[VIEWER].actor)
    except NotFound as exc:
        raise web.HTTPNotFound(text=exc.message) from None
    except Conflict as exc:
        return await _page(request, error=exc.message)
    raise _done(request, "disabled")


@requires(MAINTAINER)
async def user_enable(request: web.Request) -> web.Response:
    """Let a disabled user sign in again."""
    try:
        await users.enable_user(request.match_info["login"], request[VIEWER].actor)
    except NotFound as exc:
        raise web.HTTPNotFound(text=exc.message) from None
    raise _done(request, "enabled")


@requires(MAINTAINER)
async def user_password(request: web.Request) -> web.Response:
    """Reset a user's password to one the maintainer typed."""
    form = await request.post()
    try:
        await users.set_password(
            request.match_info["login"], str(form.get("password", "")), request[VIEWER].actor
        )
    except NotFound as exc:
        raise web.HTTPNotFound(text=exc.message) from None
    except Invalid as exc:
        return await _page(request, error=exc.message)
    raise _done(request, "password")


@requires()
async def account(request: web.Request) -> web.Response:
    """The signed-in user's own account: the console's language."""
    done = request.query.get("done") == "language"
    return render(
        request,
        "account.html",
        {"languages": LANGUAGES, "notice": _("表示言語を変更しました。") if done else ""},
    )


@requires()
async def account_language(request: web.Request) -> web.Response:
    """Choose the language the console speaks to oneself (CSRF-checked like every form)."""
    form = await request.post()
    await users.set_own_language(request[VIEWER], str(form.get("language", ""))[:8])
    url = request.app.router["account"].url_for().with_query(done="language")
    raise web.HTTPSeeOther(str(url))
