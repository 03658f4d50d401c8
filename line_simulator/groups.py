"""Groups on the local LINE platform: the bot joining and leaving, members posting, and the
group endpoints of the Messaging API.

LINE sends a group's events only while the bot is a member. Every event carries
`source: {type: group, groupId}`; messages and postbacks add the poster's `userId` (which LINE
leaves out for some clients: `with_user_id=False` plays that). A reply to a group event lands
in the group's chat; a push to a group ID reaches it only while the bot is a member."""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from line_simulator import errors, ids
from line_simulator.chat import entry_view
from line_simulator.errors import LineApiError, default_fault_body
from line_simulator.keys import SIMULATOR
from line_simulator.liff_host import public_base
from line_simulator.pages import render
from line_simulator.state import GroupEntry, SimGroup

if TYPE_CHECKING:
    from line_simulator.simulator import Simulator

log = logging.getLogger(__name__)


def group_id() -> str:
    """Return a new group ID: "C" and 32 lowercase hex digits."""
    return "C" + secrets.token_hex(16)


class GroupStore:
    """The simulated channel's groups and the user-side actions in them."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.groups: dict[str, SimGroup] = {}

    def create(self, name: str, member_ids: list[str] | None = None) -> SimGroup:
        """Create a group of existing users (the bot is not in it yet)."""
        members = list(dict.fromkeys(member_ids or []))
        for user_id in members:
            if user_id not in self.sim.users:
                raise KeyError(f"unknown user {user_id}")
        group = SimGroup(group_id(), name, members)
        self.groups[group.group_id] = group
        return group

    def get(self, group_id: str) -> SimGroup:
        """The group with this ID (KeyError when there is none)."""
        return self.groups[group_id]

    def messages(self, group_id: str) -> list[dict[str, Any]]:
        """Every message the bot put in the group's chat, in order."""
        return [e.message for e in self.groups[group_id].timeline if e.sender == "bot"]

    def deliver(self, group_id: str, messages: list[dict[str, Any]]) -> int:
        """Put the bot's messages in the group's chat if the bot is in it; return how many
        members they reached (0: not delivered)."""
        group = self.groups.get(group_id)
        if group is None or not group.bot_member:
            return 0
        group.timeline.extend(GroupEntry("bot", m) for m in messages)
        return len(group.member_ids)

    # Webhook events

    async def invite_bot(self, group_id: str) -> int:
        """A member invites the bot: it joins and gets a `join` event with a reply token."""
        group = self.groups[group_id]
        group.bot_member = True
        return await self.send_event(group, "join", reply=True)

    async def remove_bot(self, group_id: str) -> int | None:
        """A member removes the bot: a `leave` event (no reply token). None when the bot was
        not in the group (LINE sends nothing)."""
        group = self.groups[group_id]
        if not group.bot_member:
            return None
        group.bot_member = False
        return await self.send_event(group, "leave", reply=False)

    async def add_member(self, group_id: str, user_id: str) -> int | None:
        """A user joins: `memberJoined` while the bot is in the group (else None)."""
        group = self.groups[group_id]
        if user_id not in self.sim.users:
            raise KeyError(f"unknown user {user_id}")
        if user_id not in group.member_ids:
            group.member_ids.append(user_id)
        if not group.bot_member:
            return None
        members = {"members": [{"type": "user", "userId": user_id}]}
        return await self.send_event(group, "memberJoined", reply=True, joined=members)

    async def remove_member(self, group_id: str, user_id: str) -> int | None:
        """A user leaves: `memberLeft` (no reply token) while the bot is in the group."""
        group = self.groups[group_id]
        if user_id not in group.member_ids:
            return None
        group.member_ids.remove(user_id)
        if not group.bot_member:
            return None
        members = {"members": [{"type": "user", "userId": user_id}]}
        return await self.send_event(group, "memberLeft", reply=False, left=members)

    async def text(
        self, group_id: str, user_id: str, text: str, *, with_user_id: bool = True
    ) -> int | None:
        """A member posts a text; the bot gets it while in the group (else None)."""
        group = self._member_group(group_id, user_id)
        group.timeline.append(GroupEntry("user", {"type": "text", "text": text}, user_id))
        if not group.bot_member:
            return None
        message = {
            "type": "text",
            "id": ids.message_id(),
            "quoteToken": ids.opaque_token(),
            "text": text,
        }
        poster = user_id if with_user_id else None
        return await self.send_event(group, "message", reply=True, user_id=poster, message=message)

    async def postback(
        self,
        group_id: str,
        user_id: str,
        data: str,
        *,
        display_text: str | None = None,
        with_user_id: bool = True,
    ) -> int | None:
        """A member taps a postback button in the group's chat."""
        group = self._member_group(group_id, user_id)
        if display_text:
            group.timeline.append(
                GroupEntry("user", {"type": "text", "text": display_text}, user_id)
            )
        if not group.bot_member:
            return None
        poster = user_id if with_user_id else None
        return await self.send_event(
            group, "postback", reply=True, user_id=poster, postback={"data": data}
        )

    def _member_group(self, group_id: str, user_id: str) -> SimGroup:
        group = self.groups[group_id]
        if user_id not in group.member_ids:
            raise KeyError(f"{user_id} is not a member of {group_id}")
        return group

    async def send_event(
        self, group: SimGroup, kind: str, *, reply: bool, user_id: str | None = None, **fields: Any
    ) -> int:
        """Send one event whose source is the group (and the poster, when given); with
        `reply`, a reply token whose reply lands in the group. Return the bot's status."""
        source: dict[str, Any] = {"type": "group", "groupId": group.group_id}
        if user_id:
            source["userId"] = user_id
        event: dict[str, Any] = {"type": kind, "source": source, **fields}
        if reply:
            event["replyToken"] = self.sim.issue_reply_token(user_id, group.group_id)
        return await self.sim.send_events([event])


