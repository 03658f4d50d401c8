"""The tally of one alert as a viewer may see it: who answered, what they answered, by
department, how answering went over time, who has not answered, and the answer sheet. The
viewer's scope is an argument, so every face counts the same way.

Counting happens in the database (one GROUP BY over the roster LEFT JOIN answers), so an
alert with a hundred thousand recipients is tallied without loading its answers."""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from domain.alerts import ROSTER_ANSWERS, AnsweredShare, display_title, find_alert
from domain.audit import Actor, log_action
from domain.check_items import CheckItem, parse_items
from domain.delivery_report import DeliveryReport, report_of
from domain.errors import Forbidden
from domain.scope import Scope
from models import Alert, AlertRecipient, AnswerChannel, DeliveryStatus, Department, Medium
from models.sql import fetch, is_postgres

NO_DEPARTMENT = "(所属なし)"
CHANNEL_NAMES = {
    AnswerChannel.LIFF.value: "LINE",
    AnswerChannel.EMAIL.value: "メール",
    AnswerChannel.CONSOLE.value: "管理画面",
}


@dataclass
class DepartmentTally:
    """Answered and total counts for one department, and its choices per item."""

    department_id: int | None
    name: str
    total: int = 0
    answered: int = 0
    choice_counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def unanswered(self) -> int:
        """Recipients in this department who have not answered."""
        return self.total - self.answered


@dataclass
class Tally(AnsweredShare):
    """Counts per item and choice, answered/unanswered, and per department."""

    alert_id: int
    title: str
    drill: bool
    total: int
    answered: int
    items: tuple[CheckItem, ...]
    choice_counts: dict[str, dict[str, int]]
    departments: list[DepartmentTally] = field(default_factory=list)

    @property
    def unanswered(self) -> int:
        """Recipients who have not answered."""
        return self.total - self.answered


