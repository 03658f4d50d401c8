"""The English console on a phone (390x844) in a real browser (Debian's Chromium via
Playwright): a maintainer chooses English on their account page, and every page fits without
sideways scrolling (English words are longer than Japanese ones), its buttons stay tap-sized,
and the live tally writes English too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from domain.actors import Actor
from domain.alerts import start_alert
from models import Employee, Template
from tests.browser import database_url, needs_chromium, open_page  # noqa: F401 (fixture)
from tests.conftest import CONSOLE_PASSWORD, make_company, make_console_user, quick_link

pytestmark = needs_chromium
PHONE = {"width": 390, "height": 844}
PAGES = [
    "/console/alerts",
    "/console/alerts/{alert}",
    "/console/alerts/{alert}/unanswered",
    "/console/alerts/{alert}/answers",
    "/console/alerts/{alert}/remind",
    "/console/alerts/{alert}/close",
    "/console/alerts/{alert}/proxy",
    "/console/alerts/new",
    "/console/employees",
    "/console/employees/new",
    "/console/employees/import",
    "/console/codes",
    "/console/admin-groups",
    "/console/jma",
    "/console/jma/offices",
    "/console/users",
    "/console/templates",
    "/console/templates/new",
    "/console/usage",
    "/console/audit",
    "/console/settings",
    "/console/account",
]


@pytest.fixture
async def phone(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A phone-sized browser page; a screenshot is left in tmp_path."""
    async with open_page(tmp_path / f"{request.node.name[:60]}.png", viewport=PHONE) as page:
        yield page


async def fits(page: Any) -> bool:
    """Whether the page is no wider than the window (no sideways scrolling)."""
    width, inner = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return width <= inner


async def test_the_english_console_fits_a_phone(sim, bot, phone):
    company = await make_company(
        {"総務部": [("E1", "山田 太郎"), ("E2", "佐藤 花子")], "営業部": [("E3", "鈴木 一郎")]}
    )
    await Employee.filter(code="E2").update(email="hanako.sato.long.address@example.com")
    await quick_link(sim, company.employees["E1"])
    template = await Template.get(key="earthquake")
    alert = (await start_alert(Actor.cli(), template, drill=True)).alert
    await make_console_user("boss", "maintainer")

    await phone.goto(str(bot.make_url("/console/login")))
    await phone.fill("input[name=login]", "boss")
    await phone.fill("input[name=password]", CONSOLE_PASSWORD)
    await phone.click("button[type=submit]")
    await phone.wait_for_url("**/console/alerts")
    await phone.click("label.nav-button")
    await phone.click("header.top a.who")  # one's own account, beside 「ログアウト」
    await phone.check("input[name=language][value=en]")
    await phone.click("main button[type=submit]")
    await expect(phone.locator("p.notice")).to_have_text("Display language changed.")
    assert await phone.get_attribute("html", "lang") == "en"

    for path in PAGES:
        await phone.goto(str(bot.make_url(path.format(alert=alert.id))))
        assert await phone.get_attribute("html", "lang") == "en", path
        assert await fits(phone), path
        for button in await phone.locator("main button, main a.button, .links a").all():
            if await button.is_visible():
                assert (await button.bounding_box())["height"] >= 44, path
    await phone.click("label.nav-button")
    await expect(phone.locator("header.top nav")).to_contain_text("Safety checks")
    assert await fits(phone)

    # The live tally's own words (written by the script) are English too.
    await phone.goto(str(bot.make_url(f"/console/alerts/{alert.id}")))
    await phone.wait_for_selector("#live:not([hidden])")  # the event stream is open
    await expect(phone.locator("#elapsed")).to_contain_text("Since the start")
    await expect(phone.locator("#people")).to_contain_text("No matching answers.")
    assert phone.problems == []
