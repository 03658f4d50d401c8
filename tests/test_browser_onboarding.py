"""Onboarding from the printed sheet in a real browser (Debian's Chromium via Playwright, phone
sized): a new employee opens the page URL printed with their registration code, signs in,
sets a password, then does the seed's STEP1-4: chooses LINEアプリ, taps LINE ID連携, allows
on the local LINE Login page with 友だち追加 ticked, is back on the page as 登録済, and finds
the completion message in the local LINE chat."""

from __future__ import annotations

import re
from html import unescape

from models import LineAccount
from tests import me_helpers
from tests.browser import database_url, needs_chromium, open_page  # noqa: F401 (fixtures)
from tests.conftest import make_company, make_console_user

pytestmark = needs_chromium
bot = me_helpers.bot  # fixture: the app with LINE Login on
PHONE = {"width": 390, "height": 844}
PASSWORD = "hajimete-no-pass"


async def printed_sheet(console, employee_code: str) -> tuple[str, str, str]:
    """A maintainer prints the registration-code sheet; (page URL, code, sheet HTML)."""
    await make_console_user("boss", "maintainer")
    assert (await console.sign_in("boss")).status == 303
    response = await console.post("/console/codes/issue", {"employee_code": employee_code})
    assert response.status == 200
    html = await response.text()
    url = unescape(re.search(r'<p class="url">([^<]+)</p>', html).group(1))
    code = re.search(r'<td class="code">([^<]+)</td>', html).group(1)
    return url, code, html


async def test_a_new_employee_links_line_from_the_printed_url(sim, bot, console, tmp_path):
    await make_company({"総務部": [("E001", "山田 太郎")]})
    user = sim.add_user("たろう")  # their LINE: not a friend of the official account yet
    url, code, sheet = await printed_sheet(console, "E001")
    assert url == str(bot.make_url("/me/")) and "<svg" in sheet

    async with open_page(tmp_path / "onboarding.png", viewport=PHONE) as page:
        await page.goto(url)
        await page.wait_for_url("**/me/login")
        await page.fill("#employee_code", "E001")
        await page.fill("#secret", code)
        await page.click("button:has-text('ログイン')")
        await page.wait_for_url("**/me/password")
        await page.fill("#password", PASSWORD)
        await page.fill("#confirm", PASSWORD)
        await page.click("button:has-text('設定する')")
        await page.wait_for_url("**/me/?done=password")
        assert "山田 太郎" in await page.text_content("#profile")

        # STEP1: LINEアプリ among the contact media.
        await page.click("#medium-line")
        await page.wait_for_url("**/me/line")
        assert await page.text_content("#line-status") == "未登録"
        # STEP2: LINE ID連携.
        await page.click("#line-link")
        await page.wait_for_url("**/oauth2/v2.1/authorize?**")
        # STEP3: on LINE's page, as this LINE user, with 友だち追加 ticked.
        await page.get_by_label("たろう").check()
        assert await page.is_checked("#add-friend")
        await page.click("#allow")
        await page.wait_for_url("**/me/line?done=linked", timeout=30_000)
        assert await page.text_content("#line-status") == "登録済"
        assert "LINE連携が完了しました" in await page.text_content(".notice")
        # The page's main action now leads back, not to linking another LINE account.
        assert await page.locator("#back-home").is_visible()
        assert not await page.locator("#line-link").is_visible()

        # STEP4: the completion message in LINE.
        await page.goto(f"{sim.config.public_base_url}/_sim/chat/{user.user_id}")
        await page.wait_for_selector("text=LINE連携が完了しました", timeout=30_000)
        assert "友だち追加ありがとうございます" not in await page.content()  # no greeting first
        assert page.problems == []

    account = await LineAccount.get(user_id=user.user_id).select_related("employee")
    assert account.employee.code == "E001" and account.display_name == "たろう"
