"""The maintainer's console in a real browser: the 連絡先情報閲覧可 setting shows and hides LINE
display names, a template is edited, the employee CSV downloads, and a supervisor who types
another department's alert URL is refused. No errors in the browser console."""

from __future__ import annotations

from domain.actors import Actor
from domain.alerts import start_alert
from models import Template
from tests.browser import database_url, needs_chromium, page  # noqa: F401 (fixtures)
from tests.conftest import (
    CONSOLE_PASSWORD,
    make_company,
    make_console_user,
    quick_link,
)

pytestmark = needs_chromium


async def sign_in(page, bot, login: str) -> None:
    await page.goto(str(bot.make_url("/console/login")))
    await page.fill("input[name=login]", login)
    await page.fill("input[name=password]", CONSOLE_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/console/alerts")


async def test_the_setting_shows_and_hides_display_names_and_a_template_is_edited(sim, bot, page):
    company = await make_company({"総務部": [("E1", "山田 太郎"), ("E2", "佐藤 花子")]})
    await quick_link(sim, company.employees["E1"], display_name="やまちゃん")
    await make_console_user("admin", "maintainer")
    await sign_in(page, bot, "admin")

    await page.goto(str(bot.make_url("/console/employees")))
    assert "登録済" in await page.content() and "やまちゃん" not in await page.content()

    await page.goto(str(bot.make_url("/console/settings")))
    await page.check("input[name=contact_info_viewable]")
    await page.click("form button[type=submit]:has-text('保存')")
    await page.goto(str(bot.make_url("/console/employees")))
    assert "やまちゃん" in await page.content()

    await page.goto(str(bot.make_url("/console/settings")))
    await page.uncheck("input[name=contact_info_viewable]")
    await page.click("form button[type=submit]:has-text('保存')")
    await page.goto(str(bot.make_url("/console/employees")))
    assert "やまちゃん" not in await page.content()

    async with page.expect_download() as download_info:
        await page.click("a[href$='/employees/export']")
    download = await download_info.value
    content = (await download.path()).read_bytes()
    assert content.startswith(b"\xef\xbb\xbf") and "山田 太郎".encode() in content

    template = await Template.get(key="earthquake")
    await page.goto(str(bot.make_url(f"/console/templates/{template.id}")))
    await page.fill("input[name=title]", "【地震】安否確認(本社)")
    await page.click("form button[type=submit]:has-text('保存')")
    await page.goto(str(bot.make_url("/console/templates")))
    assert "【地震】安否確認(本社)" in await page.content()
    assert (await Template.get(key="earthquake")).title == "【地震】安否確認(本社)"
    assert page.problems == []


async def test_a_supervisor_typing_another_departments_alert_is_refused(sim, bot, page):
    company = await make_company({"総務部": [("E1", "山田")], "営業部": [("E2", "佐藤")]})
    template = await Template.get(key="earthquake")
    eigyo = await start_alert(
        Actor.cli(), template, drill=True, departments=[company.departments["営業部"]]
    )
    await make_console_user("soumu", "supervisor", [company.departments["総務部"]])
    await sign_in(page, bot, "soumu")
    assert f"/console/alerts/{eigyo.alert.id}" not in await page.content()
    response = await page.goto(str(bot.make_url(f"/console/alerts/{eigyo.alert.id}")))
    assert response.status == 403
    assert "権限" in await page.content()