# Messaging API: the group endpoints


def _bot_group(request: web.Request) -> SimGroup:
    """The group in the path, if the bot is in it (LINE answers 404 otherwise)."""
    sim = request.app[SIMULATOR]
    group = sim.groups.groups.get(request.match_info["group_id"])
    if group is None or not group.bot_member:
        raise LineApiError(404, errors.NOT_FOUND)
    return group


async def group_summary(request: web.Request) -> web.Response:
    """GET /v2/bot/group/{group_id}/summary."""
    sim = request.app[SIMULATOR]
    group = _bot_group(request)
    fault = sim.take_fault("groupSummary")
    if fault is not None:
        raise LineApiError.with_body(fault.status, fault.body or default_fault_body(fault.status))
    return web.json_response({"groupId": group.group_id, "groupName": group.name})


async def group_member_count(request: web.Request) -> web.Response:
    """GET /v2/bot/group/{group_id}/members/count (the bot is not counted)."""
    return web.json_response({"count": len(_bot_group(request).member_ids)})


async def group_member_ids(request: web.Request) -> web.Response:
    """GET /v2/bot/group/{group_id}/members/ids (at most 100 per page, `start` continues)."""
    members = _bot_group(request).member_ids
    start = request.query.get("start", "")
    offset = int(start) if start.isdigit() else 0
    page = members[offset : offset + 100]
    body: dict[str, Any] = {"memberIds": page}
    if offset + 100 < len(members):
        body["next"] = str(offset + 100)
    return web.json_response(body)


async def group_member_profile(request: web.Request) -> web.Response:
    """GET /v2/bot/group/{group_id}/member/{user_id}: any member, friend of the bot or not."""
    sim = request.app[SIMULATOR]
    group = _bot_group(request)
    user = sim.users.get(request.match_info["user_id"])
    if user is None or user.user_id not in group.member_ids:
        raise LineApiError(404, errors.NOT_FOUND)
    return web.json_response({"displayName": user.display_name, "userId": user.user_id})


async def leave_group(request: web.Request) -> web.Response:
    """POST /v2/bot/group/{group_id}/leave: the bot leaves, and LINE sends a `leave` event."""
    sim = request.app[SIMULATOR]
    group = _bot_group(request)
    fault = sim.take_fault("leaveGroup")
    if fault is not None:
        raise LineApiError.with_body(fault.status, fault.body or default_fault_body(fault.status))
    group.bot_member = False
    if sim.config.webhook_url:
        try:
            await sim.groups.send_event(group, "leave", reply=False)
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("leave event not delivered: %s", type(error).__name__)
    return web.json_response({})


# The simulated phones: a group's chat page


def _page_group(request: web.Request) -> SimGroup:
    sim = request.app[SIMULATOR]
    group = sim.groups.groups.get(request.match_info["group_id"])
    if group is None:
        raise web.HTTPNotFound(text="グループが見つかりません。")
    return group


def _back(group: SimGroup, acting: str = "", anonymous: bool = False, flash: str = "") -> str:
    query = []
    if acting:
        query.append(f"as={acting}")
    if anonymous:
        query.append("anon=1")
    if flash:
        query.append(f"flash={flash}")
    return f"/_sim/group/{group.group_id}" + ("?" + "&".join(query) if query else "")


async def _run(group: SimGroup, action: Any, acting: str = "", anonymous: bool = False) -> str:
    """Await a webhook-sending action; a bot that is down must not break the page."""
    try:
        status = await action
    except (aiohttp.ClientError, TimeoutError, RuntimeError) as error:
        log.warning("webhook not delivered: %s", type(error).__name__)
        return _back(group, acting, anonymous, "Webhook+failed")
    if status is not None and status >= 300:
        return _back(group, acting, anonymous, f"Webhook+{status}")
    return _back(group, acting, anonymous)


async def group_list(request: web.Request) -> web.Response:
    """GET /_sim/groups: the groups, with links to their chats, and a form to create one."""
    sim = request.app[SIMULATOR]
    return render(
        "groups.html",
        title="グループ",
        groups=list(sim.groups.groups.values()),
        users=list(sim.users.values()),
    )


