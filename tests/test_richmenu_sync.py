"""`python -m bot richmenu sync` and `show_menu`, through the real LineApi against the local
LINE platform and a real database."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from PIL import Image

from bot import richmenus
from bot.config import Config, ConfigError, require_https_line_hosts
from bot.line_api import LineApi
from bot.richmenu_spec import LINKED, MENUS, UNLINKED
from domain import rich_menus
from models import LineAccount, RichMenu
from tests.conftest import ACCESS_TOKEN, make_company, quick_link
from tests.test_cli import run

COMMITTED = {spec.kind: spec.image_path.read_bytes() for spec in MENUS}


@pytest.fixture(autouse=True)
def japanese_pair(monkeypatch) -> None:
    """The sync works the same for every pair of menus: these tests follow the Japanese pair
    (the English pair beside it: tests/test_english.py; the command below syncs all four)."""
    monkeypatch.setattr(richmenus, "MENUS", (UNLINKED, LINKED))


@pytest.fixture
async def line(sim) -> AsyncIterator[LineApi]:
    """The product's LINE client, both hosts at the local LINE platform."""
    api = LineApi(sim.config.public_base_url, ACCESS_TOKEN, sim.config.public_base_url)
    yield api
    await api.close()


async def linked_staff(sim) -> tuple[list[str], list[str]]:
    """Two linked friends (get the linked menu); a blocked one and one of a former employee
    (do not)."""
    company = await make_company(
        {"総務部": [("E1", "山田"), ("E2", "佐藤"), ("E3", "鈴木"), ("E4", "高橋")]}
    )
    linked = [
        await quick_link(sim, company.employees["E1"]),
        await quick_link(sim, company.employees["E2"]),
    ]
    blocked = await quick_link(sim, company.employees["E3"])
    await LineAccount.filter(user_id=blocked).update(followed=False, blocked=True)
    former = await quick_link(sim, company.employees["E4"])
    company.employees["E4"].active = False
    await company.employees["E4"].save()
    return linked, [blocked, former]


def menu_id_of(sim, user_id: str) -> str | None:
    menu = sim.richmenus.menu_of(user_id)
    return menu.rich_menu_id if menu else None


def other_png(spec) -> bytes:
    """A different image of the spec's size."""
    out = io.BytesIO()
    Image.new("RGB", (spec.width, spec.height), (200, 0, 0)).save(out, format="PNG")
    return out.getvalue()


async def test_first_sync_creates_both_menus_with_images_aliases_and_the_default(sim, db, line):
    linked, others = await linked_staff(sim)

    report = await richmenus.sync(line)

    assert [(m.kind, m.outcome) for m in report.menus] == [
        ("unlinked", "created"),
        ("linked", "created"),
    ]
    ids = {m.kind: m.rich_menu_id for m in report.menus}
    store = sim.richmenus
    assert {k: store.menus[i].image for k, i in ids.items()} == {k: COMMITTED[k] for k in ids}
    assert store.menus[ids["linked"]].body == LINKED.request_json(
        store.menus[ids["linked"]].body["name"]
    )
    assert store.menus[ids["unlinked"]].body["name"].startswith("anpi-unlinked-")
    assert store.aliases == {"anpi-unlinked": ids["unlinked"], "anpi-linked": ids["linked"]}
    assert store.default_id == ids["unlinked"]
    assert [menu_id_of(sim, u) for u in linked] == [ids["linked"]] * 2
    assert [menu_id_of(sim, u) for u in others] == [ids["unlinked"]] * 2
    assert report.relinked_users == 2 and report.default_set and report.deleted == []
    rows = {r.kind: r.rich_menu_id for r in await RichMenu.all()}
    assert rows == ids


async def test_a_second_sync_makes_no_write_call(sim, db, line):
    await linked_staff(sim)
    first = await richmenus.sync(line)
    sim.richmenus.calls.clear()

    second = await richmenus.sync(line)

    assert sim.richmenus.writes() == []
    assert [m.outcome for m in second.menus] == ["unchanged", "unchanged"]
    assert [m.rich_menu_id for m in second.menus] == [m.rich_menu_id for m in first.menus]
    assert not second.changed
    assert "linked unchanged" in second.lines()[0]


