"""What the JMA tests share: the sample bulletins, a local JMA feed served on a real port, the
real app pointed at it, and a company with offices in several prefectures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.lifecycle import REQUEST_GRACE
from line_simulator.jma_feed import JmaFeed
from models import AdminGroup, Department, Employee, EmployeeRole, InboxEvent, InboxStatus
from tests.conftest import (
    FAST_ENGINE,
    LIFF_ID,
    bot_config,
    free_port_socket,
    held_port_server,
    quick_link,
    until,
)

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "jma-samples"
if not SAMPLES.is_dir():
    SAMPLES = Path("/work/shared/jma-samples")

IWATE_SOKUHOU = "VXSE51_20210219_real_Iwate_max4.xml"  # 岩手県 4, EventID 20210219181113
IWATE_SHINGEN = "VXSE53_20210219_real_Iwate_max4_3prefs.xml"  # same event, 震源 and M3.9
MIYAGI_SOKUHOU = "VXSE51_20210217_real_Miyagi-Fukushima_max3.xml"  # 宮城・福島 3
MIYAGI_SHINGEN = "VXSE53_20210217_real_6prefs_max3.xml"  # same event, 岩手県 1 too


def sample(name: str) -> bytes:
    """A bulletin from the shared samples (provenance in their README)."""
    return (SAMPLES / name).read_bytes()


def derived(name: str, *replacements: tuple[str, str]) -> bytes:
    """A sample with text replaced, for what no real file shows (a 試験 VXSE51, a 取消 of a
    given event)."""
    text = sample(name).decode("utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return text.encode("utf-8")


IWATE_CANCEL = derived("VXSE51_20220510_jmasample_CANCEL.xml", ("20220509152315", "20210219181113"))


@pytest.fixture
async def feed() -> AsyncIterator[tuple[JmaFeed, str]]:
    """The local JMA feed on a real port, and its feed URL."""
    jma = JmaFeed()
    server = held_port_server(jma.app)
    await server.start_server()
    yield jma, str(server.make_url("/feed.xml"))
    await server.close()


async def start_jma_bot(
    sim: Any, database_url: str, feed_url: str, *, poll: float = 3600.0, jma_worker: bool = True
) -> TestServer:
    """The real app (every worker) with its JMA worker on the local feed, never JMA's; without
    that worker where a test steps a watcher of its own (two pollers would both ask the feed)."""
    listening = free_port_socket()
    config = replace(
        bot_config(sim, database_url, listening.getsockname()[1]),
        jma_feed_url=feed_url,
        jma_poll_seconds=poll,
    )
    if not jma_worker:
        config = replace(config, workers=tuple(w for w in config.workers if w != "jma"))
    server = held_port_server(
        create_app(config, engine_settings=FAST_ENGINE), listening, shutdown_timeout=REQUEST_GRACE
    )
    await server.start_server()
    sim.config.webhook_url = f"{config.public_base_url}/callback"
    sim.config.liff_apps[LIFF_ID] = f"{config.public_base_url}/liff/"
    return server


@pytest.fixture
async def bot(sim: Any, database_url: str, feed: tuple[JmaFeed, str]) -> AsyncIterator[TestServer]:
    """Overrides conftest's `bot`: the JMA worker asks only the local feed (hourly here)."""
    server = await start_jma_bot(sim, database_url, feed[1])
    yield server
    await server.close()


async def arrange_offices(sim: Any) -> dict[str, str]:
    """盛岡支店 (岩手県) with 営業課 below it (no prefecture), 大阪支店 (大阪府) and 本社
    (東京都); everyone linked; 岩手太郎 and 東京一郎 are senders. Return LINE IDs by name."""
    morioka = await Department.create(name="盛岡支店", prefecture="03")
    sales = await Department.create(name="営業課", parent=morioka)
    osaka = await Department.create(name="大阪支店", prefecture="27")
    tokyo = await Department.create(name="本社", prefecture="13")
    people = [
        ("E1", "岩手太郎", morioka, EmployeeRole.SENDER),
        ("E2", "盛岡次郎", sales, EmployeeRole.MEMBER),
        ("E3", "大阪花子", osaka, EmployeeRole.MEMBER),
        ("E4", "東京一郎", tokyo, EmployeeRole.SENDER),
    ]
    users = {}
    for code, name, department, role in people:
        employee = await Employee.create(code=code, name=name, department=department, role=role)
        users[name] = await quick_link(sim, employee, name)
    return users


async def admin_room(sim: Any, users: dict[str, str]) -> str:
    """A LINE group of everyone with the bot in it, bound as an admin group."""
    group = sim.groups.create("防災対策本部", list(users.values()))
    assert await sim.groups.invite_bot(group.group_id) == 200
    await until(lambda: sim.groups.messages(group.group_id))  # the greeting
    await AdminGroup.create(group_id=group.group_id, bound_by="E1")
    return group.group_id


def group_texts(sim: Any, group_id: str) -> list[str]:
    """What the bot said in the group: texts, and a template's text."""
    out = []
    for message in sim.groups.messages(group_id):
        out.append(message.get("text") or message.get("template", {}).get("text", ""))
    return out


def group_button(sim: Any, group_id: str) -> str:
    """The postback data of the newest button the bot put in the group."""
    for message in reversed(sim.groups.messages(group_id)):
        if message["type"] == "template":
            return message["template"]["actions"][0]["data"]
    raise AssertionError("no button in the group")


async def tap(sim: Any, group_id: str, user_id: str, data: str) -> str:
    """A member taps a button; return the bot's reply (the first message after the tap)."""
    before = len(sim.groups.messages(group_id))
    await sim.groups.postback(group_id, user_id, data)
    await until(lambda: len(sim.groups.messages(group_id)) > before)
    await until(lambda: _settled())
    return sim.groups.messages(group_id)[before]["text"]


async def _settled() -> bool:
    return not await InboxEvent.filter(status=InboxStatus.PENDING).exists()