async def create_group(request: web.Request) -> web.Response:
    """POST /_sim/groups: create a group with the chosen users (developer control)."""
    sim = request.app[SIMULATOR]
    form = await request.post()
    name = str(form.get("name", "")).strip()
    members = [str(m) for m in form.getall("member", []) if str(m) in sim.users]
    if not name:
        raise web.HTTPSeeOther("/")
    group = sim.groups.create(name[:100], members)
    raise web.HTTPSeeOther(_back(group))


async def group_page(request: web.Request) -> web.Response:
    """GET /_sim/group/{group_id}: the group's chat, as one of its members (`as`), with or
    without the userId LINE includes (`anon`)."""
    sim = request.app[SIMULATOR]
    group = _page_group(request)
    acting = request.query.get("as", "")
    if acting not in group.member_ids:
        acting = group.member_ids[0] if group.member_ids else ""
    base = public_base(sim, request)
    names = {u.user_id: u.display_name for u in sim.users.values()}
    entries = []
    for entry in group.timeline:
        view = entry_view(entry, acting, base)
        view["speaker"] = "bot" if entry.sender == "bot" else names.get(entry.user_id or "", "?")
        entries.append(view)
    return render(
        "group.html",
        title=group.name,
        group=group,
        members=[sim.users[m] for m in group.member_ids],
        others=[u for u in sim.users.values() if u.user_id not in group.member_ids],
        acting=acting,
        anonymous=request.query.get("anon") == "1",
        entries=entries,
        flash=request.query.get("flash"),
    )


def _acting(form: Any, group: SimGroup) -> tuple[str, bool]:
    acting = str(form.get("user_id", ""))
    if acting not in group.member_ids:
        raise web.HTTPBadRequest(text="メンバーを選んでください。")
    return acting, form.get("no_user_id") == "1"


async def group_send(request: web.Request) -> web.Response:
    """POST /_sim/group/{group_id}/send: a member posts a text."""
    sim = request.app[SIMULATOR]
    group = _page_group(request)
    form = await request.post()
    acting, anonymous = _acting(form, group)
    message = str(form.get("text", "")).strip()
    if not message:
        raise web.HTTPSeeOther(_back(group, acting, anonymous))
    action = sim.groups.text(group.group_id, acting, message, with_user_id=not anonymous)
    raise web.HTTPSeeOther(await _run(group, action, acting, anonymous))


async def group_postback(request: web.Request) -> web.Response:
    """POST /_sim/group/{group_id}/postback: a member taps a postback button."""
    sim = request.app[SIMULATOR]
    group = _page_group(request)
    form = await request.post()
    acting, anonymous = _acting(form, group)
    action = sim.groups.postback(
        group.group_id,
        acting,
        str(form.get("data", "")),
        display_text=str(form.get("display_text", "")) or None,
        with_user_id=not anonymous,
    )
    raise web.HTTPSeeOther(await _run(group, action, acting, anonymous))


async def group_invite(request: web.Request) -> web.Response:
    """POST /_sim/group/{group_id}/invite: a member invites the bot."""
    sim = request.app[SIMULATOR]
    group = _page_group(request)
    raise web.HTTPSeeOther(await _run(group, sim.groups.invite_bot(group.group_id)))


async def group_remove(request: web.Request) -> web.Response:
    """POST /_sim/group/{group_id}/remove: a member removes the bot."""
    sim = request.app[SIMULATOR]
    group = _page_group(request)
    raise web.HTTPSeeOther(await _run(group, sim.groups.remove_bot(group.group_id)))


async def group_add_member(request: web.Request) -> web.Response:
    """POST /_sim/group/{group_id}/members: a user joins the group."""
    sim = request.app[SIMULATOR]
    group = _page_group(request)
    user_id = str((await request.post()).get("user_id", ""))
    if user_id not in sim.users:
        raise web.HTTPBadRequest(text="ユーザーが見つかりません。")
    raise web.HTTPSeeOther(await _run(group, sim.groups.add_member(group.group_id, user_id)))


ROUTES: list[web.RouteDef] = [
    web.get("/v2/bot/group/{group_id}/summary", group_summary, name="group_summary"),
    web.get(
        "/v2/bot/group/{group_id}/members/count", group_member_count, name="group_member_count"
    ),
    web.get("/v2/bot/group/{group_id}/members/ids", group_member_ids, name="group_member_ids"),
    web.get(
        "/v2/bot/group/{group_id}/member/{user_id}",
        group_member_profile,
        name="group_member_profile",
    ),
    web.post("/v2/bot/group/{group_id}/leave", leave_group, name="group_leave"),
    web.get("/_sim/groups", group_list, name="groups"),
    web.post("/_sim/groups", create_group, name="group_create"),
    web.get("/_sim/group/{group_id}", group_page, name="group"),
    web.post("/_sim/group/{group_id}/send", group_send, name="group_send"),
    web.post("/_sim/group/{group_id}/postback", group_postback, name="group_postback"),
    web.post("/_sim/group/{group_id}/invite", group_invite, name="group_invite"),
    web.post("/_sim/group/{group_id}/remove", group_remove, name="group_remove"),
    web.post("/_sim/group/{group_id}/members", group_add_member, name="group_add_member"),
]
