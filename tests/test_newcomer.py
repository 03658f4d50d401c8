"""A newcomer evaluates Anpi from what `make demo` prints, in a real browser: opens the local
LINE, links an employee who has no LINE yet with the printed registration code, starts a drill
from the admin group's chat, answers it in Japanese, and watches the console's tally move. Then
what a restart keeps (the demo's data between runs, Ctrl-C saving the local LINE platform's
chats) and what `--reset` forgets."""

from __future__ import annotations

import re

import aiohttp
from playwright.async_api import expect

from tests.browser import needs_chromium, open_page
from tests.conftest import until
from tests.demo_helpers import DemoProcess

PHONE = {"width": 390, "height": 844}


async def sign_in_to_console(page, demo: DemoProcess) -> None:
    """The printed console URL, signed in as the printed maintainer."""
    await page.goto(demo.url("/console/"))
    await page.fill("input[name=login]", "admin")
    await page.fill("input[name=password]", demo.password)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/console/alerts")


def watched(page):
    """A second page of the same browser, its problems collected as open_page does."""
    page.problems = []
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.on("response", lambda r: r.status >= 400 and page.problems.append(f"{r.status} {r.url}"))
    return page


async def reload_until(page, selector: str) -> None:
    """Reload a chat page (it does not refresh itself) until `selector` is on it: the bot
    answers through its webhook inbox, a moment after the post."""
    for _ in range(200):
        if await page.locator(selector).count():
            return
        await page.wait_for_timeout(100)
        await page.reload()
    raise AssertionError(f"{selector} never appeared on {page.url}")


@needs_chromium
async def test_a_newcomer_links_starts_a_drill_answers_and_sees_the_tally_move(
    running_demo: DemoProcess, tmp_path
):
    demo = running_demo
    employee_code, employee_name, registration_code = demo.link_code()
    newcomer = re.search(r"LINE ユーザー「(.+?)」として開き", demo.banner).group(1)

    async with open_page(tmp_path / "newcomer.png", viewport=PHONE) as page:
        # The local LINE, from the first printed URL: the newcomer's chat greets them.
        await page.goto(demo.url(f":{demo.port + 1}/"))
        await page.click(f"tr:has(td:text-is('{newcomer}')) >> text=トークを開く")
        await page.wait_for_selector("text=友だち追加ありがとうございます")
        chat_url = page.url

        # Link with the printed code: 連携 in chat, then the link page the bot answers with.
        await page.locator("button:text-is('LINE連携する')").first.click()
        await reload_until(page, "a:text-is('連携を開始する')")
        await page.locator("a:text-is('連携を開始する')").last.click()
        await page.fill("#employee_code", employee_code)
        await page.fill("#registration_code", registration_code)
        await page.click("button:has-text('連携する')")
        await page.wait_for_selector("text=連携が完了しました")
        await page.goto(chat_url)  # LINE says whom the account now belongs to
        await reload_until(page, f"text=LINE連携が完了しました。{employee_name}さん")

        # A drill from the admin group, as its first sender: 訓練, then 実行 on the card.
        await page.goto(demo.url("/_sim/group/"))
        await page.fill("form.composer input[type=text][name=text]", "訓練")
        await page.click("form.composer button:has-text('送信')")
        await reload_until(page, "button:text-is('実行')")
        await page.locator("button:text-is('実行')").last.click()
        await reload_until(page, "text=を開始しました")
        started = await page.locator("text=を開始しました").last.text_content()
        alert_id = re.search(r"連絡 #(\d+) を開始しました", started).group(1)

        # The console shows the new drill at 0 answers.
        console = watched(await page.context.new_page())
        await sign_in_to_console(console, demo)
        await console.click(f"a[href='/console/alerts/{alert_id}']")
        await console.wait_for_selector("#live:not([hidden])")  # the event stream is open
        answered = int(await console.text_content("#answered"))

        # The newcomer answers in Japanese from the drill in their chat.
        await page.goto(chat_url)
        await reload_until(page, "a:text-is('回答')")
        await page.locator("a:text-is('回答')").last.click()
        await page.wait_for_selector("#alert:not([hidden])")
        assert "【訓練】" in await page.text_content("#title")
        for label in ["無事", "全員無事", "被害なし", "可能"]:
            await page.get_by_label(label, exact=True).check()
        await page.fill("#message", "問題ありません。")
        await page.click("#submit")
        await page.wait_for_selector("#done:not([hidden])")
        assert await page.text_content("#status") == "回答済"

        # The console's tally moves by itself.
        await expect(console.locator("#answered")).to_have_text(str(answered + 1))
        assert page.problems == [], page.problems
        assert console.problems == [], console.problems

        # In English: the newcomer chooses English on the employee page (the printed code
        # signs them in there too: linking in chat did not spend it for that page) and
        # answers the English form of the same drill: a new revision, the same person answered.
        await page.goto(demo.url("/me/"))
        await page.fill("#employee_code", employee_code)
        await page.fill("#secret", registration_code)
        await page.click("button:has-text('ログイン')")
        await page.fill("#password", "newcomer-pass-2026")
        await page.fill("#confirm", "newcomer-pass-2026")
        await page.click("button:has-text('設定する')")
        await page.select_option("#language-select", "en")
        await page.click("#language button[type=submit]")
        await page.goto(chat_url)
        await page.locator("a:text-is('回答')").last.click()  # the form now speaks English
        await page.wait_for_selector("#alert:not([hidden])")
        assert "[Drill]" in await page.text_content("#title")
        if await page.locator("#edit").is_visible():
            await page.click("#edit")
        for label in ["Safe", "All safe", "No damage", "Yes"]:
            await page.get_by_label(label, exact=True).check()
        await page.click("#submit")
        await page.wait_for_selector("#done:not([hidden])")
        await expect(console.locator("#answered")).to_have_text(str(answered + 1))
        assert page.problems == [] and console.problems == []


