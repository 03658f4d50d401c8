"""The employee import in a real browser (Debian's Chromium via Playwright): a maintainer
uploads a bad CSV and sees its errors by line and column, then a good one, previews the counts
and confirms, with no errors in the browser console."""

from __future__ import annotations

from models import Employee
from tests.browser import database_url, needs_chromium, page  # noqa: F401 (fixtures)
from tests.conftest import CONSOLE_PASSWORD, make_company, make_console_user

pytestmark = needs_chromium
GOOD = (
    "code,name,department,email,role\r\n"
    "E1,山田 太郎,本社/総務部,,\r\n"
    "E2,佐藤 花子,本社/人事部,,sender\r\n"
)
BAD = "code,name,department,email,role\nE2,佐藤 花子,本社,not-an-address,\nE3,,本社,,\n"


async def choose_and_check(page, tmp_path, name: str, content: bytes) -> None:
    """Open the import page, choose the file and press 確認する."""
    path = tmp_path / name
    path.write_bytes(content)
    await page.click("a:has-text('CSV取り込み')")
    await page.wait_for_url("**/console/employees/import")
    await page.set_input_files("input[name=file]", str(path))
    await page.click("button:has-text('確認する')")


async def test_a_maintainer_imports_a_bad_then_a_good_csv_in_the_browser(sim, bot, page, tmp_path):
    await make_company({"本社": [("E1", "山田 太郎")]})
    await make_console_user("boss", "maintainer")

    await page.goto(str(bot.make_url("/console/login")))
    await page.fill("input[name=login]", "boss")
    await page.fill("input[name=password]", CONSOLE_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/console/alerts")
    await page.click("nav a:has-text('社員・部署')")
    await page.wait_for_url("**/console/employees")

    await choose_and_check(page, tmp_path, "bad.csv", BAD.encode())
    errors = await page.text_content("#errors")
    assert "2行目 email: メールアドレスの形式が正しくありません" in errors
    assert "3行目 name: 氏名は必須です" in errors
    assert await Employee.all().count() == 1

    await page.click("a:has-text('ファイルを選び直す')")
    await page.click("nav a:has-text('社員・部署')")
    await choose_and_check(page, tmp_path, "good.csv", GOOD.encode("cp932"))
    assert await page.text_content("#count-new") == "1"
    assert await page.text_content("#count-updated") == "1"
    assert await Employee.all().count() == 1
    await page.click("button:has-text('取り込む')")
    await page.wait_for_selector("#done")
    assert "新規 1 件" in await page.text_content("#done")
    assert await Employee.filter(code="E2", role="sender").exists()

    await page.click("a:has-text('社員一覧へ')")
    assert "佐藤 花子" in await page.text_content("#employees")
    assert page.problems == []
