"""Rendering console pages: every template gets the viewer, the CSRF token and the menu the
viewer's role allows."""

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from console.keys import VIEWER
from domain.i18n import gettext as _
from models import ConsoleRole
from web.csrf import csrf_token
from web.errors import error_title

# (route name, label, roles allowed; empty = everyone signed in). Labels are marked here and
# translated for each viewer in `menu`.
MENU = [
    ("alerts", _("安否確認一覧"), ()),
    ("alert_new", _("発信"), (ConsoleRole.SENDER,)),
    ("employees", _("社員・部署"), (ConsoleRole.MAINTAINER,)),
    ("codes", _("登録コード"), (ConsoleRole.MAINTAINER,)),
    ("admin_groups", _("管理グループ"), (ConsoleRole.MAINTAINER,)),
    ("jma", _("気象庁連携"), (ConsoleRole.MAINTAINER,)),
    ("users", _("ユーザー"), (ConsoleRole.MAINTAINER,)),
    ("templates", _("テンプレート"), (ConsoleRole.MAINTAINER,)),
    ("usage", _("利用状況"), (ConsoleRole.MAINTAINER,)),
    ("audit", _("監査ログ"), (ConsoleRole.MAINTAINER,)),
    ("settings", _("設定"), (ConsoleRole.MAINTAINER,)),
]


def menu(request: web.Request) -> list[tuple[str, str]]:
    """The menu entries (URL, label) the signed-in viewer may open."""
    viewer = request.get(VIEWER)
    if viewer is None:
        return []
    router = request.app.router
    return [
        (str(router[name].url_for()), _(label))
        for name, label, roles in MENU
        if not roles or viewer.may(*roles)
    ]


def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    """A console page."""
    context = {
        "viewer": request.get(VIEWER),
        "csrf_token": csrf_token(request),
        "menu": menu(request),
        **context,
    }
    return aiohttp_jinja2.render_template(template, request, context, status=status)


def error_page(request: web.Request, status: int, message: str) -> web.Response:
    """A domain error as a console page: the header, what went wrong, the way back."""
    # The heading is web/'s, shared by every face's error page and translated with theirs.
    title = error_title(status)
    return render(request, "error.html", {"title": title, "message": message}, status=status)
