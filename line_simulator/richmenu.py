"""Rich menus on the local LINE platform: the Messaging API's rich menu endpoints, with LINE's
rules on images and areas, and the taps a user makes on a menu.

Error messages are LINE's where its reference shows them; the reference gives none for a bad
size, ratio or area placement, so those details are worded here."""

from __future__ import annotations

import io
import logging
import re
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from line_simulator import chat, errors
from line_simulator.config import (
    MAX_RICH_MENU_ALIASES,
    MAX_RICH_MENUS,
    RICH_MENU_IMAGE_MAX_BYTES,
    RICH_MENU_IMAGE_TYPES,
    RICH_MENU_WRITES_PER_HOUR,
)
from line_simulator.errors import LineApiError
from line_simulator.keys import SIMULATOR
from line_simulator.liff_host import public_base
from line_simulator.messaging import read_json
from line_simulator.validation import validate_request

if TYPE_CHECKING:
    from line_simulator.simulator import Simulator

log = logging.getLogger(__name__)

NO_IMAGE = "must upload richmenu image before applying it to user"
IMAGE_NOT_ALLOWED = "The image size is not allowed for richmenu"
IMAGE_ALREADY_UPLOADED = "An image has already been uploaded to the richmenu"
RICHMENU_NOT_FOUND = "richmenu not found"  # alias endpoints: unknown menu, or one without image
ALIAS_NOT_FOUND = "richmenu alias not found"
ALIAS_CONFLICT = "conflict richmenu alias id"
USER_HAS_NO_MENU = "the user has no richmenu"
NO_DEFAULT = "no default richmenu"
INVALID_USER_ID = "The value for the 'userId' parameter is invalid"
UNSUPPORTED_MEDIA_TYPE = "Unsupported Media Type"
TOO_MANY_MENUS = "The maximum number of rich menus has been reached"
TOO_MANY_ALIASES = "The maximum number of rich menu aliases has been reached"

USER_ID = re.compile(r"^U[0-9a-f]{32}$")
ALIAS_ID = re.compile(r"^[a-z0-9_-]{1,32}$")
MIN_WIDTH, MAX_WIDTH, MIN_HEIGHT, MIN_RATIO = 800, 2500, 250, 1.45
HOUR = 3600.0


@dataclass
class SimRichMenu:
    """A rich menu as the channel holds it: its object, and its image once uploaded."""

    rich_menu_id: str
    body: dict[str, Any]
    image: bytes | None = None
    content_type: str | None = None

    def as_json(self) -> dict[str, Any]:
        """LINE's rich menu response object."""
        return {"richMenuId": self.rich_menu_id, **self.body}


@dataclass
class TapResult:
    """What tapping an area did: the bot's webhook status (an event was sent) or a URI."""

    action: dict[str, Any]
    status: int | None = None
    uri: str | None = None


