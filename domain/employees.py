"""Employees as maintainers manage them: CSV import (validated whole before anything is
written) and export, listing and search, editing and deactivating. Each change writes its
audit row in its own transaction (`domain.audit.audited`)."""

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field, replace

from tortoise.expressions import Q

from domain import spreadsheet
from domain.actors import Actor
from domain.audit import audited, log_action
from domain.console_users import Viewer
from domain.errors import Conflict, Invalid, NotFound
from domain.i18n import gettext as _
from domain.jma.areas import normalize, prefecture_code, prefecture_name
from domain.settings import get_settings
from models import AuditEntry, ConsoleRole, Department, Employee, EmployeeRole, LineAccount

COLUMNS = (
    "code", "name", "department", "email", "role", "active", "phone", "prefecture", "language",
)  # fmt: skip
REQUIRED_COLUMNS = ("code", "name", "department", "email", "role")
# Japanese headers people write in Excel, mapped to ours.
HEADER_ALIASES = {
    "社員番号": "code",
    "氏名": "name",
    "名前": "name",
    "部署": "department",
    "メールアドレス": "email",
    "役割": "role",
    "有効": "active",
    "電話番号": "phone",
    "電話": "phone",
    "都道府県": "prefecture",
    "言語": "language",
}
# The language column: ja or en (or their names); empty keeps the stored language.
LANGUAGE_ALIASES = {
    "ja": "ja", "日本語": "ja", "japanese": "ja",
    "en": "en", "英語": "en", "english": "en",
}  # fmt: skip
ROLE_ALIASES = {
    "": EmployeeRole.MEMBER,
    "member": EmployeeRole.MEMBER,
    "一般": EmployeeRole.MEMBER,
    "sender": EmployeeRole.SENDER,
    "発信権限者": EmployeeRole.SENDER,
}
ACTIVE_ALIASES = {
    "": True, "1": True, "true": True, "yes": True, "有効": True,
    "0": False, "false": False, "no": False, "無効": False,
}  # fmt: skip
MAX_FILE_BYTES = 1024 * 1024
MAX_ROWS = 20000
MAX_CODE = 32
MAX_NAME = 100
MAX_DEPARTMENT = 100
MAX_DEPARTMENT_DEPTH = 10
MAX_EMAIL = 254
# An import that would retire more than this share of the active employees, and more than
# this many people, needs the count typed to confirm it (a one-row file must not retire all).
MASS_DEACTIVATION_SHARE = 0.10
MASS_DEACTIVATION_PEOPLE = 5
IMPORT_ACTION = "employees_import"
DEPARTMENT_SEPARATOR = "/"
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.][^@\s]*$")
CODE_PATTERN = re.compile(r"^\S+$")


@dataclass(frozen=True)
class RowError:
    """One problem in an import file, named by line and column."""

    line: int
    column: str
    message: str
    row: str = ""  # the offending row as it was written (cells joined by commas), if any

    def __str__(self) -> str:
        where = _("%(n)s行目", n=self.line) + (f" {self.column}" if self.column else "")
        return f"{where}: {self.message}"


class ImportInvalid(Invalid):
    """The file has errors; nothing was written."""

    def __init__(self, errors: list[RowError]):
        super().__init__(
            _("取り込めません。%(n)s件のエラーがあります。", n=len(errors)), code="invalid_import"
        )
        self.errors = errors


@dataclass(frozen=True)
class EmployeeRow:
    """One valid row of an import file."""

    line: int
    code: str
    name: str
    department: tuple[str, ...]
    email: str | None
    role: EmployeeRole
    active: bool
    phone: str | None = None  # None: the file has no phone column (the stored one stays)
    # The last department's prefecture (JMA code); None: none given (the stored one stays).
    prefecture: str | None = None
    language: str | None = None  # None: none given (the stored one stays)


def _field_label(key: str) -> str:
    """A changed field's name in an import preview, in the current language."""
    labels = {
        "name": _("氏名"), "department": _("部署"), "email": _("メールアドレス"),
        "role": _("役割"), "active": _("有効"), "phone": _("電話番号"), "language": _("言語"),
    }  # fmt: skip
    return labels[key]


