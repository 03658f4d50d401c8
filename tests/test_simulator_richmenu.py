"""The local LINE platform's rich menus: LINE's endpoints and rules, and a user's taps."""

from __future__ import annotations

import io
import os
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from PIL import Image

from line_simulator import Simulator
from line_simulator.validation import webhook_validator
from tests.test_line_simulator import AUTH, FakeBot, fake_bot, sim, sim_http  # noqa: F401 (fixtures)

USER = "U" + "1" * 32


def menu(width: int = 2500, height: int = 843, areas: list[dict] | None = None, **extra) -> dict:
    """A valid rich menu object (two postback areas side by side) unless told otherwise."""
    half = width // 2
    default_areas = [
        {
            "bounds": {"x": 0, "y": 0, "width": half, "height": height},
            "action": {"type": "postback", "label": "左", "data": "side=left", "displayText": "左"},
        },
        {
            "bounds": {"x": half, "y": 0, "width": width - half, "height": height},
            "action": {"type": "message", "label": "右", "text": "右です"},
        },
    ]
    body = {
        "size": {"width": width, "height": height},
        "selected": True,
        "name": "test menu",
        "chatBarText": "メニュー",
        "areas": default_areas if areas is None else areas,
    }
    return {**body, **extra}


def png(width: int = 2500, height: int = 843, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (0, 122, 61)).save(out, format=fmt)
    return out.getvalue()


async def create(sim_http: TestClient, body: dict | None = None) -> str:
    response = await sim_http.post("/v2/bot/richmenu", json=body or menu(), headers=AUTH)
    assert response.status == 200, await response.text()
    return (await response.json())["richMenuId"]


async def upload(
    sim_http: TestClient, menu_id: str, data: bytes, content_type: str = "image/png"
) -> Any:
    return await sim_http.post(
        f"/v2/bot/richmenu/{menu_id}/content",
        data=io.BytesIO(data),  # aiohttp warns about large raw bytes
        headers={**AUTH, "Content-Type": content_type},
    )


async def ready_menu(sim_http: TestClient, body: dict | None = None) -> str:
    """A menu with its image."""
    menu_id = await create(sim_http, body)
    size = (body or menu())["size"]
    assert (await upload(sim_http, menu_id, png(size["width"], size["height"]))).status == 200
    return menu_id


# Creating menus


async def test_a_created_menu_is_listed_and_readable_with_lines_id_format(sim_http):
    menu_id = await create(sim_http)

    assert re.fullmatch(r"richmenu-[0-9a-f]{32}", menu_id)
    listed = await (await sim_http.get("/v2/bot/richmenu/list", headers=AUTH)).json()
    assert [m["richMenuId"] for m in listed["richmenus"]] == [menu_id]
    got = await (await sim_http.get(f"/v2/bot/richmenu/{menu_id}", headers=AUTH)).json()
    assert got == {"richMenuId": menu_id, **menu()}


@pytest.mark.parametrize(
    ("body", "prop", "message"),
    [
        pytest.param(menu(width=799, height=250), "size.width", "between 800", id="too-narrow"),
        pytest.param(menu(width=2501, height=843), "size.width", "between 800", id="too-wide"),
        pytest.param(menu(width=800, height=249), "size.height", "at least 250", id="too-low"),
        pytest.param(menu(width=1200, height=900), "size", "at least 1.45", id="too-square"),
        pytest.param(menu(areas=[menu()["areas"][0]] * 21), "areas", "at most 20", id="21-areas"),
        pytest.param(
            menu(
                areas=[
                    {
                        "bounds": {"x": 2000, "y": 0, "width": 501, "height": 10},
                        "action": {"type": "postback", "data": "x"},
                    }
                ]
            ),
            "areas[0].bounds",
            "inside",
            id="area-outside",
        ),
        pytest.param(menu(chatBarText="メ" * 15), "chatBarText", "0 and 14", id="chat-bar-15"),
        pytest.param(
            {k: v for k, v in menu().items() if k != "name"},
            "name",
            "must be specified",
            id="no-name",
        ),
        pytest.param(
            menu(
                areas=[
                    {
                        "bounds": {"x": 0, "y": 0, "width": 9, "height": 9},
                        "action": {"type": "bogus"},
                    }
                ]
            ),
            "areas[0].action.type",
            "must be one of",
            id="bad-action",
        ),
    ],
)
async def test_a_menu_breaking_lines_rules_is_refused_with_the_property(
    sim_http, sim, body, prop, message
):
    for path in ("/v2/bot/richmenu/validate", "/v2/bot/richmenu"):
        response = await sim_http.post(path, json=body, headers=AUTH)

        assert response.status == 400
        answer = await response.json()
        assert answer["message"].startswith("The request body has")
        assert any(d["property"] == prop and message in d["message"] for d in answer["details"])
    assert sim.richmenus.menus == {}


