"""Maintainer pages for admin groups: the bound LINE groups, a one-time bind code (shown once),
and unbinding a group (confirmed on a second page)."""

from aiohttp import web

from console.auth import requires
from console.keys import VIEWER
from console.render import render
from domain import admin_groups
from domain.i18n import gettext as _
from models import ConsoleRole
from web.keys import GROUPS

MAINTAINER = ConsoleRole.MAINTAINER
# Marked here, translated where shown.
NOTICES = {
    "unbound": _("管理グループの登録を解除し、ボットはグループから退出しました。"),
    "unbound_stayed": _(
        "管理グループの登録を解除しましたが、LINEからの退出に失敗しました。"
        "LINEアプリでグループからボットを削除してください。"
    ),
}


def setup_routes(app: web.Application) -> None:
    """Register this module's named routes."""
    app.router.add_get("/admin-groups", group_list, name="admin_groups")
    app.router.add_post("/admin-groups/code", code_issue, name="admin_group_code")
    app.router.add_post(r"/admin-groups/{id:\d{1,9}}/unbind", unbind, name="admin_group_unbind")


def short_id(group_id: str) -> str:
    """A group ID shortened for the page: enough to tell groups apart, not to copy."""
    return group_id if len(group_id) <= 12 else f"{group_id[:5]}…{group_id[-4:]}"


async def _page(request: web.Request, **extra: object) -> web.Response:
    groups = [(g, short_id(g.group_id)) for g in await admin_groups.bound_groups()]
    return render(request, "admin_groups.html", {"groups": groups, **extra})


@requires(MAINTAINER)
async def group_list(request: web.Request) -> web.Response:
    """The bound admin groups and the form issuing a bind code."""
    notice = NOTICES.get(request.query.get("done", ""))
    return await _page(request, notice=_(notice) if notice else None)


@requires(MAINTAINER)
async def code_issue(request: web.Request) -> web.Response:
    """Issue a bind code and show it once (only its hash is stored)."""
    viewer = request[VIEWER]
    issued = await admin_groups.issue_bind_code(viewer.actor)
    return await _page(request, issued=issued)


@requires(MAINTAINER)
async def unbind(request: web.Request) -> web.Response:
    """Unbind a group: the first POST asks to confirm, the confirmed one unbinds."""
    viewer = request[VIEWER]
    group = await admin_groups.admin_group(int(request.match_info["id"]))
    form = await request.post()
    if form.get("confirmed") != "1":
        return render(
            request,
            "admin_groups_unbind.html",
            {"group": group, "short_id": short_id(group.group_id)},
        )
    left = await admin_groups.unbind_group(  # NotFound if unbound meanwhile
        viewer.actor, group.group_id, leaver=request.config_dict[GROUPS]
    )
    done = "unbound" if left else "unbound_stayed"
    url = request.app.router["admin_groups"].url_for().with_query(done=done)
    raise web.HTTPSeeOther(str(url))
