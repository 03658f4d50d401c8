"""Chat pages for the demo: a LINE-like view of what each user received, and their actions."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from line_simulator.keys import SIMULATOR
from line_simulator.liff_host import open_as_url, public_base
from line_simulator.pages import render
from line_simulator.state import SimUser, TimelineEntry

if TYPE_CHECKING:
    from line_simulator.simulator import Simulator

log = logging.getLogger(__name__)

LINE_LIFF_PREFIX = "https://liff.line.me/"


def _actions(node: Any) -> list[dict[str, Any]]:
    """Return every action object (uri, postback, message) inside a message, in order."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        kind = node.get("type")
        if (
            (kind == "uri" and ("uri" in node or "linkUri" in node))
            or (kind == "postback" and "data" in node)
            or (kind == "message" and "text" in node)
        ):
            found.append(node)
            return found
        for value in node.values():
            found.extend(_actions(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_actions(value))
    return found


def _texts(node: Any) -> list[str]:
    """Return the text of Flex text components and template titles/texts, in order."""
    found: list[str] = []
    if isinstance(node, dict):
        if node.get("type") == "text" and isinstance(node.get("text"), str):
            return [node["text"]]
        for key in ("title", "text"):
            if isinstance(node.get(key), str):
                found.append(node[key])
        for key, value in node.items():
            if key not in ("action", "defaultAction", "actions") and isinstance(value, dict | list):
                found.extend(_texts(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_texts(value))
    return found


def link_href(uri: str, user_id: str, base: str) -> str:
    """Send links into the LIFF host as this user; leave other links alone."""
    if uri.startswith(LINE_LIFF_PREFIX):
        uri = f"{base}/liff/{uri.removeprefix(LINE_LIFF_PREFIX)}"
    if uri.startswith(f"{base}/liff/") or uri.startswith("/liff/"):
        return open_as_url(user_id, uri)
    return uri


def entry_view(entry: TimelineEntry, user_id: str, base: str) -> dict[str, Any]:
    """Return what the chat page shows for one message."""
    message = entry.message
    view: dict[str, Any] = {"sender": entry.sender, "alt_text": None, "lines": [], "actions": []}
    kind = message.get("type")
    if kind in ("text", "textV2"):
        view["lines"] = [message.get("text", "")]
    elif "altText" in message:
        view["alt_text"] = message["altText"]
        view["lines"] = _texts(message.get("contents") or message.get("template") or {})
    else:
        view["lines"] = [f"[{kind}]"]
    for action in _actions({k: v for k, v in message.items() if k != "type"}):
        label = action.get("label") or action.get("displayText") or action.get("text") or "開く"
        if action["type"] == "uri":
            href = link_href(action.get("uri") or action["linkUri"], user_id, base)
            view["actions"].append({"kind": "link", "label": label, "href": href})
        elif action["type"] == "postback":
            display_text = action.get("displayText") or ""
            view["actions"].append(
                {
                    "kind": "postback",
                    "label": label,
                    "data": action["data"],
                    "display_text": display_text,
                }
            )
        else:
            view["actions"].append({"kind": "text", "label": label, "text": action["text"]})
    return view


def _user(sim: Simulator, request: web.Request) -> SimUser:
    user = sim.users.get(request.match_info["user_id"])
    if user is None:
        raise web.HTTPNotFound(text="ユーザーが見つかりません。")
    return user


def _back(user: SimUser) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/_sim/chat/{user.user_id}")


async def index(request: web.Request) -> web.Response:
    """GET /: the users and groups, with links to their chats."""
    sim = request.app[SIMULATOR]
    return render(
        "index.html",
        title="ユーザー",
        users=list(sim.users.values()),
        groups=list(sim.groups.groups.values()),
    )


async def add_user(request: web.Request) -> web.Response:
    """POST /_sim/users: add a user (developer control)."""
    sim = request.app[SIMULATOR]
    form = await request.post()
    name = str(form.get("display_name", "")).strip()
    if name:
        sim.add_user(name)
    raise web.HTTPSeeOther("/")


async def chat_page(request: web.Request) -> web.Response:
    """GET /_sim/chat/{user_id}: the user's chat with the bot."""
    sim = request.app[SIMULATOR]
    user = _user(sim, request)
    base = public_base(sim, request)
    entries = [entry_view(e, user.user_id, base) for e in sim.timelines.get(user.user_id, [])]
    flash = request.query.get("flash")
    menu = sim.richmenus.view(user.user_id)
    return render(
        "chat.html", title=user.display_name, user=user, entries=entries, flash=flash, menu=menu
    )


async def run_webhook_action(user: SimUser, action: Any) -> web.HTTPSeeOther:
    """Await a webhook-sending action; a bot that is down must not break the page."""
    try:
        status = await action
    except (aiohttp.ClientError, TimeoutError, RuntimeError) as error:
        log.warning("webhook not delivered: %s", type(error).__name__)
        return web.HTTPSeeOther(f"/_sim/chat/{user.user_id}?flash=Webhook+failed")
    if status >= 300:
        return web.HTTPSeeOther(f"/_sim/chat/{user.user_id}?flash=Webhook+{status}")
    return _back(user)


async def send_text(request: web.Request) -> web.Response:
    """POST /_sim/chat/{user_id}/send: the user sends a text message."""
    sim = request.app[SIMULATOR]
    user = _user(sim, request)
    text = str((await request.post()).get("text", "")).strip()
    if not text:
        raise _back(user)
    raise await run_webhook_action(user, sim.send_text(user.user_id, text))


async def send_postback(request: web.Request) -> web.Response:
    """POST /_sim/chat/{user_id}/postback: the user taps a postback button."""
    sim = request.app[SIMULATOR]
    user = _user(sim, request)
    form = await request.post()
    display_text = str(form.get("display_text", "")) or None
    raise await run_webhook_action(
        user, sim.postback(user.user_id, str(form.get("data", "")), display_text=display_text)
    )


async def follow(request: web.Request) -> web.Response:
    """POST /_sim/chat/{user_id}/follow: the user adds (or unblocks) the bot."""
    sim = request.app[SIMULATOR]
    user = _user(sim, request)
    raise await run_webhook_action(user, sim.follow(user.user_id))


async def unfollow(request: web.Request) -> web.Response:
    """POST /_sim/chat/{user_id}/unfollow: the user blocks the bot."""
    sim = request.app[SIMULATOR]
    user = _user(sim, request)
    raise await run_webhook_action(user, sim.unfollow(user.user_id))