def _role_word(role: EmployeeRole) -> str:
    return _("発信権限者") if role is EmployeeRole.SENDER else _("一般")


def _active_word(active: bool) -> str:
    return _("有効") if active else _("無効")


MAX_LISTED_CHANGES = 500  # the preview names at most this many rows (the counts stay exact)


@dataclass(frozen=True)
class RowChange:
    """One employee an import adds, changes or retires, as the preview lists them:
    `changes` holds (field label, before, after) for a changed employee."""

    kind: str  # "new" | "changed" | "deactivated"
    code: str
    name: str
    line: int = 0  # 0: not in the file (retired because missing)
    changes: tuple[tuple[str, str, str], ...] = ()


@dataclass
class ImportSummary:
    """What an import does (preview) or did: counts, or the errors that stop it."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    deactivate_missing: bool = False
    errors: list[RowError] = field(default_factory=list)
    active_before: int = 0  # active employees before the import
    changes: list[RowChange] = field(default_factory=list)  # at most MAX_LISTED_CHANGES
    new_departments: list[str] = field(default_factory=list)  # paths it would create
    # Departments whose prefecture it sets: "本社/総務部: なし → 東京都".
    prefectures: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """Whether the file can be imported."""
        return not self.errors

    @property
    def needs_confirmation(self) -> bool:
        """Whether it retires so many that the count must be typed to confirm."""
        return (
            self.deactivated > MASS_DEACTIVATION_PEOPLE
            and self.deactivated > self.active_before * MASS_DEACTIVATION_SHARE
        )


class MassDeactivation(Invalid):
    """The import would retire many people and the count typed to confirm does not match."""

    def __init__(self, summary: ImportSummary):
        super().__init__(
            _(
                "ファイルにない社員 %(n)s 名を無効にします(有効な社員 %(active)s 名のうち)。"
                "よろしければ確認のため人数 %(n)s を入力してください。",
                n=summary.deactivated,
                active=summary.active_before,
            ),
            code="confirm_deactivate",
        )
        self.summary = summary


def decode_csv(data: bytes) -> str:
    """The text of an uploaded CSV: UTF-8 with or without BOM, or Shift_JIS as Excel writes it
    (cp932); anything else is refused."""
    bom = data.startswith(b"\xef\xbb\xbf")
    encodings = ("utf-8-sig",) if bom else ("utf-8", "cp932")
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break  # UTF-16 and binary files decode "successfully" with NULs
        return text
    raise Invalid(
        _(
            "文字コードを判別できません。"
            "UTF-8(BOMあり・なし)またはShift_JISで保存したCSVを選んでください。"
        ),
        code="bad_encoding",
    )


def _department_path(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.replace("／", DEPARTMENT_SEPARATOR).split("/"))


def _check_fields(values: dict[str, str], line: int) -> tuple[EmployeeRow | None, list[RowError]]:
    """Validate one row's fields; the row, or its errors."""
    errors: list[RowError] = []

    def fail(column: str, message: str) -> None:
        errors.append(RowError(line, column, message))

    code = values.get("code", "").strip()
    if not code:
        fail("code", _("社員番号は必須です"))
    elif len(code) > MAX_CODE:
        fail("code", _("社員番号は%(n)s文字以内にしてください", n=MAX_CODE))
    elif not CODE_PATTERN.match(code):
        fail("code", _("社員番号に空白は使えません"))
    name = values.get("name", "").strip()
    if not name:
        fail("name", _("氏名は必須です"))
    elif len(name) > MAX_NAME:
        fail("name", _("氏名は%(n)s文字以内にしてください", n=MAX_NAME))
    department: tuple[str, ...] = ()
    raw_department = values.get("department", "").strip()
    if raw_department:
        department = _department_path(raw_department)
        if any(not part for part in department):
            fail("department", _("部署の階層に空の名前があります(例: 本社/総務部)"))
        elif len(department) > MAX_DEPARTMENT_DEPTH:
            fail("department", _("部署の階層は%(n)s段までにしてください", n=MAX_DEPARTMENT_DEPTH))
        elif any(len(part) > MAX_DEPARTMENT for part in department):
            fail("department", _("部署名は%(n)s文字以内にしてください", n=MAX_DEPARTMENT))
    email = values.get("email", "").strip() or None
    if email is not None:
        if len(email) > MAX_EMAIL:
            fail("email", _("メールアドレスは%(n)s文字以内にしてください", n=MAX_EMAIL))
        elif not EMAIL_PATTERN.match(email):
            fail("email", _("メールアドレスの形式が正しくありません"))
    raw_role = values.get("role", "").strip()
    role = ROLE_ALIASES.get(raw_role.lower())
    if role is None:
        fail("role", _("役割は空欄・一般・member・発信権限者・sender のいずれかにしてください"))
    raw_active = values.get("active", "").strip()
    active = ACTIVE_ALIASES.get(raw_active.lower())
    if active is None:
        fail("active", _("有効は空欄・1・有効・0・無効 のいずれかにしてください"))
    phone = values["phone"].strip() if "phone" in values else None
    if phone:
        for error in _phone_errors(phone).values():
            fail("phone", error)
    raw_language = values.get("language", "").strip()
    language = LANGUAGE_ALIASES.get(raw_language.lower()) if raw_language else None
    if raw_language and language is None:
        fail("language", _("言語は空欄・ja・日本語・en・English のいずれかにしてください"))
    prefecture = None
    if normalize(values.get("prefecture", "")):
        if not raw_department:
            fail("prefecture", _("都道府県は部署のある行にだけ指定できます"))
        else:
            try:
                prefecture = prefecture_code(values["prefecture"])
            except Invalid as exc:
                fail("prefecture", exc.message)
    if errors:
        return None, errors
    assert role is not None and active is not None
    row = EmployeeRow(
        line, code, name, department, email, role, active, phone, prefecture, language
    )
    return row, []