@dataclass
class RichMenuStore:
    """The channel's rich menus, aliases, default menu and per-user links."""

    sim: Simulator
    menus: dict[str, SimRichMenu] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    default_id: str | None = None
    user_links: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, str, int]] = field(default_factory=list)
    _writes: dict[str, deque[float]] = field(default_factory=dict)

    def writes(self) -> list[tuple[str, str, int]]:
        """Every recorded call that could change something (all but GETs)."""
        return [call for call in self.calls if call[0] != "GET"]

    def menu_of(self, user_id: str) -> SimRichMenu | None:
        """The menu the user sees: their own, else the default, else none."""
        menu_id = self.user_links.get(user_id) or self.default_id
        return self.menus.get(menu_id) if menu_id else None

    def view(self, user_id: str) -> dict[str, Any] | None:
        """What the chat page shows of the user's menu: image, chat bar text, and each area
        placed in percent of the image."""
        menu = self.menu_of(user_id)
        if menu is None or menu.image is None:
            return None
        width, height = menu.body["size"]["width"], menu.body["size"]["height"]
        areas = []
        for index, area in enumerate(menu.body["areas"]):
            b = area["bounds"]
            action = area["action"]
            areas.append(
                {
                    "index": index,
                    "label": action.get("label") or action.get("displayText") or f"{index + 1}",
                    "left": 100 * b["x"] / width,
                    "top": 100 * b["y"] / height,
                    "width": 100 * b["width"] / width,
                    "height": 100 * b["height"] / height,
                }
            )
        return {
            "rich_menu_id": menu.rich_menu_id,
            "image_url": f"/_sim/richmenu/{menu.rich_menu_id}/image",
            "chat_bar_text": menu.body.get("chatBarText", ""),
            "selected": bool(menu.body.get("selected")),
            "areas": areas,
        }

    async def tap(self, user_id: str, area_index: int) -> TapResult:
        """The user taps an area of their menu: perform its action as LINE would."""
        menu = self.menu_of(user_id)
        if menu is None:
            raise LookupError("the user has no rich menu")
        areas = menu.body["areas"]
        if not 0 <= area_index < len(areas):
            raise LookupError(f"the menu has no area {area_index}")
        action = areas[area_index]["action"]
        kind = action.get("type")
        if kind == "postback":
            status = await self.sim.postback(
                user_id, action["data"], display_text=action.get("displayText")
            )
            return TapResult(action, status=status)
        if kind == "message":
            return TapResult(action, status=await self.sim.send_text(user_id, action["text"]))
        if kind == "uri":
            return TapResult(action, uri=action["uri"])
        if kind == "richmenuswitch":
            return TapResult(action, status=await self._switch(user_id, action))
        raise LookupError(f"a {kind} action cannot be tapped here")

    async def _switch(self, user_id: str, action: dict[str, Any]) -> int:
        """Switch the user's menu by alias and send the postback LINE sends for it."""
        alias_id = action["richMenuAliasId"]
        target = self.aliases.get(alias_id)
        if target is None:
            status = "RICHMENU_ALIAS_ID_NOTFOUND"
        elif target not in self.menus:
            status = "RICHMENU_NOTFOUND"
        else:
            self.user_links[user_id] = target
            status = "SUCCESS"
        postback = {
            "data": action.get("data", ""),
            "params": {"newRichMenuAliasId": alias_id, "status": status},
        }
        event = self.sim._user_event("postback", user_id, postback=postback)
        return await self.sim.send_events([event])

    def allow_write(self, kind: str) -> bool:
        """Spend one of the hour's creations (or deletions); False means answer 429."""
        if not self.sim.config.rate_limits:
            return True
        now = self.sim.clock.now()
        window = self._writes.setdefault(kind, deque())
        while window and now - window[0] >= HOUR:
            window.popleft()
        if len(window) >= RICH_MENU_WRITES_PER_HOUR:
            return False
        window.append(now)
        return True

    def menu(self, rich_menu_id: str) -> SimRichMenu:
        """The menu with this ID, or LINE's 404."""
        menu = self.menus.get(rich_menu_id)
        if menu is None:
            raise LineApiError(404, errors.NOT_FOUND)
        return menu

    def applicable(self, rich_menu_id: str) -> SimRichMenu:
        """A menu that can be shown to users: it exists (else 404) and has its image."""
        menu = self.menu(rich_menu_id)
        if menu.image is None:
            raise LineApiError(400, NO_IMAGE, details=[])
        return menu

    def forget(self, rich_menu_id: str) -> None:
        """Remove a menu, and the default and per-user links that showed it."""
        del self.menus[rich_menu_id]
        if self.default_id == rich_menu_id:
            self.default_id = None
        for user_id in [u for u, m in self.user_links.items() if m == rich_menu_id]:
            del self.user_links[user_id]


def _new_menu_id() -> str:
    return "richmenu-" + secrets.token_hex(16)


def _store(request: web.Request) -> RichMenuStore:
    return request.app[SIMULATOR].richmenus


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _recorded(handler: Handler) -> Handler:
    """Record the call (method, path, status) on the store, errors included."""

    async def recorded(request: web.Request) -> web.StreamResponse:
        store = _store(request)
        try:
            response = await handler(request)
        except (LineApiError, web.HTTPException) as error:  # e.g. a body past 2 MB: 413
            store.calls.append((request.method, request.path, error.status))
            raise
        store.calls.append((request.method, request.path, response.status))
        return response

    recorded.__doc__ = handler.__doc__
    return recorded


def _check(operation: str, body: Any) -> None:
    details = validate_request(operation, body)
    if details:
        raise LineApiError(400, f"The request body has {len(details)} error(s)", details=details)


def _layout_errors(body: dict[str, Any]) -> list[dict[str, str]]:
    """LINE's rules on size and areas that the OpenAPI file cannot say."""
    found = []
    width, height = body["size"]["width"], body["size"]["height"]
    if not MIN_WIDTH <= width <= MAX_WIDTH:
        found.append(
            {"message": f"must be between {MIN_WIDTH} and {MAX_WIDTH}", "property": "size.width"}
        )
    if height < MIN_HEIGHT:
        found.append({"message": f"must be at least {MIN_HEIGHT}", "property": "size.height"})
    if height and width / height < MIN_RATIO:
        found.append(
            {"message": f"width / height must be at least {MIN_RATIO}", "property": "size"}
        )
    for i, area in enumerate(body["areas"]):
        b = area["bounds"]
        if b["x"] + b["width"] > width or b["y"] + b["height"] > height:
            found.append(
                {"message": "must be inside the rich menu", "property": f"areas[{i}].bounds"}
            )
    return found