async def test_a_changed_spec_replaces_the_menu_relinks_its_users_and_deletes_the_old_one(
    sim, db, line, monkeypatch
):
    linked, others = await linked_staff(sim)
    first = {m.kind: m.rich_menu_id for m in (await richmenus.sync(line)).menus}
    sim.richmenus.calls.clear()
    changed = replace(LINKED, chat_bar_text="安否メニュー")
    monkeypatch.setattr(richmenus, "MENUS", (UNLINKED, changed))

    report = await richmenus.sync(line)

    outcomes = {m.kind: m.outcome for m in report.menus}
    assert outcomes == {"unlinked": "unchanged", "linked": "replaced"}
    new = report.menus[1].rich_menu_id
    store = sim.richmenus
    assert new != first["linked"]
    assert store.menus[new].body["chatBarText"] == "安否メニュー"
    assert store.aliases["anpi-linked"] == new
    assert [menu_id_of(sim, u) for u in linked] == [new, new]
    assert [menu_id_of(sim, u) for u in others] == [first["unlinked"]] * 2
    assert first["linked"] not in store.menus
    assert report.deleted == [first["linked"]] and report.relinked_users == 2
    assert (await rich_menus.current("linked")).rich_menu_id == new
    writes = [(method, path.replace(new, "NEW")) for method, path, _ in store.writes()]
    assert writes == [
        ("POST", "/v2/bot/richmenu"),
        ("POST", "/v2/bot/richmenu/NEW/content"),
        ("POST", "/v2/bot/richmenu/alias/anpi-linked"),
        ("POST", "/v2/bot/richmenu/bulk/link"),
        ("DELETE", f"/v2/bot/richmenu/{first['linked']}"),
    ]


async def test_a_changed_image_replaces_the_default_menu(sim, db, line, monkeypatch):
    linked, _ = await linked_staff(sim)
    first = {m.kind: m.rich_menu_id for m in (await richmenus.sync(line)).menus}
    new_image = other_png(UNLINKED)
    real_read = richmenus.read_image
    monkeypatch.setattr(
        richmenus,
        "read_image",
        lambda spec: new_image if spec.kind == "unlinked" else real_read(spec),
    )

    report = await richmenus.sync(line)

    new = report.menus[0].rich_menu_id
    assert [m.outcome for m in report.menus] == ["replaced", "unchanged"]
    assert sim.richmenus.menus[new].image == new_image
    assert sim.richmenus.default_id == new and report.default_set
    assert sim.richmenus.aliases["anpi-unlinked"] == new
    assert report.relinked_users == 0
    assert [menu_id_of(sim, u) for u in linked] == [first["linked"]] * 2
    assert first["unlinked"] not in sim.richmenus.menus


class Crash(Exception):
    pass


@pytest.mark.parametrize("crash_at", ["record", "upload"])
async def test_a_sync_that_stopped_after_creating_is_recovered_without_a_duplicate(
    sim, db, line, monkeypatch, crash_at
):
    async def crash(*args, **kwargs):
        raise Crash

    with monkeypatch.context() as patch:
        if crash_at == "record":
            patch.setattr(rich_menus, "record", crash)
        else:
            patch.setattr(line, "upload_rich_menu_image", crash)
        with pytest.raises(Crash):
            await richmenus.sync(line)
    assert len(sim.richmenus.menus) == 1  # the unlinked menu was created, then the crash

    report = await richmenus.sync(line)

    creates = [c for c in sim.richmenus.calls if c[:2] == ("POST", "/v2/bot/richmenu")]
    assert len(creates) == 2  # one per kind, none twice
    assert len(sim.richmenus.menus) == 2
    assert all(menu.image is not None for menu in sim.richmenus.menus.values())
    uploads = [c for c in sim.richmenus.calls if c[1].endswith("/content") and c[0] == "POST"]
    assert [status for *_, status in uploads] == [200, 200]
    assert sim.richmenus.default_id == report.menus[0].rich_menu_id
    assert report.deleted == []


async def test_a_replacement_that_stopped_before_relinking_is_finished_by_the_next_sync(
    sim, db, line, monkeypatch
):
    linked, _ = await linked_staff(sim)
    first = {m.kind: m.rich_menu_id for m in (await richmenus.sync(line)).menus}
    monkeypatch.setattr(richmenus, "MENUS", (UNLINKED, replace(LINKED, chat_bar_text="安否")))

    async def crash(*args, **kwargs):
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(line, "link_rich_menu_bulk", crash)
        with pytest.raises(Crash):
            await richmenus.sync(line)
    assert [menu_id_of(sim, u) for u in linked] == [first["linked"]] * 2  # not left menu-less

    report = await richmenus.sync(line)

    new = report.menus[1].rich_menu_id
    assert report.menus[1].outcome == "replaced" and report.relinked_users == 2
    assert [menu_id_of(sim, u) for u in linked] == [new, new]
    assert report.deleted == [first["linked"]]
    creates = [c for c in sim.richmenus.calls if c[:2] == ("POST", "/v2/bot/richmenu")]
    assert len(creates) == 3  # two at first, one replacement, none twice


async def test_sync_leaves_other_menus_alone_and_deletes_our_leftovers(sim, db, line):
    theirs = await line.create_rich_menu(UNLINKED.request_json("campaign-2024"))
    leftover = await line.create_rich_menu(LINKED.request_json("anpi-linked-0123456789ab"))

    report = await richmenus.sync(line)

    assert theirs in sim.richmenus.menus
    assert leftover not in sim.richmenus.menus
    assert report.deleted == [leftover]


async def test_a_step_line_refuses_is_reported_in_one_line(sim, db, line, monkeypatch):
    too_wide = replace(UNLINKED, width=3000)
    monkeypatch.setattr(richmenus, "MENUS", (too_wide, LINKED))

    with pytest.raises(richmenus.RichMenuSyncError) as error:
        await richmenus.sync(line)

    assert str(error.value) == (
        "LINE refused creating the unlinked menu: 400 The request body has 1 error(s) "
        "(size.width: must be between 800 and 2500)"
    )