async def test_validate_accepts_a_good_menu_without_creating_it(sim_http, sim):
    response = await sim_http.post("/v2/bot/richmenu/validate", json=menu(), headers=AUTH)

    assert response.status == 200
    assert sim.richmenus.menus == {}


async def test_creating_more_than_100_menus_an_hour_is_rate_limited(sim_http, sim):
    for _ in range(100):
        await create(sim_http)
    response = await sim_http.post("/v2/bot/richmenu", json=menu(), headers=AUTH)
    assert response.status == 429

    sim.clock.advance(3600)
    assert await create(sim_http)


async def test_deleting_a_menu_ends_the_default_and_user_links_to_it(sim_http, sim):
    menu_id = await ready_menu(sim_http)
    await sim_http.post(f"/v2/bot/user/all/richmenu/{menu_id}", headers=AUTH)
    await sim_http.post(f"/v2/bot/user/{USER}/richmenu/{menu_id}", headers=AUTH)

    response = await sim_http.delete(f"/v2/bot/richmenu/{menu_id}", headers=AUTH)

    assert response.status == 200
    assert (await sim_http.get(f"/v2/bot/richmenu/{menu_id}", headers=AUTH)).status == 404
    assert sim.richmenus.menu_of(USER) is None
    default = await sim_http.get("/v2/bot/user/all/richmenu", headers=AUTH)
    assert default.status == 404
    assert (await default.json())["message"] == "no default richmenu"


async def test_unknown_menu_ids_answer_404(sim_http):
    unknown = "richmenu-" + "0" * 32
    for method, path in [
        ("GET", f"/v2/bot/richmenu/{unknown}"),
        ("DELETE", f"/v2/bot/richmenu/{unknown}"),
        ("GET", f"/v2/bot/richmenu/{unknown}/content"),
        ("POST", f"/v2/bot/user/all/richmenu/{unknown}"),
        ("POST", f"/v2/bot/user/{USER}/richmenu/{unknown}"),
    ]:
        response = await sim_http.request(method, path, headers=AUTH)
        assert response.status == 404, (method, path)
        assert (await response.json())["message"] == "Not found"


# Images


async def test_an_image_of_the_menus_size_is_stored_once(sim_http, sim):
    menu_id = await create(sim_http)
    image = png()

    assert (await upload(sim_http, menu_id, image)).status == 200
    again = await upload(sim_http, menu_id, image)

    assert again.status == 400
    assert (await again.json())["message"] == "An image has already been uploaded to the richmenu"
    download = await sim_http.get(f"/v2/bot/richmenu/{menu_id}/content", headers=AUTH)
    assert download.status == 200
    assert download.content_type == "image/png"
    assert await download.read() == image


def noisy_png(width: int, height: int, noisy_rows: int) -> bytes:
    """A PNG that compresses badly: random grey rows, so its size can pass 1 MB."""
    pixels = os.urandom(width * noisy_rows) + bytes(width * (height - noisy_rows))
    out = io.BytesIO()
    Image.frombytes("L", (width, height), pixels).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "content_type", "status", "message"),
    [
        pytest.param(png(2500, 1686), "image/png", 400, "not allowed", id="wrong-size"),
        pytest.param(png(fmt="JPEG"), "image/png", 400, "not allowed", id="jpeg-called-png"),
        pytest.param(b"not an image", "image/png", 400, "not allowed", id="not-an-image"),
        pytest.param(noisy_png(2500, 843, 500), "image/png", 400, "not allowed", id="over-1MB"),
        pytest.param(png(fmt="GIF"), "image/gif", 415, "Unsupported", id="gif"),
    ],
)
async def test_an_image_breaking_lines_rules_is_refused(
    sim_http, sim, data, content_type, status, message
):
    menu_id = await create(sim_http)

    response = await upload(sim_http, menu_id, data, content_type)

    assert response.status == status
    assert message in (await response.json())["message"]
    assert sim.richmenus.menus[menu_id].image is None