def parse_csv(data: bytes) -> tuple[list[EmployeeRow], list[RowError]]:
    """Decode and validate a whole import file; every error is named by line and column."""
    if len(data) > MAX_FILE_BYTES:
        raise Invalid(
            _("ファイルが大きすぎます(%(n)sKBまで)。", n=MAX_FILE_BYTES // 1024), code="too_large"
        )
    text = decode_csv(data)
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        return [], [RowError(0, "", _("CSVとして読めません(%(reason)s)", reason=exc))]
    if not records or not any(cell.strip() for cell in records[0]):
        return [], [RowError(1, "", _("見出し行がありません(code,name,department,email,role)"))]
    header = [cell.strip().lower() for cell in records[0]]
    header = [HEADER_ALIASES.get(cell, cell) for cell in header]
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        return [], [
            RowError(1, "", _("見出し行に列がありません: %(columns)s", columns=", ".join(missing)))
        ]
    if len(records) - 1 > MAX_ROWS:
        return [], [RowError(0, "", _("行が多すぎます(%(n)s行まで)", n=MAX_ROWS))]
    positions = {column: header.index(column) for column in COLUMNS if column in header}
    rows: list[EmployeeRow] = []
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    prefecture_at: dict[tuple[str, ...], tuple[str, int]] = {}  # department: (code, line)
    for index, record in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in record):
            continue  # blank lines (Excel leaves them at the end)
        # Our export quotes cells that start like a formula: read them back as they were.
        values = {
            c: spreadsheet.restore_cell(record[i]) if i < len(record) else ""
            for c, i in positions.items()
        }
        row, row_errors = _check_fields(values, index)
        written = ",".join(record)[:200]
        errors.extend(replace(e, row=written) for e in row_errors)
        code = values["code"].strip()
        if code:
            if code in first_line:
                duplicate = _(
                    "社員番号 %(code)s が%(line)s行目と重複しています",
                    code=code,
                    line=first_line[code],
                )
                errors.append(RowError(index, "code", duplicate, ",".join(record)[:200]))
            else:
                first_line[code] = index
        if row is not None and row.prefecture is not None:
            given, line = prefecture_at.setdefault(row.department, (row.prefecture, index))
            if given != row.prefecture:
                clash = _(
                    "部署 %(department)s の都道府県が%(line)s行目(%(prefecture)s)と異なります",
                    department=DEPARTMENT_SEPARATOR.join(row.department),
                    line=line,
                    prefecture=prefecture_name(given),
                )
                errors.append(RowError(index, "prefecture", clash, ",".join(record)[:200]))
        if row is not None:
            rows.append(row)
    if not rows and not errors:
        errors.append(RowError(2, "", _("社員の行がありません")))
    return rows, errors


