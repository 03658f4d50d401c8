"""Loading the company from CSV: encodings, validation named by line and column, all or
nothing, re-imports by employee code, deactivating the missing only when asked, export, and
the same through `python -m bot employees`."""

from __future__ import annotations

import pytest

from domain.actors import Actor
from domain.employees import ImportInvalid, export_csv, import_employees, preview_import
from domain.errors import Invalid
from models import AuditEntry, Department, Employee, EmployeeRole
from tests.test_cli import run

CLI = Actor.cli()
HEADER = "code,name,department,email,role\n"
GOOD = (
    HEADER
    + "E001,山田 太郎,本社/総務部,yamada@example.com,sender\n"
    + "E002,佐藤 花子,本社/総務部,,member\n"
    + "E003,鈴木 一郎,本社/営業部/第一課,suzuki@example.com,\n"
)


async def department_path(employee: Employee) -> str:
    """The employee's department as a path."""
    parts: list[str] = []
    department = await Department.get_or_none(id=employee.department_id)
    while department is not None:
        parts.append(department.name)
        department = await Department.get_or_none(id=department.parent_id)
    return "/".join(reversed(parts))


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode("utf-8"),
        lambda text: b"\xef\xbb\xbf" + text.encode("utf-8"),
        lambda text: text.replace("\n", "\r\n").encode("cp932"),
    ],
    ids=["utf-8", "utf-8-bom", "shift_jis"],
)
async def test_a_file_in_any_excel_encoding_loads_the_company(db, encode):
    summary = await import_employees(encode(GOOD), actor=CLI)
    assert (summary.new, summary.updated, summary.unchanged) == (3, 0, 0)
    yamada = await Employee.get(code="E001")
    assert yamada.name == "山田 太郎" and yamada.email == "yamada@example.com"
    assert yamada.role is EmployeeRole.SENDER and yamada.active
    assert await department_path(yamada) == "本社/総務部"
    suzuki = await Employee.get(code="E003")
    assert await department_path(suzuki) == "本社/営業部/第一課"
    assert suzuki.role is EmployeeRole.MEMBER and suzuki.email == "suzuki@example.com"
    assert (await Employee.get(code="E002")).email is None
    assert await Department.filter(name="本社").count() == 1  # created once, shared


@pytest.mark.parametrize(
    "data",
    [
        "code,name,department,email,role\nE1,山田,本社,,\n".encode("utf-16"),
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        b"code,name,department,email,role\nE1,\xff\xfe\xfd\xfc\xfb,,,\n",
    ],
    ids=["utf-16", "binary", "undecodable"],
)
async def test_a_file_in_another_encoding_is_refused_and_nothing_written(db, data):
    with pytest.raises(Invalid) as refused:
        await import_employees(data, actor=CLI)
    assert "文字コード" in refused.value.message
    assert await Employee.all().count() == 0


async def test_every_bad_row_is_named_by_line_and_column_and_nothing_is_written(db):
    data = (
        HEADER
        + "E001,山田,本社/総務部,yamada@example.com,\n"
        + "E002,佐藤,本社/総務部,not-an-email,\n"
        + ",鈴木,本社,,\n"
        + "E004,,本社//総務部,,boss\n"
        + "E001,田中,本社,,\n"
    ).encode()
    with pytest.raises(ImportInvalid) as refused:
        await import_employees(data, actor=CLI)
    messages = [str(error) for error in refused.value.errors]
    assert "3行目 email: メールアドレスの形式が正しくありません" in messages
    assert "4行目 code: 社員番号は必須です" in messages
    assert "5行目 name: 氏名は必須です" in messages
    assert any(m.startswith("5行目 department:") for m in messages)
    assert any(m.startswith("5行目 role:") for m in messages)
    assert "6行目 code: 社員番号 E001 が2行目と重複しています" in messages
    assert await Employee.all().count() == 0
    assert await Department.all().count() == 0
    preview = await preview_import(data)
    assert not preview.valid and len(preview.errors) == len(messages)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("code,name,email\nE1,山田,\n", "1行目: 見出し行に列がありません: department, role"),
        ("", "1行目: 見出し行がありません(code,name,department,email,role)"),
        (HEADER + f"{'E' * 33},山田,,,\n", "2行目 code: 社員番号は32文字以内にしてください"),
        (HEADER + f"E1,{'名' * 101},,,\n", "2行目 name: 氏名は100文字以内にしてください"),
    ],
    ids=["missing-columns", "empty", "long-code", "long-name"],
)
async def test_headers_and_lengths_are_checked(db, text, expected):
    with pytest.raises(ImportInvalid) as refused:
        await import_employees(text.encode(), actor=CLI)
    assert expected in [str(e) for e in refused.value.errors]