async def test_the_demo_keeps_its_data_between_runs_and_reset_starts_over(
    running_demo: DemoProcess,
):
    demo = running_demo
    # A fresh banner (fresh codes: another test may have spent the printed ones).
    assert demo.stop() == 0
    assert "Resumed from .demo/" in demo.start()
    employee_code, _, registration_code = demo.link_code()
    newcomer_chat = demo.url("/_sim/chat/")
    mail_link = demo.url("/liff/answer/")  # the e-mail-only employee's, signed by this run
    alerts_before = len(re.findall(r"href=\"/console/alerts/\d+\"", await _alerts_page(demo)))

    # Link the printed employee (as the link page does) and say something in a chat.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        link_url = demo.url("/link?linkToken=")
        async with session.get(link_url) as response:
            html = await response.text()
        form = {
            "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1),
            "linkToken": re.search(r'name="linkToken" value="([^"]+)"', html).group(1),
            "employee_code": employee_code,
            "registration_code": registration_code,
        }
        async with session.post(link_url.split("?")[0], data=form) as response:
            assert "連携が完了しました" in await response.text()
        async with session.post(f"{newcomer_chat}/send", data={"text": "覚えていますか"}) as r:
            assert r.status == 200

        async def linked() -> bool:  # LINE's event is handled after the page: then the bot says
            async with session.get(newcomer_chat) as chat:
                return "LINE連携が完了しました" in await chat.text()

        await until(linked, within=30)

    # Ctrl-C, and start again: the same company, chats, log-ins; the linked one stays linked.
    assert demo.stop() == 0
    printed = demo.start()
    assert "Resumed from .demo/" in printed and "was sent to" not in printed
    assert f"社員番号 {employee_code} " not in demo.banner  # linked: another one is offered
    assert demo.link_code()[0] != employee_code
    async with aiohttp.ClientSession() as session, session.get(newcomer_chat) as response:
        assert "覚えていますか" in await response.text()
    assert len(re.findall(r"href=\"/console/alerts/\d+\"", await _alerts_page(demo))) == (
        alerts_before
    )
    # What the last run signed still holds: its secret is kept in .demo/, for its owner only.
    async with aiohttp.ClientSession() as session, session.get(mail_link) as response:
        assert response.status == 200, await response.text()
    assert (demo.cwd / ".demo" / "secret_key").stat().st_mode & 0o777 == 0o600

    # --reset starts over: a fresh company, the first unlinked employee offered again.
    assert demo.stop() == 0
    printed = demo.start("--reset")
    assert "A drill (訓練) was sent to 30 employees" in printed
    assert demo.link_code()[0] == "E027"
    async with aiohttp.ClientSession() as session, session.get(demo.url("/_sim/chat/")) as r:
        assert "覚えていますか" not in await r.text()


async def _alerts_page(demo: DemoProcess) -> str:
    """The console's alert list, signed in as the printed maintainer."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(demo.url("/console/")) as response:
            html = await response.text()
        form = {
            "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1),
            "login": "admin",
            "password": demo.password,
        }
        async with session.post(demo.url("/console/") + "login", data=form) as response:
            assert response.status == 200
            return await response.text()