async def _department_paths() -> tuple[dict[int, tuple[str, ...]], dict[tuple[str, ...], int]]:
    """Every department's path, both ways (the oldest wins where two share a path)."""
    found = await Department.all().order_by("id").values_list("id", "name", "parent_id")
    by_id = {dept_id: (name, parent_id) for dept_id, name, parent_id in found}
    paths: dict[int, tuple[str, ...]] = {}

    def path_of(dept_id: int) -> tuple[str, ...]:
        if dept_id not in paths:
            parts: list[str] = []
            seen: set[int] = set()
            current: int | None = dept_id
            while current is not None and current in by_id and current not in seen:
                seen.add(current)
                name, current = by_id[current]
                parts.append(name)
            paths[dept_id] = tuple(reversed(parts))
        return paths[dept_id]

    ids: dict[tuple[str, ...], int] = {}
    for dept_id in by_id:
        ids.setdefault(path_of(dept_id), dept_id)
    return paths, ids


def _field_changes(
    employee: Employee, row: EmployeeRow, path: tuple[str, ...] | None
) -> tuple[tuple[str, str, str], ...]:
    """(label, before, after) for each field the row changes."""
    pairs = {
        "name": (employee.name, row.name),
        "department": (
            DEPARTMENT_SEPARATOR.join(path or ()),
            DEPARTMENT_SEPARATOR.join(row.department),
        ),
        "email": (employee.email or "", row.email or ""),
        "role": (_role_word(employee.role), _role_word(row.role)),
        "active": (_active_word(employee.active), _active_word(row.active)),
        # A file without the phone column leaves the stored number as it is.
        "phone": (employee.phone, employee.phone if row.phone is None else row.phone),
        "language": (employee.language, row.language or employee.language),
    }
    return tuple(
        (_field_label(key), before, after)
        for key, (before, after) in pairs.items()
        if before != after
    )


async def _plan(
    rows: list[EmployeeRow], deactivate_missing: bool
) -> tuple[ImportSummary, dict[str, Employee], list[int]]:
    """Compare valid rows with the database: counts, the rows that change, the departments it
    creates, existing employees, who to deactivate."""
    paths, ids = await _department_paths()
    existing = {e.code: e for e in await Employee.all()}
    summary = ImportSummary(
        deactivate_missing=deactivate_missing,
        active_before=sum(1 for e in existing.values() if e.active),
    )

    def note(change: RowChange) -> None:
        if len(summary.changes) < MAX_LISTED_CHANGES:
            summary.changes.append(change)

    stored = dict(await Department.all().values_list("id", "prefecture"))
    for path, code in _prefectures_of(rows).items():
        before = stored.get(ids[path]) if path in ids else None
        if before != code:
            was = prefecture_name(before) or _("なし")
            shown = DEPARTMENT_SEPARATOR.join(path)
            summary.prefectures.append(f"{shown}: {was} → {prefecture_name(code)}")
    created: set[tuple[str, ...]] = set()
    for row in rows:
        for depth in range(1, len(row.department) + 1):
            prefix = row.department[:depth]
            if prefix not in ids and prefix not in created:
                created.add(prefix)
                summary.new_departments.append(DEPARTMENT_SEPARATOR.join(prefix))
        employee = existing.get(row.code)
        if employee is None:
            summary.new += 1
            note(RowChange("new", row.code, row.name, row.line))
            continue
        changes = _field_changes(employee, row, paths.get(employee.department_id or 0))
        if changes:
            summary.updated += 1
            note(RowChange("changed", row.code, row.name, row.line, changes))
        else:
            summary.unchanged += 1
    missing: list[int] = []
    if deactivate_missing:
        listed = {row.code for row in rows}
        retired = [e for code, e in sorted(existing.items()) if e.active and code not in listed]
        missing = [e.id for e in retired]
        summary.deactivated = len(missing)
        for employee in retired:
            note(RowChange("deactivated", employee.code, employee.name))
    return summary, existing, missing


