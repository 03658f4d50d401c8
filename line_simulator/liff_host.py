"""The LIFF host (liff.line.me role): opens LIFF apps as a user, and serves the SDK stand-in.

`{sim}/liff/{liffId}/path?x=1` redirects, as LINE's primary redirect does, to the app's endpoint
with `liff.state=/path?x=1` and, in the fragment, an ID token for the current simulated user
(cookie `sim_user`, chosen on a picker page). The SDK stand-in's `liff.init()` picks it up.
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from aiohttp import web

from line_simulator.keys import SIMULATOR
from line_simulator.pages import notice, render

if TYPE_CHECKING:
    from line_simulator.simulator import Simulator

log = logging.getLogger(__name__)

USER_COOKIE = "sim_user"
TOKEN_FRAGMENT = "sim_id_token"


def open_as_url(user_id: str, url: str) -> str:
    """Return the simulator URL that makes `user_id` the current user and then opens `url`."""
    return "/_sim/open?" + urlencode({"user": user_id, "url": url})


def public_base(sim: Simulator, request: web.Request) -> str:
    """Return the simulator's URL as the browser reaches it (configured, else this request's)."""
    return (sim.config.public_base_url or str(request.url.origin())).rstrip("/")


def liff_redirect_url(endpoint_url: str, path: str, query_string: str, id_token: str) -> str:
    """Return where LINE's primary redirect sends the browser for `/{liffId}/{path}?{query}`."""
    state = (f"/{path}" if path else "") + (f"?{query_string}" if query_string else "")
    url = endpoint_url
    if state:
        url += ("&" if "?" in url else "?") + "liff.state=" + quote(state, safe="")
    return f"{url}#{TOKEN_FRAGMENT}={id_token}"


async def sdk(request: web.Request) -> web.Response:
    """GET /liff/sdk.js: the LIFF SDK stand-in."""
    script = resources.files("line_simulator").joinpath("static", "liff-sdk.js").read_text("utf-8")
    return web.Response(
        text=script,
        content_type="application/javascript",
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )


async def open_liff(request: web.Request) -> web.Response:
    """GET /liff/{liff_id}[/{path}]: open a LIFF app as the current simulated user."""
    sim = request.app[SIMULATOR]
    liff_id = request.match_info["liff_id"]
    endpoint_url = sim.config.liff_apps.get(liff_id)
    if endpoint_url is None:
        return notice("ページが見つかりません", "このLIFFアプリはありません。", status=404)
    user = sim.users.get(request.cookies.get(USER_COOKIE, ""))
    if user is None:
        choices = [
            {"display_name": u.display_name, "href": open_as_url(u.user_id, request.path_qs)}
            for u in sim.users.values()
        ]
        return render("picker.html", title="ユーザーを選ぶ", users=choices)
    token = sim.issue_id_token(user.user_id)
    path = request.match_info.get("path", "")
    # Set Location verbatim: web.HTTPFound would re-quote the encoded liff.state.
    location = liff_redirect_url(endpoint_url, path, request.query_string, token)
    return web.Response(status=302, headers={"Location": location})


def _is_allowed_target(url: str, base: str) -> bool:
    if url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return True
    return url == base or url.startswith(base + "/")


async def open_as(request: web.Request) -> web.Response:
    """GET /_sim/open?user=U…&url=…: become that user (cookie) and go to the URL."""
    sim = request.app[SIMULATOR]
    user_id = request.query.get("user", "")
    url = request.query.get("url", "")
    if user_id not in sim.users:
        return notice("エラー", "ユーザーが見つかりません。", status=400)
    if not _is_allowed_target(url, public_base(sim, request)):
        return notice("エラー", "このURLは開けません。", status=400)
    response = web.Response(status=302, headers={"Location": url})
    response.set_cookie(USER_COOKIE, user_id, path="/", httponly=True, samesite="Lax")
    return response
