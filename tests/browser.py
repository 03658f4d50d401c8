"""Browser tests' shared part: Debian's Chromium driven by Playwright (it never downloads a
browser here), with what went wrong on the page collected in `page.problems`."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"
)
# As the machine's own probe starts it: no sandbox as root, and nothing reaching the network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@asynccontextmanager
async def open_page(screenshot: Path, **context_options: Any) -> AsyncIterator[Any]:
    """A fresh browser page; console errors, page errors and 4xx/5xx responses are collected
    in `page.problems`, and a screenshot is left at `screenshot` for a person to look at."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context_options.setdefault("locale", "ja-JP")
        context = await browser.new_context(**context_options)
        page = await context.new_page()
        page.problems = []
        page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
        page.on("pageerror", lambda e: page.problems.append(str(e)))
        page.on(
            "response", lambda r: r.status >= 400 and page.problems.append(f"{r.status} {r.url}")
        )
        try:
            yield page
            await page.screenshot(path=str(screenshot), full_page=True)
        finally:
            await browser.close()


@pytest.fixture
async def database_url(tmp_path: Path) -> str:
    """Browser tests use one kind of database: the browser proves the page, not the SQL."""
    from tests.conftest import fresh_sqlite

    return await fresh_sqlite(tmp_path)


@pytest.fixture
async def page(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A browser page (phone-sized for the LIFF form); a screenshot is left in tmp_path."""
    options: dict[str, Any] = (
        {"viewport": {"width": 390, "height": 844}} if "liff" in request.keywords else {}
    )
    locale = request.node.get_closest_marker("browser_locale")
    if locale is not None:
        options["locale"] = locale.args[0]
    async with open_page(tmp_path / f"{request.node.name[:60]}.png", **options) as page:
        yield page