def _prefectures_of(rows: list[EmployeeRow]) -> dict[tuple[str, ...], str]:
    """The prefecture each department path is given (parse_csv refused disagreements)."""
    return {row.department: row.prefecture for row in rows if row.prefecture is not None}


async def preview_import(data: bytes, *, deactivate_missing: bool = False) -> ImportSummary:
    """What importing this file would do (nothing is written): counts, or every error."""
    rows, errors = parse_csv(data)
    if errors:
        return ImportSummary(deactivate_missing=deactivate_missing, errors=errors)
    summary, _, _ = await _plan(rows, deactivate_missing)
    return summary


def _confirmation_target(confirmation: str) -> str:
    return "confirmation:" + hashlib.sha256(confirmation.encode()).hexdigest()


async def import_employees(
    data: bytes,
    *,
    actor: Actor,
    target: str = "",
    deactivate_missing: bool = False,
    confirm_deactivate: int | None = None,
    confirmation: str | None = None,
) -> ImportSummary:
    """Import the file in one transaction with its audit row: create or update employees by
    code, create departments by path as needed, and deactivate the unlisted only when asked.

    A file with any error raises ImportInvalid and writes nothing; retiring many
    (`needs_confirmation`) raises MassDeactivation unless `confirm_deactivate` is that count.
    A `confirmation` (the console's signed preview) imports once: a second use is Conflict."""
    if confirmation is not None:
        target = _confirmation_target(confirmation)
    async with audited(actor, IMPORT_ACTION, target=target) as audit:
        if confirmation is not None:
            # Used once, without a table of its own: the "ok" row of the import that used it
            # carries its digest as target, written in the same transaction as the import.
            # Two confirmations racing on PostgreSQL may both pass; both import the same file.
            used = AuditEntry.filter(action=IMPORT_ACTION, result="ok", target=target)
            if await used.exists():
                raise Conflict(
                    _(
                        "この取り込みは実行済みです。もう一度取り込むときはファイルを選び直してください。"
                    ),
                    code="import_used",
                )
        rows, errors = parse_csv(data)
        if errors:
            raise ImportInvalid(errors)
        summary, existing, missing = await _plan(rows, deactivate_missing)
        if summary.needs_confirmation and confirm_deactivate != summary.deactivated:
            raise MassDeactivation(summary)
        _paths, department_ids = await _department_paths()
        for row in rows:
            department_id = (
                await _ensure_department(row.department, department_ids) if row.department else None
            )
            employee = existing.get(row.code)
            if employee is None:
                await Employee.create(
                    code=row.code, name=row.name, department_id=department_id, email=row.email,
                    role=row.role, active=row.active, phone=row.phone or "",
                    language=row.language or "",
                )  # fmt: skip
                continue
            changes = {
                "name": row.name,
                "department_id": department_id,
                "email": row.email,
                "role": row.role,
                "active": row.active,
                **({"phone": row.phone} if row.phone is not None else {}),
                **({"language": row.language} if row.language is not None else {}),
            }
            if any(getattr(employee, key) != value for key, value in changes.items()):
                await Employee.filter(id=employee.id).update(**changes)
        if missing:
            await Employee.filter(id__in=missing).update(active=False)
        for path, code in _prefectures_of(rows).items():
            await Department.filter(id=department_ids[path]).update(prefecture=code)
        audit.detail = {
            "new": summary.new, "updated": summary.updated, "unchanged": summary.unchanged,
            "deactivated": summary.deactivated, "prefectures": len(summary.prefectures),
        }  # fmt: skip
    return summary


