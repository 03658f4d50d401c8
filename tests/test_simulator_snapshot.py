"""The local LINE platform's state saved as JSON and put back (what `make demo` keeps between
runs): users, chats, groups and rich menus come back as they were."""

from __future__ import annotations

import json

from line_simulator import Simulator, SimulatorConfig, snapshot
from line_simulator.account_link import issue_link_token, redeem_link_token
from line_simulator.richmenu import SimRichMenu
from line_simulator.state import GroupEntry, TimelineEntry


def a_simulator() -> Simulator:
    return Simulator(
        SimulatorConfig(channel_secret="s", channel_access_token="t", login_channel_id="1")
    )


def test_a_saved_simulator_comes_back_with_its_users_chats_groups_and_menus(tmp_path):
    sim = a_simulator()
    friend = sim.add_user("たろう")
    friend.friend = True
    blocked = sim.add_user("はなこ")
    blocked.blocked = True
    sim.timelines[friend.user_id] += [
        TimelineEntry("user", {"type": "text", "text": "連携"}),
        TimelineEntry("bot", {"type": "text", "text": "社員番号を入力してください"}),
    ]
    group = sim.groups.create("防災対策本部", [friend.user_id])
    group.bot_member = True
    group.timeline.append(GroupEntry("user", {"type": "text", "text": "/help"}, friend.user_id))
    menu = SimRichMenu("richmenu-1", {"size": {"width": 2500, "height": 1686}, "areas": []},
                       b"\x89PNG fake", "image/png")  # fmt: skip
    sim.richmenus.menus[menu.rich_menu_id] = menu
    sim.richmenus.aliases["anpi-linked"] = menu.rich_menu_id
    sim.richmenus.default_id = menu.rich_menu_id
    sim.richmenus.user_links[friend.user_id] = menu.rich_menu_id

    link_token = issue_link_token(sim, friend.user_id)
    path = tmp_path / "line.json"
    snapshot.save(sim, path)
    again = a_simulator()
    assert snapshot.load(again, path)

    assert snapshot.snapshot(again) == json.loads(path.read_text(encoding="utf-8"))
    assert again.bot_user_id == sim.bot_user_id
    assert again.users[friend.user_id].reachable and again.users[blocked.user_id].blocked
    assert again.messages_for(friend.user_id) == [
        {"type": "text", "text": "社員番号を入力してください"}
    ]
    assert again.groups.get(group.group_id).timeline[0].user_id == friend.user_id
    assert again.richmenus.menu_of(friend.user_id).image == b"\x89PNG fake"
    assert again.richmenus.menu_of(blocked.user_id).rich_menu_id == "richmenu-1"  # the default
    assert redeem_link_token(again, link_token) == friend.user_id  # issued before the restart


def test_no_saved_state_leaves_a_fresh_simulator(tmp_path):
    sim = a_simulator()
    assert not snapshot.load(sim, tmp_path / "line.json")
    assert sim.users == {}