async def _checked_menu(request: web.Request) -> dict[str, Any]:
    body = await read_json(request)
    _check("richmenu", body)
    details = _layout_errors(body)
    if details:
        raise LineApiError(400, f"The request body has {len(details)} error(s)", details=details)
    return body


@_recorded
async def create_menu(request: web.Request) -> web.Response:
    """POST /v2/bot/richmenu."""
    store = _store(request)
    body = await _checked_menu(request)
    if len(store.menus) >= MAX_RICH_MENUS:
        raise LineApiError(400, TOO_MANY_MENUS)
    if not store.allow_write("create"):
        raise LineApiError(429, errors.RATE_LIMITED)
    menu = SimRichMenu(_new_menu_id(), body)
    store.menus[menu.rich_menu_id] = menu
    return web.json_response({"richMenuId": menu.rich_menu_id})


@_recorded
async def validate_menu(request: web.Request) -> web.Response:
    """POST /v2/bot/richmenu/validate: the create checks, without creating."""
    await _checked_menu(request)
    return web.json_response({})


@_recorded
async def list_menus(request: web.Request) -> web.Response:
    """GET /v2/bot/richmenu/list."""
    menus = [menu.as_json() for menu in _store(request).menus.values()]
    return web.json_response({"richmenus": menus})


@_recorded
async def get_menu(request: web.Request) -> web.Response:
    """GET /v2/bot/richmenu/{richMenuId}."""
    return web.json_response(_store(request).menu(request.match_info["rich_menu_id"]).as_json())


@_recorded
async def delete_menu(request: web.Request) -> web.Response:
    """DELETE /v2/bot/richmenu/{richMenuId}: also ends the default and per-user links to it
    (an alias keeps pointing at the deleted ID)."""
    store = _store(request)
    menu = store.menu(request.match_info["rich_menu_id"])
    if not store.allow_write("delete"):
        raise LineApiError(429, errors.RATE_LIMITED)
    store.forget(menu.rich_menu_id)
    return web.json_response({})


def image_size(data: bytes) -> tuple[str, int, int] | None:
    """The format and pixel size of a PNG or JPEG, or None when it is neither."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.format or "", image.width, image.height
    except (UnidentifiedImageError, OSError):
        return None


@_recorded
async def upload_image(request: web.Request) -> web.Response:
    """POST /v2/bot/richmenu/{richMenuId}/content (api-data.line.me): once per menu."""
    store = _store(request)
    menu = store.menu(request.match_info["rich_menu_id"])
    content_type = request.content_type
    if content_type not in RICH_MENU_IMAGE_TYPES:
        raise LineApiError(415, UNSUPPORTED_MEDIA_TYPE)
    data = await request.read()
    if menu.image is not None:
        raise LineApiError(400, IMAGE_ALREADY_UPLOADED)
    expected_format = "PNG" if content_type == "image/png" else "JPEG"
    found = image_size(data)
    size = (menu.body["size"]["width"], menu.body["size"]["height"])
    if (
        len(data) > RICH_MENU_IMAGE_MAX_BYTES
        or found is None
        or found[0] != expected_format
        or found[1:] != size
    ):
        raise LineApiError(400, IMAGE_NOT_ALLOWED)
    menu.image, menu.content_type = data, content_type
    return web.json_response({})


@_recorded
async def download_image(request: web.Request) -> web.Response:
    """GET /v2/bot/richmenu/{richMenuId}/content (api-data.line.me)."""
    menu = _store(request).menu(request.match_info["rich_menu_id"])
    if menu.image is None:
        raise LineApiError(404, errors.NOT_FOUND)
    return web.Response(body=menu.image, content_type=menu.content_type or "image/png")


@_recorded
async def set_default(request: web.Request) -> web.Response:
    """POST /v2/bot/user/all/richmenu/{richMenuId}."""
    store = _store(request)
    store.default_id = store.applicable(request.match_info["rich_menu_id"]).rich_menu_id
    return web.json_response({})


@_recorded
async def get_default(request: web.Request) -> web.Response:
    """GET /v2/bot/user/all/richmenu."""
    store = _store(request)
    if store.default_id is None:
        raise LineApiError(404, NO_DEFAULT, details=[])
    return web.json_response({"richMenuId": store.default_id})


@_recorded
async def cancel_default(request: web.Request) -> web.Response:
    """DELETE /v2/bot/user/all/richmenu."""
    _store(request).default_id = None
    return web.json_response({})


def _user_id(request: web.Request) -> str:
    user_id = request.match_info["user_id"]
    if not USER_ID.match(user_id):
        raise LineApiError(400, INVALID_USER_ID)
    return user_id


@_recorded
async def link_user(request: web.Request) -> web.Response:
    """POST /v2/bot/user/{userId}/richmenu/{richMenuId}: the user's own menu."""
    store = _store(request)
    user_id = _user_id(request)
    menu = store.applicable(request.match_info["rich_menu_id"])
    store.user_links[user_id] = menu.rich_menu_id
    return web.json_response({})


