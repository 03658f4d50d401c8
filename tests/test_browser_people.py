"""The maintainer's people pages in a real browser (Debian's Chromium via Playwright): adding
one employee, then adding a console user limited to a department and disabling another, with
no errors in the browser console."""

from __future__ import annotations

from models import ConsoleRole, ConsoleUser, Employee
from tests.browser import database_url, needs_chromium, page  # noqa: F401 (fixtures)
from tests.conftest import CONSOLE_PASSWORD, make_company, make_console_user

pytestmark = needs_chromium


async def test_a_maintainer_adds_an_employee_and_manages_console_users(sim, bot, page):
    company = await make_company(
        {"本社": [("E1", "山田 太郎")], "営業部": []}, parents={"営業部": "本社"}
    )
    await make_console_user("boss", "maintainer")
    await make_console_user("soumu", "supervisor", [company.departments["本社"]])

    await page.goto(str(bot.make_url("/console/login")))
    await page.fill("input[name=login]", "boss")
    await page.fill("input[name=password]", CONSOLE_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/console/alerts")

    await page.click("nav a:has-text('社員・部署')")
    await page.click("a:has-text('社員を追加')")
    await page.fill("#code", "E2")
    await page.fill("#name", "佐藤 花子")
    await page.fill("#department", "本社/営業部")
    await page.fill("#email", "sato@example.com")
    await page.fill("#phone", "090-1234-5678")
    await page.click("button:has-text('登録')")
    await page.wait_for_url("**/console/employees?added=E2")
    assert "佐藤 花子" in await page.text_content("#employees")
    assert await Employee.exists(code="E2", phone="090-1234-5678")

    await page.click("nav a:has-text('ユーザー')")
    await page.wait_for_url("**/console/users")
    await page.fill("#login", "eigyo")
    await page.fill("#new-name", "営業の発信者")
    await page.select_option("#new-role", "sender")
    await page.check("form[action$='/users'] label:has-text('本社/営業部') input")
    await page.fill("#new-password", "a long enough password")
    await page.click("button:has-text('追加')")
    await page.wait_for_url("**/console/users?done=added")
    added = await ConsoleUser.get(login="eigyo")
    assert added.role is ConsoleRole.SENDER
    assert [d.name for d in await added.departments.all()] == ["営業部"]

    await page.click("#user-soumu summary")
    await page.click("#user-soumu button:has-text('無効にする')")
    await page.wait_for_url("**/console/users?done=disabled")
    assert not (await ConsoleUser.get(login="soumu")).active
    assert page.problems == []