def test_the_over_1mb_case_is_really_over_1mb_and_under_the_body_limit():
    size = len(noisy_png(2500, 843, 500))
    assert 1024 * 1024 < size < 2 * 1024 * 1024


async def test_a_jpeg_of_the_right_size_is_accepted(sim_http):
    menu_id = await create(sim_http)

    response = await upload(sim_http, menu_id, png(fmt="JPEG"), "image/jpeg")

    assert response.status == 200


# Default and per-user menus


@pytest.mark.parametrize(
    "path", ["/v2/bot/user/all/richmenu/{id}", f"/v2/bot/user/{USER}/richmenu/{{id}}"]
)
async def test_a_menu_without_image_cannot_be_shown(sim_http, sim, path):
    menu_id = await create(sim_http)

    response = await sim_http.post(path.format(id=menu_id), headers=AUTH)

    assert response.status == 400
    assert await response.json() == {
        "message": "must upload richmenu image before applying it to user",
        "details": [],
    }
    assert sim.richmenus.menu_of(USER) is None


async def test_a_users_own_menu_beats_the_default_until_unlinked(sim_http, sim):
    default_id = await ready_menu(sim_http)
    own_id = await ready_menu(sim_http, menu(height=1686))

    assert (
        await sim_http.post(f"/v2/bot/user/all/richmenu/{default_id}", headers=AUTH)
    ).status == 200
    got = await (await sim_http.get("/v2/bot/user/all/richmenu", headers=AUTH)).json()
    assert got == {"richMenuId": default_id}
    assert sim.richmenus.menu_of(USER).rich_menu_id == default_id
    nobody = await sim_http.get(f"/v2/bot/user/{USER}/richmenu", headers=AUTH)
    assert nobody.status == 404
    assert (await nobody.json())["message"] == "the user has no richmenu"

    assert (
        await sim_http.post(f"/v2/bot/user/{USER}/richmenu/{own_id}", headers=AUTH)
    ).status == 200
    assert sim.richmenus.menu_of(USER).rich_menu_id == own_id
    mine = await (await sim_http.get(f"/v2/bot/user/{USER}/richmenu", headers=AUTH)).json()
    assert mine == {"richMenuId": own_id}

    assert (await sim_http.delete(f"/v2/bot/user/{USER}/richmenu", headers=AUTH)).status == 200
    assert sim.richmenus.menu_of(USER).rich_menu_id == default_id

    assert (await sim_http.delete("/v2/bot/user/all/richmenu", headers=AUTH)).status == 200
    assert sim.richmenus.menu_of(USER) is None


async def test_linking_a_malformed_user_id_is_refused(sim_http):
    menu_id = await ready_menu(sim_http)

    response = await sim_http.post(f"/v2/bot/user/nobody/richmenu/{menu_id}", headers=AUTH)

    assert response.status == 400
    assert (await response.json())["message"] == "The value for the 'userId' parameter is invalid"


async def test_bulk_link_takes_up_to_500_users_and_answers_202(sim_http, sim):
    menu_id = await ready_menu(sim_http)
    users = [f"U{i:032x}" for i in range(501)]

    too_many = await sim_http.post(
        "/v2/bot/richmenu/bulk/link", json={"richMenuId": menu_id, "userIds": users}, headers=AUTH
    )
    assert too_many.status == 400
    assert (await too_many.json())["details"] == [
        {"message": "Size must be at most 500", "property": "userIds"}
    ]

    linked = await sim_http.post(
        "/v2/bot/richmenu/bulk/link",
        json={"richMenuId": menu_id, "userIds": users[:500]},
        headers=AUTH,
    )
    assert linked.status == 202
    assert all(sim.richmenus.menu_of(u).rich_menu_id == menu_id for u in users[:500])
    assert sim.richmenus.menu_of(users[500]) is None

    unlinked = await sim_http.post(
        "/v2/bot/richmenu/bulk/unlink", json={"userIds": users[:2]}, headers=AUTH
    )
    assert unlinked.status == 202
    assert sim.richmenus.menu_of(users[0]) is None
    assert sim.richmenus.menu_of(users[2]).rich_menu_id == menu_id