async def test_a_request_the_sdk_refuses_is_reported_in_one_line(sim, db, line, monkeypatch):
    too_long = replace(UNLINKED, chat_bar_text="メ" * 15)
    monkeypatch.setattr(richmenus, "MENUS", (too_long, LINKED))

    with pytest.raises(richmenus.RichMenuSyncError) as error:
        await richmenus.sync(line)

    message = str(error.value)
    assert message.startswith("not sent to LINE (creating the unlinked menu): ")
    assert "chatBarText" in message and "\n" not in message
    assert sim.richmenus.writes() == []


async def test_bulk_link_sends_500_users_per_call(sim, line):
    menu_id = await line.create_rich_menu(LINKED.request_json("bulk"))
    await line.upload_rich_menu_image(menu_id, COMMITTED["linked"], "image/png")
    users = [f"U{i:032x}" for i in range(501)]

    await line.link_rich_menu_bulk(users, menu_id)

    bulk = [c for c in sim.richmenus.calls if c[1] == "/v2/bot/richmenu/bulk/link"]
    assert [status for *_, status in bulk] == [202, 202]
    assert all(menu_id_of(sim, u) == menu_id for u in users)


# show_menu: what the handlers call on link, unlink and follow


async def test_show_menu_links_the_linked_menu_and_unlinking_returns_to_the_default(sim, db, line):
    report = await richmenus.sync(line)
    unlinked_id, linked_id = (m.rich_menu_id for m in report.menus)
    user = sim.add_user("たろう").user_id

    assert await richmenus.show_menu(line, user, linked=True)
    assert menu_id_of(sim, user) == linked_id
    assert await richmenus.show_menu(line, user, linked=False)
    assert menu_id_of(sim, user) == unlinked_id


async def test_show_menu_before_any_sync_changes_nothing_and_says_so(sim, db, line):
    user = sim.add_user("たろう").user_id

    assert not await richmenus.show_menu(line, user, linked=True)
    assert sim.richmenus.writes() == []


async def test_show_menu_never_raises_when_line_refuses(sim, db, line):
    await richmenus.sync(line)
    wrong = LineApi(sim.config.public_base_url, "wrong-token", sim.config.public_base_url)
    try:
        assert not await richmenus.show_menu(wrong, "U" + "2" * 32, linked=True)
        assert not await richmenus.show_menu(wrong, "U" + "2" * 32, linked=False)
    finally:
        await wrong.close()


# The command, as an operator runs it


def sync_env(sim, database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "LINE_CHANNEL_ACCESS_TOKEN": ACCESS_TOKEN,
        "LINE_API_BASE_URL": sim.config.public_base_url,
        "LINE_DATA_API_BASE_URL": sim.config.public_base_url,
    }


async def test_the_richmenu_sync_command_creates_then_changes_nothing(sim, db):
    code, out, err = await run("richmenu", "sync", env=sync_env(sim, db))
    assert code == 0, err
    assert out.startswith("rich menus: unlinked created (richmenu-")
    assert ", linked created (" in out and "default set to the unlinked menu" in out
    assert ", unlinked_en created (" in out and ", linked_en created (" in out
    assert len(sim.richmenus.menus) == 4
    sim.richmenus.calls.clear()

    code, out, err = await run("richmenu", "sync", env=sync_env(sim, db))

    assert code == 0, err
    assert "unlinked unchanged" in out and ", linked unchanged (" in out
    assert "default unchanged, re-linked 0 user(s), deleted 0 old menu(s)" in out
    assert sim.richmenus.writes() == []


async def test_the_richmenu_sync_command_needs_the_access_token(sim, db):
    env = sync_env(sim, db)
    del env["LINE_CHANNEL_ACCESS_TOKEN"]

    code, _, err = await run("richmenu", "sync", env=env)

    assert code == 2
    assert err.strip() == (
        "error: LINE_CHANNEL_ACCESS_TOKEN is not set: export it (see README, configuration)"
    )
    assert sim.richmenus.calls == []


# The data host is part of the configuration contract


def test_the_data_host_defaults_to_lines_and_follows_the_local_platform():
    assert Config().line_data_api_base_url == "https://api-data.line.me"
    config = Config.from_env({"LINE_DATA_API_BASE_URL": "https://data.example/"})
    assert config.line_data_api_base_url == "https://data.example"
    local = Config().on_line_host("http://127.0.0.1:8081")
    assert local.line_data_api_base_url == "http://127.0.0.1:8081"


def test_a_plain_http_data_host_elsewhere_is_refused_by_name():
    config = Config.from_env({"LINE_DATA_API_BASE_URL": "http://api-data.line.me"})
    with pytest.raises(ConfigError, match=r"^LINE_DATA_API_BASE_URL must be an https:// URL"):
        require_https_line_hosts(config)
