"""Where the offices are: each department's optional prefecture (JMA's code), set one at a
time in the console or from a departments CSV (`department,prefecture`), and exported the
same way."""

import csv
import io
from dataclasses import dataclass

from domain.actors import Actor
from domain.audit import audited
from domain.employees import decode_csv, department_choices
from domain.errors import Invalid, NotFound
from domain.jma.areas import PREFECTURES, normalize, prefecture_code
from models import Department

COLUMNS = ("department", "prefecture")
HEADER_ALIASES = {"部署": "department", "都道府県": "prefecture"}
MAX_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Office:
    """A department as the offices page lists it."""

    id: int
    path: str
    prefecture: str  # code, '' for none

    @property
    def prefecture_name(self) -> str:
        """The prefecture's name ('' for none)."""
        return PREFECTURES.get(self.prefecture, "")


async def offices() -> list[Office]:
    """Every department by path, with its prefecture."""
    prefectures = dict(await Department.all().values_list("id", "prefecture"))
    return [Office(i, path, prefectures.get(i) or "") for i, path in await department_choices()]


def _code_or_none(raw: str) -> str | None:
    return prefecture_code(raw) if normalize(raw) else None


async def set_prefecture(actor: Actor, department_id: int, prefecture: str) -> Department:
    """Set (or with '' clear) a department's prefecture."""
    code = _code_or_none(prefecture)
    async with audited(actor, "department_prefecture") as a:
        department = (
            await Department.get_or_none(id=department_id) if 0 < department_id < 2**31 else None
        )
        if department is None:
            raise NotFound("部署が見つかりません。")
        department.prefecture = code
        await department.save(update_fields=["prefecture"])
        a.target, a.detail = department.name, {"prefecture": code}
    return department


async def import_csv(actor: Actor, data: bytes) -> int:
    """Set the prefectures a departments CSV names (all or nothing); return how many rows.
    Departments are named by path (`本社/総務部`) as in the employee CSV."""
    if len(data) > MAX_FILE_BYTES:
        raise Invalid("ファイルが大きすぎます(1MBまで)。")
    rows = list(csv.reader(io.StringIO(decode_csv(data))))
    if not rows:
        raise Invalid("CSVが空です。")
    header = [HEADER_ALIASES.get(h.strip(), h.strip().lower()) for h in rows[0]]
    if "department" not in header or "prefecture" not in header:
        raise Invalid("見出し行に department(部署) と prefecture(都道府県) が必要です。")
    at_department, at_prefecture = header.index("department"), header.index("prefecture")
    ids = {path: i for i, path in await department_choices()}
    planned: dict[int, str | None] = {}
    errors = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = row + [""] * len(header)
        path = "/".join(p.strip() for p in cells[at_department].replace("／", "/").split("/"))
        if path not in ids:
            errors.append(f"{line}行目: 部署 {path!r} がありません")
            continue
        try:
            planned[ids[path]] = _code_or_none(cells[at_prefecture])
        except Invalid as exc:
            errors.append(f"{line}行目: {exc.message}")
    if errors:
        raise Invalid("取り込めません。" + " / ".join(errors[:20]), fields={"errors": errors})
    async with audited(actor, "departments_prefecture_import") as a:
        for department_id, code in planned.items():
            await Department.filter(id=department_id).update(prefecture=code)
        a.detail = {"rows": len(planned)}
    return len(planned)


async def export_csv() -> bytes:
    """Every department with its prefecture name, UTF-8 with BOM so Excel opens it."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for office in await offices():
        writer.writerow([office.path, office.prefecture_name])
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")