async def _ensure_department(path: tuple[str, ...], ids: dict[tuple[str, ...], int]) -> int:
    """The department at this path, creating it and its parents as needed."""
    parent_id: int | None = None
    for depth in range(1, len(path) + 1):
        prefix = path[:depth]
        if prefix not in ids:
            created = await Department.create(name=prefix[-1], parent_id=parent_id)
            ids[prefix] = created.id
        parent_id = ids[prefix]
    assert parent_id is not None
    return parent_id


async def export_csv(*, actor: Actor, target: str = "") -> bytes:
    """Every employee in the import format, UTF-8 with BOM so Excel opens it (cells safe for
    spreadsheets, read back as they were); the export is audited."""
    paths, _ids = await _department_paths()
    out = io.StringIO(newline="")
    writer = spreadsheet.writer(out, lineterminator="\r\n")
    employees = await Employee.all().order_by("code")
    prefectures = dict(await Department.all().values_list("id", "prefecture"))
    # Phone, prefecture and language columns only once used: files without them read as
    # before.
    used = {
        "phone": any(e.phone for e in employees),
        "prefecture": any(prefectures.get(e.department_id) for e in employees),
        "language": any(e.language for e in employees),
    }
    columns = [c for c in COLUMNS if used.get(c, True)]
    writer.writerow(columns)
    for employee in employees:
        row = {
            "code": employee.code,
            "name": employee.name,
            "department": DEPARTMENT_SEPARATOR.join(paths.get(employee.department_id or 0, ())),
            "email": employee.email or "",
            "role": employee.role.value,
            "active": "1" if employee.active else "0",
            "phone": employee.phone,
            "prefecture": prefecture_name(prefectures.get(employee.department_id)),
            "language": employee.language,
        }
        writer.writerow([row[c] for c in columns])
    await log_action(actor, "employees_export", target=target)
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


@dataclass(frozen=True)
class EmployeeView:
    """An employee as a console page shows them; `line_display_name` is None unless the
    viewer may see it (seed FAQ Q2)."""

    id: int
    code: str
    name: str
    department: str
    email: str
    role: EmployeeRole
    active: bool
    line_registered: bool
    phone: str
    line_display_name: str | None


async def may_see_display_names(viewer: Viewer) -> bool:
    """Only a maintainer, and only while 連絡先情報閲覧可 is on, sees LINE display names."""
    if viewer.role is not ConsoleRole.MAINTAINER:
        return False
    return (await get_settings()).contact_info_viewable


async def list_employees(viewer: Viewer, search: str = "", limit: int = 500) -> list[EmployeeView]:
    """Employees matching the search (code, name or department path), by code."""
    paths, _ids = await _department_paths()
    rows = Employee.all()
    rows = viewer.scope.filter(rows)
    search = search.strip()[:100]
    if search:
        needle = search.lower()
        departments = [
            dept_id for dept_id, path in paths.items() if needle in "/".join(path).lower()
        ]
        rows = rows.filter(
            Q(code__icontains=search) | Q(name__icontains=search) | Q(department_id__in=departments)
        )
    employees = await rows.order_by("code").limit(max(1, limit))
    return await _views(viewer, employees, paths)


async def _views(
    viewer: Viewer, employees: list[Employee], paths: dict[int, tuple[str, ...]]
) -> list[EmployeeView]:
    show_names = await may_see_display_names(viewer)
    accounts = {
        a.employee_id: a
        for a in await LineAccount.filter(employee_id__in=[e.id for e in employees])
    }
    return [
        EmployeeView(
            id=e.id,
            code=e.code,
            name=e.name,
            department="/".join(paths.get(e.department_id or 0, ())),
            email=e.email or "",
            role=e.role,
            active=e.active,
            line_registered=e.id in accounts,
            phone=e.phone,
            line_display_name=(
                accounts[e.id].display_name if show_names and e.id in accounts else None
            ),
        )
        for e in employees
    ]


