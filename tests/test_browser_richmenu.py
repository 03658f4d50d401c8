"""The rich menu on the local LINE chat page, in a real browser (Debian's Chromium via
Playwright): the synced menu's image with its tap areas where the image draws them, and a tap
that reaches the bot as the user's postback."""

from __future__ import annotations

from bot import richmenus
from bot.line_api import LineApi
from bot.richmenu_spec import UNLINKED
from tests.browser import database_url, needs_chromium, page  # noqa: F401 (fixtures)
from tests.conftest import ACCESS_TOKEN, until

pytestmark = needs_chromium


async def test_tapping_help_on_the_menu_posts_back_to_the_bot(sim, bot, page):
    line = LineApi(sim.config.public_base_url, ACCESS_TOKEN, sim.config.public_base_url)
    try:
        await richmenus.sync(line)
    finally:
        await line.close()
    user = sim.add_user("しんにゅう")
    user.friend = True

    await page.goto(f"{sim.config.public_base_url}/_sim/chat/{user.user_id}")
    image = page.locator("#richmenu img")
    await image.wait_for()
    await page.wait_for_function("document.querySelector('#richmenu img').naturalWidth > 0")
    assert await page.text_content("#richmenu summary") == UNLINKED.chat_bar_text

    # Each button covers its area of the image, as the bounds place it.
    shown = await image.bounding_box()
    scale = shown["width"] / UNLINKED.width
    for area in UNLINKED.areas:
        box = await page.locator(f'#richmenu button[aria-label="{area.label}"]').bounding_box()
        assert abs(box["x"] - (shown["x"] + area.bounds.x * scale)) < 2
        assert abs(box["width"] - area.bounds.width * scale) < 2
        assert abs(box["height"] - area.bounds.height * scale) < 2

    await page.click('#richmenu button[aria-label="使い方"]')
    await page.wait_for_url(f"**/_sim/chat/{user.user_id}")

    postback = await until(lambda: [e for e in sim.last_events if e["type"] == "postback"])
    assert postback[0]["postback"]["data"] == "action=help"
    assert postback[0]["source"]["userId"] == user.user_id
    await until(lambda: sim.messages_for(user.user_id))  # the bot answered the tap
    await page.reload()
    assert "使い方" in await page.locator(".bubble.user").first.text_content()
    assert page.problems == []
