"""Groups on the local LINE platform: events as LINE sends them (valid against webhook.yml),
replies landing in the group, pushes to a group ID, the group endpoints and the group page."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from line_simulator import Simulator
from line_simulator.validation import webhook_validator
from tests.test_line_simulator import AUTH, FakeBot, fake_bot, sim, sim_http  # noqa: F401 (fixtures)


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def two_members(sim: Simulator) -> tuple[str, str, str]:
    """A group of 山田 (a friend of the bot) and 佐藤 (not a friend); return the IDs."""
    yamada = sim.add_user("山田")
    yamada.friend = True
    satou = sim.add_user("佐藤")
    group = sim.groups.create("防災対策本部", [yamada.user_id, satou.user_id])
    return group.group_id, yamada.user_id, satou.user_id


async def reply(sim_http: TestClient, token: str, messages: list[dict[str, Any]]) -> Any:
    return await sim_http.post(
        "/v2/bot/message/reply", json={"replyToken": token, "messages": messages}, headers=AUTH
    )


# Events


async def test_group_events_are_valid_against_lines_webhook_schema(
    sim: Simulator, fake_bot: FakeBot
) -> None:
    group_id, yamada, satou = two_members(sim)
    newcomer = sim.add_user("新人").user_id

    await sim.groups.invite_bot(group_id)
    await sim.groups.text(group_id, yamada, "/status")
    await sim.groups.text(group_id, yamada, "/status", with_user_id=False)
    await sim.groups.postback(group_id, satou, "action=group_confirm&token=x")
    await sim.groups.postback(group_id, satou, "action=x", with_user_id=False)
    await sim.groups.add_member(group_id, newcomer)
    await sim.groups.remove_member(group_id, newcomer)
    await sim.groups.remove_bot(group_id)

    for body in fake_bot.bodies:
        assert list(webhook_validator().iter_errors(body)) == []
    kinds = [e["type"] for e in fake_bot.events]
    assert kinds == [
        "join",
        "message",
        "message",
        "postback",
        "postback",
        "memberJoined",
        "memberLeft",
        "leave",
    ]
    join, named, anonymous, tapped, tapped_anonymously, joined, left, leave = fake_bot.events
    assert join["source"] == {"type": "group", "groupId": group_id} and join["replyToken"]
    assert named["source"] == {"type": "group", "groupId": group_id, "userId": yamada}
    assert anonymous["source"] == {"type": "group", "groupId": group_id}
    assert named["message"]["text"] == "/status" and named["replyToken"]
    assert tapped["source"]["userId"] == satou
    assert tapped["postback"] == {"data": "action=group_confirm&token=x"}
    assert "userId" not in tapped_anonymously["source"]
    assert joined["joined"] == {"members": [{"type": "user", "userId": newcomer}]}
    assert left["left"] == {"members": [{"type": "user", "userId": newcomer}]}
    assert "replyToken" not in left and "replyToken" not in leave


async def test_nothing_reaches_the_bot_from_a_group_it_is_not_in(
    sim: Simulator, fake_bot: FakeBot
) -> None:
    group_id, yamada, _ = two_members(sim)

    assert await sim.groups.text(group_id, yamada, "こんにちは") is None
    assert await sim.groups.remove_bot(group_id) is None

    assert fake_bot.events == []
    assert sim.groups.get(group_id).timeline[0].message == text("こんにちは")


async def test_only_members_post_in_a_group(sim: Simulator) -> None:
    group_id, _, _ = two_members(sim)
    stranger = sim.add_user("部外者").user_id
    with pytest.raises(KeyError):
        await sim.groups.text(group_id, stranger, "こんにちは")


# Replies and pushes


async def test_a_reply_to_a_group_event_lands_in_the_group_not_in_a_private_chat(
    sim_http: TestClient, sim: Simulator, fake_bot: FakeBot
) -> None:
    group_id, yamada, _ = two_members(sim)
    await sim.groups.invite_bot(group_id)
    await sim.groups.text(group_id, yamada, "/help")
    token = fake_bot.events[-1]["replyToken"]

    response = await reply(sim_http, token, [text("コマンドの一覧です")])

    assert response.status == 200
    assert sim.groups.messages(group_id) == [text("コマンドの一覧です")]
    assert sim.messages_for(yamada) == []
    assert sim.sent[-1].to == [group_id]
    assert sim.billable_deliveries == 0  # replies are free
    again = await reply(sim_http, token, [text("二回目")])
    assert again.status == 400


async def test_the_join_events_reply_token_answers_into_the_group(
    sim_http: TestClient, sim: Simulator, fake_bot: FakeBot
) -> None:
    group_id, _, _ = two_members(sim)
    await sim.groups.invite_bot(group_id)

    response = await reply(sim_http, fake_bot.events[-1]["replyToken"], [text("よろしく")])

    assert response.status == 200
    assert sim.groups.messages(group_id) == [text("よろしく")]


async def test_a_push_to_a_group_reaches_it_only_while_the_bot_is_a_member(
    sim_http: TestClient, sim: Simulator
) -> None:
    group_id, _, _ = two_members(sim)
    await sim.groups.invite_bot(group_id)
    push = {"to": group_id, "messages": [text("訓練を開始します")]}

    response = await sim_http.post("/v2/bot/message/push", json=push, headers=AUTH)

    assert response.status == 200
    assert sim.groups.messages(group_id) == [text("訓練を開始します")]
    assert sim.billable_deliveries == 2  # billed per member
    await sim.groups.remove_bot(group_id)
    again = await sim_http.post("/v2/bot/message/push", json=push, headers=AUTH)
    assert again.status == 200
    assert len(sim.groups.messages(group_id)) == 1
    assert sim.billable_deliveries == 2


# Group endpoints


async def test_a_member_profile_is_there_for_any_member_while_the_bot_is_in_the_group(
    sim_http: TestClient, sim: Simulator
) -> None:
    group_id, _, satou = two_members(sim)
    url = f"/v2/bot/group/{group_id}/member/{satou}"
    assert (await sim_http.get(url, headers=AUTH)).status == 404  # the bot is not in it

    await sim.groups.invite_bot(group_id)
    response = await sim_http.get(url, headers=AUTH)

    assert response.status == 200
    assert await response.json() == {"displayName": "佐藤", "userId": satou}  # not a friend
    stranger = sim.add_user("部外者").user_id
    missing = await sim_http.get(f"/v2/bot/group/{group_id}/member/{stranger}", headers=AUTH)
    assert missing.status == 404
    assert await missing.json() == {"message": "Not found"}


async def test_summary_member_count_and_member_ids(sim_http: TestClient, sim: Simulator) -> None:
    group_id, yamada, satou = two_members(sim)
    await sim.groups.invite_bot(group_id)

    summary = await (await sim_http.get(f"/v2/bot/group/{group_id}/summary", headers=AUTH)).json()
    count = await (
        await sim_http.get(f"/v2/bot/group/{group_id}/members/count", headers=AUTH)
    ).json()
    member_ids = await (
        await sim_http.get(f"/v2/bot/group/{group_id}/members/ids", headers=AUTH)
    ).json()

    assert summary == {"groupId": group_id, "groupName": "防災対策本部"}
    assert count == {"count": 2}
    assert member_ids == {"memberIds": [yamada, satou]}
    unauthorised = await sim_http.get(f"/v2/bot/group/{group_id}/summary")
    assert unauthorised.status == 401


async def test_leaving_through_the_api_sends_a_leave_event(
    sim_http: TestClient, sim: Simulator, fake_bot: FakeBot
) -> None:
    group_id, _, _ = two_members(sim)
    await sim.groups.invite_bot(group_id)

    response = await sim_http.post(f"/v2/bot/group/{group_id}/leave", headers=AUTH)

    assert response.status == 200
    assert not sim.groups.get(group_id).bot_member
    assert fake_bot.events[-1]["type"] == "leave"
    assert "replyToken" not in fake_bot.events[-1]
    again = await sim_http.post(f"/v2/bot/group/{group_id}/leave", headers=AUTH)
    assert again.status == 404


# The group page


def confirmation_card() -> dict[str, Any]:
    return {
        "type": "flex",
        "altText": "訓練の発信確認",
        "contents": {
            "type": "bubble",
            "body": {
                "type": "box",
                "layout": "vertical",
                "contents": [{"type": "text", "text": "対象 6名"}],
            },
            "footer": {
                "type": "box",
                "layout": "horizontal",
                "contents": [
                    {
                        "type": "button",
                        "action": {
                            "type": "postback",
                            "label": "実行",
                            "data": "action=group_confirm&token=abc",
                            "displayText": "実行",
                        },
                    }
                ],
            },
        },
    }


async def test_the_group_page_shows_who_said_what_and_posts_as_a_member(
    sim_http: TestClient, sim: Simulator, fake_bot: FakeBot
) -> None:
    group_id, yamada, satou = two_members(sim)
    await sim.groups.invite_bot(group_id)
    await sim.groups.text(group_id, yamada, "/drill")
    await reply(sim_http, fake_bot.events[-1]["replyToken"], [confirmation_card()])

    page = await (await sim_http.get(f"/_sim/group/{group_id}?as={satou}")).text()

    assert "防災対策本部" in page and "公式アカウント" in page
    assert "山田" in page and "/drill" in page and "訓練の発信確認" in page
    assert 'name="data" value="action=group_confirm&amp;token=abc"' in page
    assert f'name="user_id" value="{satou}"' in page

    response = await sim_http.post(
        f"/_sim/group/{group_id}/send",
        data={"user_id": satou, "text": "/status", "no_user_id": "1"},
        allow_redirects=False,
    )
    assert response.status == 303
    assert fake_bot.events[-1]["source"] == {"type": "group", "groupId": group_id}
    assert fake_bot.events[-1]["message"]["text"] == "/status"

    response = await sim_http.post(
        f"/_sim/group/{group_id}/postback",
        data={"user_id": satou, "data": "action=group_confirm&token=abc", "display_text": "実行"},
        allow_redirects=False,
    )
    assert response.status == 303
    assert fake_bot.events[-1]["type"] == "postback"
    assert fake_bot.events[-1]["source"]["userId"] == satou
    assert sim.groups.get(group_id).timeline[-1].message == text("実行")
    for body in fake_bot.bodies:
        assert list(webhook_validator().iter_errors(body)) == []


async def test_groups_are_created_listed_and_joined_from_the_pages(
    sim_http: TestClient, sim: Simulator, fake_bot: FakeBot
) -> None:
    yamada = sim.add_user("山田").user_id
    index = await (await sim_http.get("/")).text()
    assert "/_sim/groups" in index

    created = await sim_http.post(
        "/_sim/groups", data={"name": "防災対策本部", "member": yamada}, allow_redirects=False
    )
    assert created.status == 303
    (group,) = sim.groups.groups.values()
    assert group.member_ids == [yamada] and created.headers["Location"].endswith(group.group_id)
    listing = await (await sim_http.get("/_sim/groups")).text()
    assert "防災対策本部" in listing and f"/_sim/group/{group.group_id}" in listing

    invited = await sim_http.post(f"/_sim/group/{group.group_id}/invite", allow_redirects=False)
    assert invited.status == 303 and group.bot_member
    assert fake_bot.events[-1]["type"] == "join"
    newcomer = sim.add_user("新人").user_id
    await sim_http.post(
        f"/_sim/group/{group.group_id}/members", data={"user_id": newcomer}, allow_redirects=False
    )
    assert fake_bot.events[-1]["type"] == "memberJoined"
    assert newcomer in group.member_ids
    removed = await sim_http.post(f"/_sim/group/{group.group_id}/remove", allow_redirects=False)
    assert removed.status == 303 and not group.bot_member
    assert fake_bot.events[-1]["type"] == "leave"


async def test_an_unknown_group_page_is_404(sim_http: TestClient) -> None:
    assert (await sim_http.get("/_sim/group/C" + "0" * 32)).status == 404