async def employee_view(viewer: Viewer, employee_id: int) -> EmployeeView:
    """One employee as `list_employees` shows them."""
    employee = await Employee.get_or_none(id=employee_id)
    if employee is None or not viewer.scope.includes(employee.department_id):
        raise NotFound(_("社員が見つかりません。"))
    paths, _ids = await _department_paths()
    return (await _views(viewer, [employee], paths))[0]


async def update_employee(
    employee_id: int,
    *,
    actor: Actor,
    name: str,
    department: str,
    email: str,
    role: str,
    active: bool,
    phone: str | None = None,
) -> Employee:
    """Change one employee (the department by path, created as needed), validated like a row
    of the import file; `phone` None leaves the phone number as it is."""
    async with audited(actor, "employee_update", target=str(employee_id)):
        employee = await Employee.get_or_none(id=employee_id)
        if employee is None:
            raise NotFound(_("社員が見つかりません。"))
        values = {
            "code": employee.code, "name": name, "department": department, "email": email,
            "role": role, "active": "1" if active else "0",
        }  # fmt: skip
        row, errors = _check_fields(values, 0)
        fields = {e.column: e.message for e in errors}
        if phone is not None:
            phone = phone.strip()
            fields.update(_phone_errors(phone))
        if row is None or fields:
            raise Invalid(_("入力内容を確認してください。"), fields=fields)
        if phone is not None:
            employee.phone = phone
        _paths, ids = await _department_paths()
        employee.department_id = (  # type: ignore[assignment]
            await _ensure_department(row.department, ids) if row.department else None
        )
        employee.name, employee.email, employee.role = row.name, row.email, row.role
        employee.active = row.active
        await employee.save()
    return employee


PHONE_PATTERN = re.compile(r"^\+?[0-9()\- ]{6,32}$")


def _phone_errors(phone: str) -> dict[str, str]:
    if phone and not PHONE_PATTERN.match(phone):
        return {"phone": _("電話番号は数字と - ( ) + で入力してください")}
    return {}


async def add_employee(
    *,
    actor: Actor,
    code: str,
    name: str,
    department: str,
    email: str,
    phone: str = "",
    role: str = "",
) -> Employee:
    """Add one active employee (the department by path, created as needed), validated like a
    row of the import file; a code already taken, in any case, is Conflict (sign-in ignores
    case)."""
    async with audited(actor, "employee_add", target=code.strip()[:MAX_CODE]):
        values = {
            "code": code, "name": name, "department": department, "email": email, "role": role,
        }  # fmt: skip
        row, errors = _check_fields(values, 0)
        fields = {e.column: e.message for e in errors}
        phone = phone.strip()
        fields.update(_phone_errors(phone))
        if row is None or fields:
            raise Invalid(_("入力内容を確認してください。"), fields=fields)
        if await Employee.exists(code__iexact=row.code):
            raise Conflict(
                _("社員番号 %(code)s はすでに登録されています。", code=row.code),
                code="code_taken",
                fields={"code": _("すでに登録されています")},
            )
        _paths, ids = await _department_paths()
        department_id = await _ensure_department(row.department, ids) if row.department else None
        return await Employee.create(
            code=row.code, name=row.name, department_id=department_id, email=row.email,
            phone=phone, role=row.role,
        )  # fmt: skip


async def deactivate_employee(employee_id: int, *, actor: Actor) -> Employee:
    """Retire an employee: no more alerts, no more linking, no more answers; the record stays."""
    async with audited(actor, "employee_deactivate", target=str(employee_id)) as audit:
        employee = await Employee.get_or_none(id=employee_id)
        if employee is None:
            raise NotFound(_("社員が見つかりません。"))
        audit.target = employee.code
        employee.active = False
        await employee.save(update_fields=["active"])
    return employee


async def department_choices() -> list[tuple[int, str]]:
    """Every department as (ID, path), by path, for pickers."""
    paths, _ids = await _department_paths()
    return sorted(((i, "/".join(p)) for i, p in paths.items()), key=lambda item: item[1])
