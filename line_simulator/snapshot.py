"""The local LINE platform's state as JSON, so the demo keeps its chats between runs: the bot's
user ID, the users, every chat, the groups, the rich menus (images included) and the account-link
tokens (valid 10 minutes: a link button tapped across a restart still works). Faults, rate
buckets, retry keys, reply tokens and LINE Login's codes are not kept: they belong to one run."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from line_simulator.richmenu import SimRichMenu
from line_simulator.state import GroupEntry, LinkTokenRecord, SimGroup, SimUser, TimelineEntry

if TYPE_CHECKING:
    from line_simulator.simulator import Simulator

VERSION = 1


def snapshot(sim: Simulator) -> dict[str, Any]:
    """What the simulator holds that a person would miss after a restart."""
    menus = sim.richmenus
    return {
        "version": VERSION,
        "bot_user_id": sim.bot_user_id,
        "users": [
            {
                "user_id": u.user_id,
                "display_name": u.display_name,
                "friend": u.friend,
                "blocked": u.blocked,
                "language": u.language,
            }
            for u in sim.users.values()
        ],
        "timelines": {
            user_id: [{"sender": e.sender, "message": e.message} for e in timeline]
            for user_id, timeline in sim.timelines.items()
        },
        "link_tokens": {token: list(record) for token, record in sim.link_tokens.items()},
        "groups": [
            {
                "group_id": g.group_id,
                "name": g.name,
                "member_ids": g.member_ids,
                "bot_member": g.bot_member,
                "timeline": [
                    {"sender": e.sender, "message": e.message, "user_id": e.user_id}
                    for e in g.timeline
                ],
            }
            for g in sim.groups.groups.values()
        ],
        "richmenus": {
            "menus": [
                {
                    "rich_menu_id": m.rich_menu_id,
                    "body": m.body,
                    "image": base64.b64encode(m.image).decode() if m.image else None,
                    "content_type": m.content_type,
                }
                for m in menus.menus.values()
            ],
            "aliases": menus.aliases,
            "default_id": menus.default_id,
            "user_links": menus.user_links,
        },
    }


def restore(sim: Simulator, data: dict[str, Any]) -> None:
    """Put a snapshot back into a fresh simulator."""
    if data.get("version") != VERSION:
        raise ValueError(f"unknown snapshot version {data.get('version')!r}")
    sim.bot_user_id = data["bot_user_id"]
    sim.users = {u["user_id"]: SimUser(**u) for u in data["users"]}
    sim.timelines.clear()
    for user_id, timeline in data["timelines"].items():
        sim.timelines[user_id] = [TimelineEntry(e["sender"], e["message"]) for e in timeline]
    sim.link_tokens = {
        token: LinkTokenRecord(*record) for token, record in data["link_tokens"].items()
    }
    sim.groups.groups = {
        g["group_id"]: SimGroup(
            g["group_id"],
            g["name"],
            list(g["member_ids"]),
            g["bot_member"],
            [GroupEntry(e["sender"], e["message"], e["user_id"]) for e in g["timeline"]],
        )
        for g in data["groups"]
    }
    menus = data["richmenus"]
    sim.richmenus.menus = {
        m["rich_menu_id"]: SimRichMenu(
            m["rich_menu_id"],
            m["body"],
            base64.b64decode(m["image"]) if m["image"] else None,
            m["content_type"],
        )
        for m in menus["menus"]
    }
    sim.richmenus.aliases = dict(menus["aliases"])
    sim.richmenus.default_id = menus["default_id"]
    sim.richmenus.user_links = dict(menus["user_links"])


def save(sim: Simulator, path: Path) -> None:
    """Write the snapshot to `path` (through a temporary file: a crash keeps the last one)."""
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(json.dumps(snapshot(sim), ensure_ascii=False), encoding="utf-8")
    os.replace(partial, path)


def load(sim: Simulator, path: Path) -> bool:
    """Restore the snapshot at `path` if there is one; whether there was."""
    if not path.exists():
        return False
    restore(sim, json.loads(path.read_text(encoding="utf-8")))
    return True
