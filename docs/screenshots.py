"""The README's screenshots, taken in Debian's chromium with Playwright from the demo:

    .venv/bin/python docs/screenshots.py

starts `python -m bot demo --reset` in a temporary directory, walks it as people would (the
LINE chat with its rich menu, the LIFF answer form, the admin group's confirmation card, the
console's alert page with its charts, the printed registration sheet, the employee page),
writes docs/*.png (reduced to a small palette, so they stay small) and stops the demo. The test
suite runs `take` against its own demo (tests/test_screenshots.py)."""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1024, "height": 900}
COLOURS = 64  # the palette of each PNG: crisp text, a small file
SHOTS = (
    "chat.png",
    "liff-form.png",
    "admin-group.png",
    "console-alert.png",
    "registration-sheet.png",
    "employee-page.png",
)
ANSWER = ("無事", "全員無事", "被害なし", "可能")
PASSWORD = "screenshot-walk-2026"  # the employee page's password for the e-mail-only employee


@dataclass(frozen=True)
class Demo:
    """What the demo's banner says, as far as the screenshots need it."""

    bot: str
    answer_url: str
    answerer_id: str
    alert_id: str
    group_url: str
    password: str
    mail_only_code: str

    @classmethod
    def from_banner(cls, banner: str) -> Demo:
        urls = re.findall(r"https?://\S+", banner)
        answer_url = next(u for u in urls if "/_sim/open?" in u)
        return cls(
            bot=next(u for u in urls if u.endswith("/console/")).removesuffix("/console/"),
            answer_url=answer_url,
            answerer_id=parse_qs(urlsplit(answer_url).query)["user"][0],
            alert_id=re.search(r"Answer alert (\d+) as", banner).group(1),
            group_url=next(u for u in urls if "/_sim/group/" in u),
            password=re.search(r"password (\S+)", banner).group(1),
            mail_only_code=re.search(r"\((E\d+), メールのみ", banner).group(1),
        )

    @property
    def sim(self) -> str:
        split = urlsplit(self.answer_url)
        return f"{split.scheme}://{split.netloc}"


def _watch(page, problems: list[str]) -> None:
    """Collect what went wrong on the page: console errors, page errors, 4xx/5xx responses."""
    page.on("console", lambda m: m.type == "error" and problems.append(f"{page.url}: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"{page.url}: {e}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status} {r.url}"))


async def _reload_until(page, selector: str) -> None:
    """Reload a chat page (it does not refresh itself) until `selector` is on it."""
    for _ in range(200):
        if await page.locator(selector).count():
            return
        await page.wait_for_timeout(100)
        await page.reload()
    raise AssertionError(f"{selector} never appeared on {page.url}")


def _shrink(path: Path) -> None:
    """Reduce the PNG to a palette of COLOURS."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert("RGB").quantize(COLOURS, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


async def _shoot(page, path: Path, *, full_page: bool = True) -> None:
    await page.screenshot(path=str(path), full_page=full_page)
    _shrink(path)


async def take(banner: str, out: Path) -> list[str]:
    """Take every screenshot of SHOTS into `out`; the problems the browser reported."""
    from playwright.async_api import async_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    demo = Demo.from_banner(banner)
    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            phone = await browser.new_context(locale="ja-JP", viewport=PHONE)
            desk = await browser.new_context(locale="ja-JP", viewport=DESK)
            page = await phone.new_page()
            _watch(page, problems)

            # The LINE chat of a linked employee, with the drill and the rich menu open.
            await page.goto(f"{demo.sim}/_sim/chat/{demo.answerer_id}")
            if not await page.locator("#richmenu[open]").count():
                await page.click("#richmenu summary")
            await page.wait_for_selector("#richmenu[open] img")
            await _shoot(page, out / "chat.png")

            # The LIFF answer form, filled in; then answered, so the console has an answer.
            await page.goto(demo.answer_url)
            await page.wait_for_selector("#alert:not([hidden])")
            if await page.locator("#edit").is_visible():
                await page.click("#edit")
            for label in ANSWER:
                await page.get_by_label(label, exact=True).check()
            await _shoot(page, out / "liff-form.png")
            await page.click("#submit")
            await page.wait_for_selector("#done:not([hidden])")

            # The admin group: a sender asks for a drill and gets the confirmation card.
            await page.goto(demo.group_url)
            await page.fill("form.composer input[type=text][name=text]", "訓練")
            await page.click("form.composer button:has-text('送信')")
            await _reload_until(page, "button:text-is('実行')")
            await page.locator("button:text-is('実行')").last.scroll_into_view_if_needed()
            await _shoot(page, out / "admin-group.png", full_page=False)

            # The console: the drill's page with its charts, then a printed sheet.
            console = await desk.new_page()
            _watch(console, problems)
            await console.goto(f"{demo.bot}/console/login")
            await console.fill("input[name=login]", "admin")
            await console.fill("input[name=password]", demo.password)
            await console.click("button[type=submit]")
            await console.wait_for_url("**/console/alerts")
            await console.goto(f"{demo.bot}/console/alerts/{demo.alert_id}")
            await console.wait_for_selector("#live:not([hidden])")
            await console.wait_for_selector("canvas.item-chart")
            await _shoot(console, out / "console-alert.png")
            await console.goto(f"{demo.bot}/console/codes")
            await console.fill("#employee_code", demo.mail_only_code)
            await console.click("form:has(#employee_code) button[type=submit]")
            code = (await console.text_content("td.code")).strip()
            await _shoot(console, out / "registration-sheet.png")

            # The employee page, signed in from the sheet.
            await page.goto(f"{demo.bot}/me/")
            await page.wait_for_url("**/me/login")
            await page.fill("#employee_code", demo.mail_only_code)
            await page.fill("#secret", code)
            await page.click("button:has-text('ログイン')")
            if "/me/password" in page.url or await page.locator("#confirm").count():
                await page.fill("#password", PASSWORD)
                await page.fill("#confirm", PASSWORD)
                await page.click("button:has-text('設定する')")
            await page.wait_for_selector("#profile")
            await _shoot(page, out / "employee-page.png")
        finally:
            await browser.close()
    return problems


def main() -> int:
    """Start a fresh demo, take the screenshots into docs/, stop it."""
    sys.path.insert(0, str(ROOT))
    from tests.demo_helpers import DemoProcess
    from tests.processes import demo_port

    with tempfile.TemporaryDirectory() as directory:
        demo = DemoProcess(Path(directory), demo_port())
        demo.start("--reset")
        try:
            problems = asyncio.run(take(demo.banner, DOCS))
        finally:
            demo.stop()
    for problem in problems:
        print(problem, file=sys.stderr)
    sizes = {name: (DOCS / name).stat().st_size for name in SHOTS}
    for name, size in sizes.items():
        print(f"{name}: {size / 1024:.0f} KB")
    print(f"total: {sum(sizes.values()) / 1024:.0f} KB")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