async def test_bulk_link_of_a_menu_without_image_is_refused(sim_http, sim):
    menu_id = await create(sim_http)

    response = await sim_http.post(
        "/v2/bot/richmenu/bulk/link", json={"richMenuId": menu_id, "userIds": [USER]}, headers=AUTH
    )

    assert response.status == 400
    assert sim.richmenus.menu_of(USER) is None


# Aliases


async def test_an_alias_is_created_once_then_updated_read_listed_and_deleted(sim_http):
    first = await ready_menu(sim_http)
    second = await ready_menu(sim_http)
    alias = {"richMenuAliasId": "anpi-linked", "richMenuId": first}

    assert (await sim_http.post("/v2/bot/richmenu/alias", json=alias, headers=AUTH)).status == 200
    duplicate = await sim_http.post("/v2/bot/richmenu/alias", json=alias, headers=AUTH)
    assert duplicate.status == 400
    assert await duplicate.json() == {"message": "conflict richmenu alias id", "details": []}

    updated = await sim_http.post(
        "/v2/bot/richmenu/alias/anpi-linked", json={"richMenuId": second}, headers=AUTH
    )
    assert updated.status == 200
    got = await (await sim_http.get("/v2/bot/richmenu/alias/anpi-linked", headers=AUTH)).json()
    assert got == {"richMenuAliasId": "anpi-linked", "richMenuId": second}
    listed = await (await sim_http.get("/v2/bot/richmenu/alias/list", headers=AUTH)).json()
    assert listed == {"aliases": [got]}

    assert (await sim_http.delete("/v2/bot/richmenu/alias/anpi-linked", headers=AUTH)).status == 200
    gone = await sim_http.get("/v2/bot/richmenu/alias/anpi-linked", headers=AUTH)
    assert gone.status == 404
    assert (await gone.json())["message"] == "richmenu alias not found"


@pytest.mark.parametrize("alias_id", ["Anpi", "anpi linked", "a" * 33, ""])
async def test_an_alias_id_outside_lines_rules_is_refused(sim_http, sim, alias_id):
    menu_id = await ready_menu(sim_http)

    response = await sim_http.post(
        "/v2/bot/richmenu/alias",
        json={"richMenuAliasId": alias_id, "richMenuId": menu_id},
        headers=AUTH,
    )

    assert response.status == 400
    assert (await response.json())["details"][0]["property"] == "richMenuAliasId"
    assert sim.richmenus.aliases == {}


async def test_an_alias_needs_a_menu_with_its_image(sim_http, sim):
    bare = await create(sim_http)
    for menu_id in (bare, "richmenu-" + "0" * 32):
        response = await sim_http.post(
            "/v2/bot/richmenu/alias",
            json={"richMenuAliasId": "anpi-x", "richMenuId": menu_id},
            headers=AUTH,
        )
        assert response.status == 400
        assert (await response.json())["message"] == "richmenu not found"
    missing = await sim_http.post(
        "/v2/bot/richmenu/alias/anpi-x", json={"richMenuId": bare}, headers=AUTH
    )
    assert missing.status == 404


# What the store records


async def test_every_rich_menu_call_is_recorded_with_its_status(sim_http, sim):
    menu_id = await create(sim_http)
    await sim_http.get("/v2/bot/richmenu/list", headers=AUTH)
    await sim_http.post(f"/v2/bot/user/all/richmenu/{menu_id}", headers=AUTH)

    assert sim.richmenus.calls == [
        ("POST", "/v2/bot/richmenu", 200),
        ("GET", "/v2/bot/richmenu/list", 200),
        ("POST", f"/v2/bot/user/all/richmenu/{menu_id}", 400),
    ]
    assert sim.richmenus.writes() == [sim.richmenus.calls[0], sim.richmenus.calls[2]]