@_recorded
async def get_user_menu(request: web.Request) -> web.Response:
    """GET /v2/bot/user/{userId}/richmenu: the user's own menu (not the default)."""
    store = _store(request)
    menu_id = store.user_links.get(_user_id(request))
    if menu_id is None:
        raise LineApiError(404, USER_HAS_NO_MENU, details=[])
    return web.json_response({"richMenuId": menu_id})


@_recorded
async def unlink_user(request: web.Request) -> web.Response:
    """DELETE /v2/bot/user/{userId}/richmenu: back to the default menu."""
    _store(request).user_links.pop(_user_id(request), None)
    return web.json_response({})


@_recorded
async def bulk_link(request: web.Request) -> web.Response:
    """POST /v2/bot/richmenu/bulk/link: up to 500 users, answered 202 (applied at once here)."""
    store = _store(request)
    body = await read_json(request)
    _check("richmenu_bulk_link", body)
    menu = store.applicable(body["richMenuId"])
    for user_id in body["userIds"]:
        store.user_links[user_id] = menu.rich_menu_id
    return web.json_response({}, status=202)


@_recorded
async def bulk_unlink(request: web.Request) -> web.Response:
    """POST /v2/bot/richmenu/bulk/unlink: up to 500 users, answered 202."""
    store = _store(request)
    body = await read_json(request)
    _check("richmenu_bulk_unlink", body)
    for user_id in body["userIds"]:
        store.user_links.pop(user_id, None)
    return web.json_response({}, status=202)


def _alias_target(store: RichMenuStore, rich_menu_id: str) -> str:
    """An alias may point only at an existing menu with its image."""
    menu = store.menus.get(rich_menu_id)
    if menu is None or menu.image is None:
        raise LineApiError(400, RICHMENU_NOT_FOUND, details=[])
    return rich_menu_id


def _alias_json(alias_id: str, rich_menu_id: str) -> dict[str, str]:
    return {"richMenuAliasId": alias_id, "richMenuId": rich_menu_id}


def _path_alias(request: web.Request) -> str:
    alias_id = request.match_info["alias_id"]
    if not ALIAS_ID.match(alias_id):
        raise LineApiError(400, "invalid richMenuAliasId")
    if alias_id not in _store(request).aliases:
        raise LineApiError(404, ALIAS_NOT_FOUND, details=[])
    return alias_id


@_recorded
async def create_alias(request: web.Request) -> web.Response:
    """POST /v2/bot/richmenu/alias."""
    store = _store(request)
    body = await read_json(request)
    _check("richmenu_alias_create", body)
    target = _alias_target(store, body["richMenuId"])
    alias_id = body["richMenuAliasId"]
    if alias_id in store.aliases:
        raise LineApiError(400, ALIAS_CONFLICT, details=[])
    if len(store.aliases) >= MAX_RICH_MENU_ALIASES:
        raise LineApiError(400, TOO_MANY_ALIASES)
    store.aliases[alias_id] = target
    return web.json_response({})


@_recorded
async def update_alias(request: web.Request) -> web.Response:
    """POST /v2/bot/richmenu/alias/{richMenuAliasId}."""
    store = _store(request)
    alias_id = _path_alias(request)
    body = await read_json(request)
    _check("richmenu_alias_update", body)
    store.aliases[alias_id] = _alias_target(store, body["richMenuId"])
    return web.json_response({})


@_recorded
async def get_alias(request: web.Request) -> web.Response:
    """GET /v2/bot/richmenu/alias/{richMenuAliasId}."""
    alias_id = _path_alias(request)
    return web.json_response(_alias_json(alias_id, _store(request).aliases[alias_id]))


@_recorded
async def delete_alias(request: web.Request) -> web.Response:
    """DELETE /v2/bot/richmenu/alias/{richMenuAliasId}."""
    del _store(request).aliases[_path_alias(request)]
    return web.json_response({})