def _choices(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        raw = json.loads(raw)
    return raw if isinstance(raw, dict) else {}


async def _department_names(ids: set[int | None]) -> dict[int | None, str]:
    known = [i for i in ids if i is not None]
    names: dict[int | None, str] = {None: NO_DEPARTMENT}
    if known:
        names.update(await Department.filter(id__in=known).values_list("id", "name"))
    return names


async def tally(alert_id: int, scope: Scope | None = None) -> Tally:
    """Count an alert's answers among the recipients `scope` lets the viewer see."""
    return await _tally(await find_alert(alert_id), scope or Scope.everything())


async def _tally(alert: Alert, scope: Scope) -> Tally:
    items = parse_items(alert.items)
    choice_counts = {item.label: dict.fromkeys(item.choices, 0) for item in items}
    result = Tally(alert.id, alert.title, alert.drill, 0, 0, items, choice_counts)
    if scope.is_empty:
        return result
    where, params = scope.where("r.department_id")
    rows = await fetch(
        "SELECT r.department_id AS department_id, a.choices AS choices, COUNT(*) AS n"
        + ROSTER_ANSWERS
        + f" WHERE r.alert_id = ?{where} GROUP BY r.department_id, a.choices",
        [alert.id, *params],
    )
    by_department: dict[int | None, DepartmentTally] = {}
    for row in rows:
        key, n = row["department_id"], int(row["n"])
        dept = by_department.get(key)
        if dept is None:
            dept = by_department[key] = DepartmentTally(
                key, "", choice_counts={i.label: dict.fromkeys(i.choices, 0) for i in items}
            )
        dept.total += n
        result.total += n
        if row["choices"] is None:
            continue
        dept.answered += n
        result.answered += n
        for label, choice in _choices(row["choices"]).items():
            counts = choice_counts.get(label)
            if counts is not None and choice in counts:
                counts[choice] += n
                dept.choice_counts[label][choice] += n
    names = await _department_names(set(by_department))
    for key, dept in by_department.items():
        dept.name = names.get(key, NO_DEPARTMENT)
    result.departments = sorted(
        by_department.values(), key=lambda d: (d.department_id is None, d.name)
    )
    return result


async def visible_alert(alert_id: int, scope: Scope) -> Alert:
    """The alert, if the viewer may see it: a scoped viewer sees only alerts that reached
    someone in their departments (Forbidden for any other)."""
    alert = await find_alert(alert_id)
    if (
        not scope.is_everything
        and not await scope.filter(AlertRecipient.filter(alert_id=alert.id)).exists()
    ):
        raise OutOfScope(alert.id)
    return alert


class OutOfScope(Forbidden):
    """A scoped viewer asked for an alert that reached nobody in their departments."""

    def __init__(self, alert_id: int) -> None:
        super().__init__(f"連絡 {alert_id} を見る権限がありません。", code="out_of_scope")


@dataclass(frozen=True)
class AlertPage:
    """Everything the console's page of one alert shows, in the viewer's scope."""

    alert: Alert
    tally: Tally
    timeline: list["TimelinePoint"]
    deliveries: DeliveryReport


async def alert_page(alert_id: int, scope: Scope) -> AlertPage:
    """One alert as a viewer may see it: the tally (whose roster count is the scope check:
    a scoped viewer sees only alerts that reached their departments), the timeline and the
    deliveries."""
    alert = await find_alert(alert_id)
    result = await _tally(alert, scope)
    if not scope.is_everything and not result.total:
        raise OutOfScope(alert.id)
    timeline = await answer_timeline(alert.id, scope)
    return AlertPage(alert, result, timeline, await report_of(alert, scope))


@dataclass(frozen=True)
class TimelinePoint:
    """How many had answered (for the first time) by the end of this minute."""

    at: datetime
    answered: int


async def answer_timeline(alert_id: int, scope: Scope) -> list[TimelinePoint]:
    """The cumulative count of first answers per minute, within the scope."""
    if scope.is_empty:
        return []
    where, params = scope.where("r.department_id")
    if is_postgres():
        minute = "to_char(v.answered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')"
    else:  # SQLite keeps datetimes as ISO text in UTC
        minute = "substr(v.answered_at, 1, 16)"
    rows = await fetch(
        f"SELECT {minute} AS minute, COUNT(*) AS n FROM alert_recipient r"
        " JOIN answer a ON a.alert_id = r.alert_id AND a.employee_id = r.employee_id"
        " JOIN answer_revision v ON v.answer_id = a.id AND v.revision = 1"
        f" WHERE r.alert_id = ?{where} GROUP BY minute ORDER BY minute",
        [alert_id, *params],
    )
    points, running = [], 0
    for row in rows:
        running += int(row["n"])
        at = datetime.fromisoformat(row["minute"].replace(" ", "T")).replace(tzinfo=UTC)
        points.append(TimelinePoint(at, running))
    return points


@dataclass(frozen=True)
class Unanswered:
    """A recipient who has not answered: who, where, whether LINE is registered, and how each
    medium stands for them (`line`, `email`: 送信済, 送信中, 未連携, ブロック, 送信失敗(…)…),
    with whether that medium cannot reach them."""

    code: str
    name: str
    department: str
    line_registered: bool
    line: str = ""
    email: str = ""
    line_unreachable: bool = False
    email_unreachable: bool = False

    @property
    def unreachable(self) -> bool:
        """Neither medium reaches them."""
        return self.line_unreachable and self.email_unreachable


OUT_OF_USE = "対象外"  # the alert does not use this medium
SENT, SENDING, NOT_YET = "送信済", "送信中", "未送信"
NOT_LINKED, BLOCKED, HELD, NO_ADDRESS = "未連携", "ブロック", "保留", "なし"
MAX_REASON_SHOWN = 80


def _failed(reason: str | None) -> str:
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON_SHOWN:
        reason = reason[:MAX_REASON_SHOWN] + "…"
    return f"送信失敗({reason})" if reason else "送信失敗"


def _latest(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An employee's deliveries of one medium in its latest round."""
    last = max(int(r["round"]) for r in rows)
    return [r for r in rows if int(r["round"]) == last]


def _line_state(alert: Alert, row: dict[str, Any], sent: list[dict[str, Any]]) -> tuple[str, bool]:
    if not alert.line_enabled:
        return OUT_OF_USE, True
    if row["line_id"] is None:
        return NOT_LINKED, True
    if row["blocked"] or not row["followed"]:
        return BLOCKED, True
    if not sent:
        if alert.line_halted_at is not None:
            return _failed(alert.line_halted_reason or "LINEの送信停止"), True
        return NOT_YET, False
    statuses = {r["status"] for r in _latest(sent)}
    if DeliveryStatus.SENT.value in statuses:
        return SENT, False
    if statuses & {DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value}:
        return SENDING, False
    if DeliveryStatus.HELD.value in statuses:
        return HELD, True
    return _failed(_latest(sent)[0]["reason"]), True


def _email_state(alert: Alert, row: dict[str, Any], sent: list[dict[str, Any]]) -> tuple[str, bool]:
    if not alert.email_enabled:
        return OUT_OF_USE, True
    if not sent:
        return (NOT_YET, False) if row["has_email"] else (NO_ADDRESS, True)
    latest = _latest(sent)
    statuses = {r["status"] for r in latest}
    if DeliveryStatus.SENT.value in statuses:
        return SENT, False
    if statuses & {DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value}:
        return SENDING, False
    return _failed(latest[0]["reason"]), True


async def unanswered(alert_id: int, scope: Scope) -> list[Unanswered]:
    """Recipients in scope without an answer, by department and code, with how each medium
    stands for them. Whether they have LINE registered is a yes/no: the LINE display name is
    never shown here (seed FAQ Q2)."""
    alert = await find_alert(alert_id)
    if scope.is_empty:
        return []
    where, params = scope.where("r.department_id")
    unanswered_in_scope = (
        " FROM alert_recipient r JOIN employee e ON e.id = r.employee_id"
        " LEFT JOIN answer a ON a.alert_id = r.alert_id AND a.employee_id = r.employee_id"
    )
    rows = await fetch(
        "SELECT e.code AS code, e.name AS name, r.department_id AS department_id,"
        " l.id AS line_id, l.followed AS followed, l.blocked AS blocked,"
        " CASE WHEN (e.email_enabled = ? AND e.email IS NOT NULL AND e.email <> '')"
        " OR EXISTS (SELECT 1 FROM employee_email x WHERE x.employee_id = e.id"
        " AND x.enabled = ?) THEN 1 ELSE 0 END AS has_email, e.id AS employee_id"
        + unanswered_in_scope
        + " LEFT JOIN line_account l ON l.employee_id = r.employee_id"
        f" WHERE r.alert_id = ?{where} AND a.id IS NULL",
        [True, True, alert_id, *params],
    )
    deliveries: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for d in await fetch(
        "SELECT d.employee_id AS employee_id, d.medium AS medium, d.round AS round,"
        " d.status AS status, d.reason AS reason"
        + unanswered_in_scope
        + " JOIN delivery d ON d.alert_id = r.alert_id AND d.employee_id = r.employee_id"
        f" WHERE r.alert_id = ?{where} AND a.id IS NULL ORDER BY d.id",
        [alert_id, *params],
    ):
        deliveries.setdefault((d["employee_id"], d["medium"]), []).append(d)
    names = await _department_names({row["department_id"] for row in rows})
    found = []
    for row in rows:
        line, line_out = _line_state(
            alert, row, deliveries.get((row["employee_id"], Medium.LINE.value), [])
        )
        email, email_out = _email_state(
            alert, row, deliveries.get((row["employee_id"], Medium.EMAIL.value), [])
        )
        found.append(
            Unanswered(
                row["code"],
                row["name"],
                names.get(row["department_id"], NO_DEPARTMENT),
                row["line_id"] is not None,
                line,
                email,
                line_out,
                email_out,
            )
        )
    return sorted(found, key=lambda u: (u.department, u.code))


@dataclass(frozen=True)
class SheetRow:
    """One answer as the CSV export writes it."""

    code: str
    name: str
    department: str
    choices: tuple[str, ...]
    message: str
    answered_at: datetime
    channel: str


@dataclass(frozen=True)
class AnswerSheet:
    """The answers in scope, one row per person, with the item labels as columns."""

    title: str
    drill: bool
    labels: tuple[str, ...]
    rows: list[SheetRow]

    @property
    def shown_title(self) -> str:
        """The title with the drill marking."""
        return display_title(self.title, self.drill)


async def export_answers(actor: Actor, alert_id: int, scope: Scope) -> AnswerSheet:
    """The answer sheet for a download, with the export's audit row (who took how many
    rows; never what they say)."""
    sheet = await answer_sheet(alert_id, scope)
    await log_action(
        actor,
        "answers_exported",
        f"alert:{alert_id}",
        detail={"rows": len(sheet.rows), "scoped": not scope.is_everything},
    )
    return sheet


async def answer_sheet(alert_id: int, scope: Scope) -> AnswerSheet:
    """Every answer among the recipients in scope, by department and employee code."""
    alert = await find_alert(alert_id)
    labels = tuple(item.label for item in parse_items(alert.items))
    sheet = AnswerSheet(alert.title, alert.drill, labels, [])
    if scope.is_empty:
        return sheet
    where, params = scope.where("r.department_id")
    rows = await fetch(
        "SELECT e.code AS code, e.name AS name, r.department_id AS department_id,"
        " a.choices AS choices, a.message AS message, a.answered_at AS answered_at,"
        " a.channel AS channel"
        " FROM alert_recipient r JOIN employee e ON e.id = r.employee_id"
        " JOIN answer a ON a.alert_id = r.alert_id AND a.employee_id = r.employee_id"
        f" WHERE r.alert_id = ?{where}",
        [alert.id, *params],
    )
    names = await _department_names({row["department_id"] for row in rows})
    for row in rows:
        choices = _choices(row["choices"])
        answered_at = row["answered_at"]
        if isinstance(answered_at, str):
            answered_at = datetime.fromisoformat(answered_at)
        if answered_at.tzinfo is None:
            answered_at = answered_at.replace(tzinfo=UTC)
        sheet.rows.append(
            SheetRow(
                row["code"],
                row["name"],
                names.get(row["department_id"], NO_DEPARTMENT),
                tuple(str(choices.get(label, "")) for label in labels),
                row["message"] or "",
                answered_at,
                CHANNEL_NAMES.get(row["channel"], row["channel"]),
            )
        )
    sheet.rows.sort(key=lambda r: (r.department, r.code))
    return sheet