async def test_a_reimport_updates_by_code_and_deactivates_nobody_unless_asked(db):
    await import_employees(GOOD.encode(), actor=CLI)
    changed = (
        HEADER
        + "E001,山田 太郎,本社/総務部,yamada@example.com,sender\n"
        + "E002,佐藤 花子,本社/人事部,hanako@example.com,member\n"
        + "E004,高橋 次郎,本社/人事部,,\n"
    ).encode()
    preview = await preview_import(changed)
    assert (preview.new, preview.updated, preview.unchanged, preview.deactivated) == (1, 1, 1, 0)
    assert await Employee.all().count() == 3  # a preview writes nothing

    summary = await import_employees(changed, actor=CLI)
    assert (summary.new, summary.updated, summary.unchanged) == (1, 1, 1)
    sato = await Employee.get(code="E002")
    assert sato.email == "hanako@example.com" and await department_path(sato) == "本社/人事部"
    assert (await Employee.get(code="E003")).active  # not in the file, still active

    summary = await import_employees(changed, deactivate_missing=True, actor=CLI)
    assert (summary.unchanged, summary.deactivated) == (3, 1)
    assert not (await Employee.get(code="E003")).active
    assert await Employee.filter(active=True).count() == 3


async def test_export_writes_the_import_format_with_a_bom_and_reimports_unchanged(db):
    await import_employees(GOOD.encode(), actor=CLI)
    await Employee.filter(code="E002").update(active=False)
    data = await export_csv(actor=CLI)
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0] == "code,name,department,email,role,active"
    assert "E001,山田 太郎,本社/総務部,yamada@example.com,sender,1" in lines
    assert "E002,佐藤 花子,本社/総務部,,member,0" in lines
    summary = await import_employees(data, actor=CLI)
    assert (summary.new, summary.updated, summary.unchanged) == (0, 0, 3)


async def test_cli_imports_a_shift_jis_file_and_prints_the_counts(db, tmp_path):
    path = tmp_path / "employees.csv"
    path.write_bytes(GOOD.replace("\n", "\r\n").encode("cp932"))
    code, out, err = await run("employees", "import", str(path), "--dry-run",
                               env={"DATABASE_URL": db})  # fmt: skip
    assert code == 0, err
    assert "dry run (nothing written): new 3, updated 0, unchanged 0, deactivated 0" in out
    assert await Employee.all().count() == 0

    code, out, err = await run("employees", "import", str(path), env={"DATABASE_URL": db})
    assert code == 0, err
    assert "imported: new 3, updated 0, unchanged 0, deactivated 0" in out
    assert await Employee.all().count() == 3
    assert await AuditEntry.filter(via="cli", action="employees_import").exists()


async def test_cli_prints_every_error_and_exits_2_writing_nothing(db, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "E1,山田,本社,bad-address,\nE2,,本社,,\n", encoding="utf-8")
    code, _, err = await run("employees", "import", str(path), env={"DATABASE_URL": db})
    assert code == 2
    assert "2行目 email: メールアドレスの形式が正しくありません" in err
    assert "3行目 name: 氏名は必須です" in err
    assert "nothing imported" in err
    assert await Employee.all().count() == 0


async def test_cli_deactivates_missing_only_when_asked_and_exports(db, tmp_path):
    await import_employees(GOOD.encode(), actor=CLI)
    path = tmp_path / "one.csv"
    path.write_text(HEADER + "E001,山田 太郎,本社/総務部,yamada@example.com,sender\n")
    code, _, err = await run("employees", "import", str(path), env={"DATABASE_URL": db})
    assert code == 0, err
    assert await Employee.filter(active=True).count() == 3
    code, out, err = await run("employees", "import", str(path), "--deactivate-missing",
                               env={"DATABASE_URL": db})  # fmt: skip
    assert code == 0, err
    assert "deactivated 2" in out
    assert await Employee.filter(active=True).count() == 1

    target = tmp_path / "out.csv"
    code, _, err = await run("employees", "export", str(target), env={"DATABASE_URL": db})
    assert code == 0, err
    exported = target.read_bytes()
    assert exported.startswith(b"\xef\xbb\xbf")
    assert "E003,鈴木 一郎,本社/営業部/第一課,suzuki@example.com,member,0" in exported.decode(
        "utf-8-sig"
    )
    assert await AuditEntry.filter(via="cli", action="employees_export").exists()