@_recorded
async def list_aliases(request: web.Request) -> web.Response:
    """GET /v2/bot/richmenu/alias/list."""
    aliases = [_alias_json(a, m) for a, m in _store(request).aliases.items()]
    return web.json_response({"aliases": aliases})


# The simulated phone: the menu's image, and taps on its areas.


async def menu_image(request: web.Request) -> web.Response:
    """GET /_sim/richmenu/{richMenuId}/image: the image the chat page shows."""
    menu = request.app[SIMULATOR].richmenus.menus.get(request.match_info["rich_menu_id"])
    if menu is None or menu.image is None:
        raise web.HTTPNotFound(text="リッチメニューがありません。")
    return web.Response(body=menu.image, content_type=menu.content_type or "image/png")


async def tap_area(request: web.Request) -> web.Response:
    """POST /_sim/chat/{user_id}/richmenu/{index}: the user taps an area of their menu."""
    sim = request.app[SIMULATOR]
    user = sim.users.get(request.match_info["user_id"])
    if user is None:
        raise web.HTTPNotFound(text="ユーザーが見つかりません。")
    back = f"/_sim/chat/{user.user_id}"
    try:
        index = int(request.match_info["index"])
        menu = sim.richmenus.menu_of(user.user_id)
        if menu is None or not 0 <= index < len(menu.body["areas"]):
            raise LookupError(index)
    except (ValueError, LookupError):
        raise web.HTTPSeeOther(f"{back}?flash=No+such+area") from None
    action = menu.body["areas"][index]["action"]
    if action.get("type") == "uri":
        base = public_base(sim, request)
        raise web.HTTPSeeOther(chat.link_href(action["uri"], user.user_id, base))

    async def status() -> int:
        try:
            result = await sim.richmenus.tap(user.user_id, index)
        except LookupError:
            return 400
        return result.status or 200

    raise await chat.run_webhook_action(user, status())


ROUTES: list[web.RouteDef] = [
    # api.line.me (fixed paths before the ones with an ID in the same place)
    web.post("/v2/bot/richmenu", create_menu, name="richmenu_create"),
    web.post("/v2/bot/richmenu/validate", validate_menu, name="richmenu_validate"),
    web.get("/v2/bot/richmenu/list", list_menus, name="richmenu_list"),
    web.post("/v2/bot/richmenu/bulk/link", bulk_link, name="richmenu_bulk_link"),
    web.post("/v2/bot/richmenu/bulk/unlink", bulk_unlink, name="richmenu_bulk_unlink"),
    web.post("/v2/bot/richmenu/alias", create_alias, name="richmenu_alias_create"),
    web.get("/v2/bot/richmenu/alias/list", list_aliases, name="richmenu_alias_list"),
    web.get("/v2/bot/richmenu/alias/{alias_id}", get_alias, name="richmenu_alias"),
    web.post("/v2/bot/richmenu/alias/{alias_id}", update_alias, name="richmenu_alias_update"),
    web.delete("/v2/bot/richmenu/alias/{alias_id}", delete_alias, name="richmenu_alias_delete"),
    web.get("/v2/bot/richmenu/{rich_menu_id}", get_menu, name="richmenu"),
    web.delete("/v2/bot/richmenu/{rich_menu_id}", delete_menu, name="richmenu_delete"),
    # api-data.line.me
    web.post("/v2/bot/richmenu/{rich_menu_id}/content", upload_image, name="richmenu_upload"),
    web.get("/v2/bot/richmenu/{rich_menu_id}/content", download_image, name="richmenu_content"),
    # default and per-user menus
    web.get("/v2/bot/user/all/richmenu", get_default, name="richmenu_default"),
    web.delete("/v2/bot/user/all/richmenu", cancel_default, name="richmenu_default_cancel"),
    web.post("/v2/bot/user/all/richmenu/{rich_menu_id}", set_default, name="richmenu_set_default"),
    web.get("/v2/bot/user/{user_id}/richmenu", get_user_menu, name="richmenu_of_user"),
    web.delete("/v2/bot/user/{user_id}/richmenu", unlink_user, name="richmenu_unlink_user"),
    web.post("/v2/bot/user/{user_id}/richmenu/{rich_menu_id}", link_user, name="richmenu_link"),
    # the simulated phone
    web.get("/_sim/richmenu/{rich_menu_id}/image", menu_image, name="richmenu_image"),
    web.post("/_sim/chat/{user_id}/richmenu/{index}", tap_area, name="chat_richmenu_tap"),
]