# Taps


async def shown_to(sim_http: TestClient, sim: Simulator, body: dict) -> str:
    """A user who sees this menu as the default."""
    menu_id = await ready_menu(sim_http, body)
    await sim_http.post(f"/v2/bot/user/all/richmenu/{menu_id}", headers=AUTH)
    user = sim.add_user("たろう", USER)
    user.friend = True
    return menu_id


async def test_tapping_a_postback_area_posts_it_as_the_user(sim_http, sim, fake_bot):
    await shown_to(sim_http, sim, menu())

    result = await sim.richmenus.tap(USER, 0)

    assert result.status == 200
    [event] = fake_bot.events
    assert event["type"] == "postback"
    assert event["source"] == {"type": "user", "userId": USER}
    assert event["postback"] == {"data": "side=left"}
    assert sim.timelines[USER][-1].message == {"type": "text", "text": "左"}


async def test_tapping_a_message_area_sends_its_text(sim_http, sim, fake_bot):
    await shown_to(sim_http, sim, menu())

    await sim.richmenus.tap(USER, 1)

    [event] = fake_bot.events
    assert event["type"] == "message" and event["message"]["text"] == "右です"


async def test_tapping_a_uri_area_opens_the_uri_and_sends_nothing(sim_http, sim, fake_bot):
    area = {
        "bounds": {"x": 0, "y": 0, "width": 2500, "height": 843},
        "action": {"type": "uri", "label": "開く", "uri": "https://example.com/help"},
    }
    await shown_to(sim_http, sim, menu(areas=[area]))

    result = await sim.richmenus.tap(USER, 0)

    assert result.uri == "https://example.com/help"
    assert fake_bot.events == []


async def test_a_richmenuswitch_area_switches_the_users_menu_and_posts_back(
    sim_http, sim, fake_bot
):
    other = await ready_menu(sim_http, menu(height=1686))
    await sim_http.post(
        "/v2/bot/richmenu/alias",
        json={"richMenuAliasId": "page-2", "richMenuId": other},
        headers=AUTH,
    )
    area = {
        "bounds": {"x": 0, "y": 0, "width": 2500, "height": 843},
        "action": {"type": "richmenuswitch", "richMenuAliasId": "page-2", "data": "page=2"},
    }
    await shown_to(sim_http, sim, menu(areas=[area]))

    await sim.richmenus.tap(USER, 0)

    assert sim.richmenus.menu_of(USER).rich_menu_id == other
    [event] = fake_bot.events
    assert event["postback"] == {
        "data": "page=2",
        "params": {"newRichMenuAliasId": "page-2", "status": "SUCCESS"},
    }
    assert (
        list(webhook_validator().iter_errors({"destination": "U" + "0" * 32, "events": [event]}))
        == []
    )


async def test_the_chat_page_shows_the_menu_with_its_real_tap_areas(sim_http, sim, fake_bot):
    menu_id = await shown_to(sim_http, sim, menu())

    html = await (await sim_http.get(f"/_sim/chat/{USER}")).text()

    assert f'src="/_sim/richmenu/{menu_id}/image"' in html
    assert "メニュー" in html
    assert "left: 0.0000%; top: 0.0000%; width: 50.0000%; height: 100.0000%;" in html
    assert "left: 50.0000%; top: 0.0000%; width: 50.0000%; height: 100.0000%;" in html
    image = await sim_http.get(f"/_sim/richmenu/{menu_id}/image")
    assert image.status == 200 and await image.read() == sim.richmenus.menus[menu_id].image

    tapped = await sim_http.post(f"/_sim/chat/{USER}/richmenu/0", allow_redirects=False)

    assert tapped.status == 303
    assert tapped.headers["Location"] == f"/_sim/chat/{USER}"
    assert [e["postback"]["data"] for e in fake_bot.events] == ["side=left"]


async def test_the_chat_page_shows_no_menu_when_the_user_has_none(sim_http, sim):
    sim.add_user("はなこ", USER)

    html = await (await sim_http.get(f"/_sim/chat/{USER}")).text()

    assert "richmenu" not in html
