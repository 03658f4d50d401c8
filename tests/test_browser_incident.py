"""The incident view on a phone (390x844) in a real browser (Debian's Chromium via
Playwright): the pages fit without sideways scrolling and the menu collapses; who needs help
appears live; reminding and closing ask first; a sender sends with their own words."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect

from domain.actors import Actor
from domain.alerts import close_alert, start_alert
from models import Alert, AlertRound, Employee, Template
from tests.browser import database_url, needs_chromium, open_page  # noqa: F401 (fixture)
from tests.conftest import CONSOLE_PASSWORD, make_company, make_console_user, quick_link

pytestmark = needs_chromium
HURT = {"本人": "重傷", "家族": "一部負傷", "家屋": "全壊", "出社": "不可能"}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
async def phone(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A phone-sized browser page; a screenshot is left in tmp_path."""
    async with open_page(tmp_path / f"{request.node.name[:60]}.png", viewport=PHONE) as page:
        yield page


@pytest.fixture
async def scene(sim, bot) -> dict[str, Any]:
    """本社/総務部 and 本社/営業部 with long names; E1 and E3 have LINE; a drill to all."""
    company = await make_company(
        {
            "本社": [],
            "総務部": [("E1", "山田 太郎"), ("E2", "佐藤 花子")],
            "営業部第一グループ東日本エリア担当": [("E3", "鈴木 一郎")],
        },
        parents={"総務部": "本社", "営業部第一グループ東日本エリア担当": "本社"},
    )
    await Employee.filter(code="E2").update(email="hanako.sato.long.address@example.com")
    users = {
        "E1": await quick_link(sim, company.employees["E1"]),
        "E3": await quick_link(sim, company.employees["E3"]),
    }
    alert = (await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)).alert
    await make_console_user("sender", "sender")
    return {"alert": alert, "users": users}


async def sign_in(page: Any, bot: Any, login: str) -> None:
    await page.goto(str(bot.make_url("/console/login")))
    await page.fill("input[name=login]", login)
    await page.fill("input[name=password]", CONSOLE_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/console/alerts")


async def fits(page: Any) -> bool:
    """Whether the page is no wider than the window (no sideways scrolling)."""
    width, inner = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return width <= inner


async def answer(bot: Any, sim: Any, user_id: str, alert_id: int, message: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            bot.make_url(f"/liff/api/alerts/{alert_id}/answer"),
            headers={"Authorization": f"Bearer {sim.issue_id_token(user_id)}"},
            json={"choices": HURT, "message": message},
        ) as response,
    ):
        assert response.status == 200


async def test_the_incident_pages_fit_a_phone_and_the_menu_collapses(sim, bot, scene, phone):
    alert = scene["alert"]
    await answer(bot, sim, scene["users"]["E3"], alert.id, "自宅が全壊しました" * 5)
    await sign_in(phone, bot, "sender")

    assert await fits(phone)
    assert not await phone.locator("header.top nav").is_visible()  # collapsed
    await phone.click("label.nav-button")
    await expect(phone.locator("header.top nav")).to_be_visible()
    box = await phone.locator("header.top nav a").first.bounding_box()
    assert box["height"] >= 44

    for path in ["", "/unanswered", "/answers", "/remind", "/close", "/proxy"]:
        await phone.goto(str(bot.make_url(f"/console/alerts/{alert.id}{path}")))
        assert await fits(phone), path
        targets = "main button, main a.button, .links a, #unanswered td a, label.choice-option"
        for button in await phone.locator(targets).all():
            if await button.is_visible():
                assert (await button.bounding_box())["height"] >= 44, path
    await phone.goto(str(bot.make_url(f"/console/alerts/{alert.id}")))
    await expect(phone.locator("#departments")).to_contain_text("本社 計")
    assert phone.problems == []


async def test_who_needs_help_appears_live_on_a_phone(sim, bot, scene, phone):
    alert = scene["alert"]
    await sign_in(phone, bot, "sender")
    await phone.goto(str(bot.make_url(f"/console/alerts/{alert.id}")))
    await phone.wait_for_selector("#live:not([hidden])")  # the event stream is open
    await expect(phone.locator("#people")).to_contain_text("該当する回答はありません")

    await answer(bot, sim, scene["users"]["E1"], alert.id, "足を骨折しました")

    await expect(phone.locator("#people")).to_contain_text("山田 太郎")
    await expect(phone.locator("#people")).to_contain_text("足を骨折しました")
    await expect(phone.locator("#people-count")).to_have_text("1")
    await expect(phone.locator("#rate")).to_have_text("33.3")
    assert await fits(phone)
    assert phone.problems == []


async def test_reminding_and_closing_each_ask_first_and_closing_ends_the_live_view(
    sim, bot, scene, phone
):
    alert = scene["alert"]
    await sign_in(phone, bot, "sender")
    await phone.goto(str(bot.make_url(f"/console/alerts/{alert.id}")))
    await phone.wait_for_selector("#live:not([hidden])")

    await phone.click("#remind-link")
    await expect(phone.locator("#remind-count")).to_have_text("3")
    assert not await AlertRound.exists()
    await phone.fill("#remind-message", "至急回答してください")
    await phone.click("#remind-confirm")
    await expect(phone.locator("p.notice")).to_contain_text("再通知しました")
    assert (await AlertRound.get()).message == "至急回答してください"

    await phone.click("#close-link")
    await expect(phone.locator("h1")).to_have_text("終了の確認")
    assert not (await Alert.get(id=alert.id)).is_closed
    await phone.click("#close-confirm")
    await expect(phone.locator("p.notice")).to_contain_text("終了しました")
    assert (await Alert.get(id=alert.id)).is_closed
    assert "自動更新中" not in await phone.inner_text("main")
    assert await phone.locator("#live").count() == 0
    assert phone.problems == []


async def test_a_sender_sends_with_their_own_title_and_message_from_a_phone(sim, bot, scene, phone):
    await sign_in(phone, bot, "sender")
    await phone.goto(str(bot.make_url("/console/alerts/new")))
    assert await fits(phone)
    await phone.click("main button[type=submit]")  # 確認へ進む: a drill to everyone
    await expect(phone.locator("#confirm-title")).to_have_text("【訓練】【地震】安否確認")
    await phone.fill("#edit-title", "本社ビル火災")
    await phone.fill("#edit-message", "階段で避難してください。")
    await phone.click("#confirm-again")
    await expect(phone.locator("#confirm-title")).to_have_text("【訓練】本社ビル火災")
    await expect(phone.locator("#confirm-message")).to_have_text("階段で避難してください。")
    assert await fits(phone)

    await phone.click("#confirm-send")

    await expect(phone.locator("p.notice")).to_contain_text("発信しました")
    await expect(phone.locator("h1")).to_contain_text("【訓練】本社ビル火災")
    started = await Alert.filter(title="本社ビル火災").get()
    assert started.message == "階段で避難してください。"
    assert phone.problems == []


async def test_an_open_page_stops_saying_it_updates_when_someone_else_closes_the_alert(
    sim, bot, scene, phone
):
    alert = scene["alert"]
    await sign_in(phone, bot, "sender")
    await phone.goto(str(bot.make_url(f"/console/alerts/{alert.id}")))
    await phone.wait_for_selector("#live:not([hidden])")

    await close_alert(Actor.console("someone"), alert.id)

    await expect(phone.locator("#live")).to_be_hidden()
    await expect(phone.locator("#live-closed")).to_have_text("(終了しました)")
    assert phone.problems == []
