"""The employee import's preview names what it will do: each new, changed (field by field)
and retired employee, and the departments it will create; an error shows the row it is on;
the upload form shows the Japanese headers and role words it accepts."""

from __future__ import annotations

import io

import pytest

from domain.actors import Actor
from domain.employees import export_csv, import_employees, preview_import
from tests.conftest import make_company, make_console_user

CLI = Actor.cli()


@pytest.fixture
async def company(bot):
    company = await make_company(
        {
            "本社": [],
            "総務部": [("E1", "山田 太郎"), ("E2", "佐藤 花子")],
            "営業部": [("E3", "鈴木")],
        },
        parents={"総務部": "本社", "営業部": "本社"},
    )
    await make_console_user("boss", "maintainer")
    return company


CHANGED = (
    "社員番号,氏名,部署,メールアドレス,役割,有効\n"
    "E1,山田 太郎,本社/総務部,,,\n"  # unchanged
    "E2,佐藤 花子,本社/営業部,sato@example.com,発信権限者,\n"  # department, e-mail, role
    "E9,高橋 次郎,本社/広報部/第一課,,一般,1\n"  # new, in two new departments
)


async def test_the_preview_lists_new_changed_and_retired_rows_and_new_departments(company):
    summary = await preview_import(CHANGED.encode(), deactivate_missing=True)

    assert (summary.new, summary.updated, summary.unchanged, summary.deactivated) == (1, 1, 1, 1)
    by_code = {c.code: c for c in summary.changes}
    assert set(by_code) == {"E2", "E9", "E3"}
    assert (by_code["E9"].kind, by_code["E9"].line) == ("new", 4)
    assert by_code["E2"].kind == "changed" and by_code["E2"].changes == (
        ("部署", "本社/総務部", "本社/営業部"),
        ("メールアドレス", "", "sato@example.com"),
        ("役割", "一般", "発信権限者"),
    )
    assert (by_code["E3"].kind, by_code["E3"].line) == ("deactivated", 0)
    assert summary.new_departments == ["本社/広報部", "本社/広報部/第一課"]


async def test_an_export_reimports_unchanged_with_its_active_column(company):
    await import_employees(CHANGED.encode(), actor=CLI, deactivate_missing=True)
    exported = await export_csv(actor=CLI)
    assert exported.decode("utf-8-sig").splitlines()[0] == "code,name,department,email,role,active"

    summary = await preview_import(exported, deactivate_missing=True)

    assert summary.valid and summary.changes == [] and summary.new_departments == []
    assert summary.unchanged == 4  # E3 stays retired: its row says active 0


async def upload(console, data: bytes) -> str:
    async with console.session.post(
        console.url("/console/employees/import"),
        data={"file": io.BytesIO(data), "csrf_token": await console.csrf()},
    ) as response:
        assert response.status == 200
        return await response.text()


async def test_the_console_preview_shows_each_change_and_warns_of_new_departments(console, company):
    await console.sign_in("boss")
    html = await upload(console, CHANGED.encode("cp932"))

    assert 'id="new-departments"' in html and "本社/広報部/第一課" in html
    assert 'class="change-new"' in html and "高橋 次郎" in html
    assert "部署: 本社/総務部 → 本社/営業部" in html
    assert "役割: 一般 → 発信権限者" in html
    assert "メールアドレス: (なし) → sato@example.com" in html


async def test_the_console_preview_lists_the_prefectures_it_sets(console, company):
    await console.sign_in("boss")
    offices = "社員番号,氏名,部署,メールアドレス,役割,都道府県\nE1,山田 太郎,本社/総務部,,,石川県\n"

    html = await upload(console, offices.encode())

    assert 'id="prefectures"' in html and "本社/総務部: なし → 石川県" in html


async def test_an_error_shows_the_row_it_is_on(console, company):
    await console.sign_in("boss")
    bad = "code,name,department,email,role\nE9,高橋,本社,,\nE10,田中,本社,not-mail,boss\n"
    html = await upload(console, bad.encode())

    assert "3行目 email: メールアドレスの形式が正しくありません" in html
    assert "3行目 role: 役割は" in html
    assert '<code class="row">E10,田中,本社,not-mail,boss</code>' in html


async def test_the_upload_form_shows_the_headers_and_words_it_accepts(console, company):
    await console.sign_in("boss")
    _, html = await console.get("/console/employees/import")
    for word in (
        "社員番号",
        "氏名",
        "部署",
        "メールアドレス",
        "役割",
        "有効",
        "発信権限者",
        "一般",
        "都道府県",
    ):
        assert f"<code>{word}</code>" in html