async def test_a_phone_column_is_imported_exported_and_kept_when_a_file_has_none(db):
    with_phones = (
        "社員番号,氏名,部署,メールアドレス,役割,電話番号\nE001,山田 太郎,総務部,,,090-1234-5678\n"
    )
    summary = await import_employees(with_phones.encode(), actor=CLI)
    assert summary.new == 1
    assert (await Employee.get(code="E001")).phone == "090-1234-5678"
    data = await export_csv(actor=CLI)
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0] == "code,name,department,email,role,active,phone"
    assert "E001,山田 太郎,総務部,,member,1,090-1234-5678" in lines
    assert (await import_employees(data, actor=CLI)).unchanged == 1

    without = "code,name,department,email,role\nE001,山田 太郎,総務部,,\n"
    assert (await import_employees(without.encode(), actor=CLI)).unchanged == 1
    assert (await Employee.get(code="E001")).phone == "090-1234-5678"  # kept


async def test_a_phone_that_is_not_a_number_is_named_by_line(db):
    bad = "code,name,department,email,role,phone\nE001,山田,総務部,,,=cmd|x\n"
    with pytest.raises(ImportInvalid) as raised:
        await import_employees(bad.encode(), actor=CLI)
    assert any(e.line == 2 and e.column == "phone" for e in raised.value.errors)


async def test_cli_export_prints_department_prefectures_and_reimports_them(db, tmp_path):
    with_offices = (
        "社員番号,氏名,部署,メールアドレス,役割,都道府県\n"
        "E001,山田 太郎,本社/総務部,,,東京都\n"
        "E002,佐藤 花子,本社/総務部,,,13\n"  # a JMA code names the same prefecture
        "E003,鈴木 一郎,盛岡支店,,,岩手県\n"
        "E004,田中 次郎,盛岡支店/営業課,,,\n"  # empty: 営業課 keeps none
    )
    preview = await preview_import(with_offices.encode())
    assert preview.prefectures == ["本社/総務部: なし → 東京都", "盛岡支店: なし → 岩手県"]
    await import_employees(with_offices.encode(), actor=CLI)
    assert (await Department.get(name="総務部")).prefecture == "13"
    assert (await Department.get(name="盛岡支店")).prefecture == "03"
    assert (await Department.get(name="本社")).prefecture is None  # only the path's last part
    assert (await Department.get(name="営業課")).prefecture is None

    target = tmp_path / "out.csv"
    code, _, err = await run("employees", "export", str(target), env={"DATABASE_URL": db})
    assert code == 0, err
    lines = target.read_bytes().decode("utf-8-sig").splitlines()
    assert lines[0] == "code,name,department,email,role,active,prefecture"
    assert "E001,山田 太郎,本社/総務部,,member,1,東京都" in lines
    assert "E003,鈴木 一郎,盛岡支店,,member,1,岩手県" in lines
    assert "E004,田中 次郎,盛岡支店/営業課,,member,1," in lines

    await Department.filter(name="盛岡支店").update(prefecture=None)  # lost since the export
    code, out, err = await run("employees", "import", str(target), env={"DATABASE_URL": db})
    assert code == 0, err
    assert "unchanged 4" in out and "department prefectures set 1" in out
    assert (await Department.get(name="盛岡支店")).prefecture == "03"
    assert (await Department.get(name="総務部")).prefecture == "13"
    assert (await preview_import(target.read_bytes())).prefectures == []  # round trip


async def test_a_file_without_the_prefecture_column_keeps_the_stored_ones(db):
    await import_employees((HEADER + "E001,山田 太郎,本社/総務部,,,\n").encode(), actor=CLI)
    await Department.filter(name="総務部").update(prefecture="13")

    summary = await import_employees(GOOD.encode(), actor=CLI)

    assert summary.prefectures == []
    assert (await Department.get(name="総務部")).prefecture == "13"
    lines = (await export_csv(actor=CLI)).decode("utf-8-sig").splitlines()
    assert lines[0].endswith(",active,prefecture") and "本社/総務部,,member,1,東京都" in lines[2]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("E001,山田,本社,,,東京県\n", "都道府県 '東京県' が見つかりません"),
        ("E001,山田,本社,,,48\n", "都道府県 '48' が見つかりません"),
        ("E001,山田,,,,東京都\n", "都道府県は部署のある行にだけ指定できます"),
        ("E000,佐藤,本社,,,東京都\nE001,山田,本社,,,大阪府\n", "2行目(東京都)と異なります"),
    ],
    ids=["unknown-name", "unknown-code", "no-department", "two-prefectures"],
)
async def test_a_bad_prefecture_is_named_by_its_row_and_nothing_is_written(db, rows, message):
    data = "code,name,department,email,role,prefecture\n" + rows

    with pytest.raises(ImportInvalid) as raised:
        await import_employees(data.encode(), actor=CLI)

    errors = raised.value.errors
    line = len(rows.splitlines()) + 1
    assert [(e.line, e.column) for e in errors] == [(line, "prefecture")]
    assert message in str(errors[0]) and str(errors[0]).startswith(f"{line}行目")
    assert not await Employee.exists() and not await Department.exists()
