"""The tally of one alert as a viewer may see it: who answered, what they answered, by
department, how answering went over time, who has not answered, and the answer sheet. The
viewer's scope is an argument, so every face counts the same way.

The tally reads the counts each answer keeps in its own transaction (`answer_count`: per
alert, roster department, item and choice, as stored), a few rows however many answered;
`recount` counts the same from the roster and every answer, and tests hold the two equal."""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from domain.actors import Actor
from domain.alerts import (
    ROSTER_ANSWERS,
    AnsweredShare,
    department_paths,
    display_title,
    find_alert,
    reaches_beyond,
)
from domain.audit import log_action
from domain.check_items import CheckItem, parse_items
from domain.delivery_report import DeliveryReport, report_of
from domain.errors import Forbidden
from domain.family import FamilySummary, family_summary
from domain.i18n import gettext as _
from domain.jma.triggers import Trigger, trigger_of
from domain.scope import Scope
from models import Alert, AlertRecipient, AnswerChannel, DeliveryKind, DeliveryStatus, Medium
from models.answers import ANSWERED, RECIPIENTS, WHOLE
from models.sql import fetch, is_postgres


def _no_department() -> str:
    """How people without a department are listed, in the current language."""
    return _("(所属なし)")


def _channel_name(channel: str) -> str:
    """How an answer came in (LINE, e-mail, the console), in the current language."""
    names = {
        AnswerChannel.LIFF.value: "LINE",
        AnswerChannel.EMAIL.value: _("メール"),
        AnswerChannel.CONSOLE.value: _("管理画面"),
    }
    return names.get(channel, channel)


@dataclass
class DepartmentTally:
    """Answered and total counts for one department, and its choices per item."""

    department_id: int | None
    name: str
    total: int = 0
    answered: int = 0
    choice_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    subtotal: bool = False  # a parent's row summing the departments below it
    path: str = ""  # the full path, 本社/営業部

    @property
    def unanswered(self) -> int:
        """Recipients in this department who have not answered."""
        return self.total - self.answered

    @property
    def rate(self) -> float:
        """Answered share, 0-100."""
        return 100.0 * self.answered / self.total if self.total else 0.0


def with_subtotals(departments: list[DepartmentTally]) -> list[DepartmentTally]:
    """Department rows by path, each parent covering two rows or more preceded by its
    subtotal row (本社 計: itself and everything below it)."""
    subtotals: dict[str, DepartmentTally] = {}
    covered: dict[str, int] = {}
    for dept in departments:
        if dept.department_id is None:
            continue
        parts = dept.path.split("/")
        for depth in range(1, len(parts) + 1):
            path = "/".join(parts[:depth])
            sub = subtotals.get(path)
            if sub is None:
                sub = subtotals[path] = DepartmentTally(
                    None,
                    path.rsplit("/", 1)[-1],
                    choice_counts={k: dict.fromkeys(v, 0) for k, v in dept.choice_counts.items()},
                    subtotal=True,
                    path=path,
                )
            covered[path] = covered.get(path, 0) + 1
            sub.total += dept.total
            sub.answered += dept.answered
            for label, counts in dept.choice_counts.items():
                for choice, n in counts.items():
                    sub.choice_counts[label][choice] += n
    rows = list(departments) + [s for p, s in subtotals.items() if covered[p] > 1]
    return sorted(
        rows, key=lambda d: (d.department_id is None and not d.subtotal, d.path, not d.subtotal)
    )


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
    closed: bool = False  # no more answers are taken

    @property
    def unanswered(self) -> int:
        """Recipients who have not answered."""
        return self.total - self.answered


def _choices(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        raw = json.loads(raw)
    return raw if isinstance(raw, dict) else {}


async def _department_names(ids: set[int | None]) -> dict[int | None, str]:
    """Departments by their full path (本社/営業部), as lists of people name them."""
    names: dict[int | None, str] = {None: _no_department()}
    if any(i is not None for i in ids):
        names.update(await department_paths())
    return names


async def tally(alert_id: int, scope: Scope | None = None) -> Tally:
    """Count an alert's answers among the recipients `scope` lets the viewer see."""
    return await _tally(await find_alert(alert_id), scope or Scope.everything())


def _nothing_counted(alert: Alert, items: tuple[CheckItem, ...]) -> Tally:
    choice_counts = {item.label: dict.fromkeys(item.choices, 0) for item in items}
    return Tally(
        alert.id, alert.title, alert.drill, 0, 0, items, choice_counts, closed=alert.is_closed
    )


async def _tally(alert: Alert, scope: Scope) -> Tally:
    items = parse_items(alert.items)
    result = _nothing_counted(alert, items)
    if scope.is_empty:
        return result
    # The counts kept answer by answer (`answer_count`): a few rows per department, however
    # many answered. `recount` is the same tally from the answers themselves.
    where, params = scope.where("department_id")
    rows = await fetch(
        "SELECT department_id, item, choice, SUM(n) AS n FROM answer_count"
        f" WHERE alert_id = ?{where} GROUP BY department_id, item, choice",
        [alert.id, *params],
    )
    by_department: dict[int | None, DepartmentTally] = {}
    for row in rows:
        dept = _department_of(by_department, row["department_id"] or None, items)
        item, choice, n = row["item"], row["choice"], int(row["n"])
        if item != WHOLE:
            _count_choice(result, dept, item, choice, n)
        elif choice == RECIPIENTS:
            _count_people(result, dept, n, answered=False)
        elif choice == ANSWERED:
            _count_people(result, dept, n, answered=True, recipients=False)
    return await _named(result, by_department)


async def recount(alert_id: int, scope: Scope | None = None) -> Tally:
    """`tally` counted from the roster and every answer (one GROUP BY over them), not from
    the kept counts: what those counts must always equal."""
    alert = await find_alert(alert_id)
    scope = scope or Scope.everything()
    items = parse_items(alert.items)
    result = _nothing_counted(alert, items)
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
        dept = _department_of(by_department, row["department_id"], items)
        n, answered = int(row["n"]), row["choices"] is not None
        _count_people(result, dept, n, answered=answered)
        for label, choice in _choices(row["choices"]).items() if answered else ():
            _count_choice(result, dept, label, choice, n)
    return await _named(result, by_department)


def _department_of(
    by_department: dict[int | None, DepartmentTally], key: int | None, items: tuple[CheckItem, ...]
) -> DepartmentTally:
    dept = by_department.get(key)
    if dept is None:
        dept = by_department[key] = DepartmentTally(
            key, "", choice_counts={i.label: dict.fromkeys(i.choices, 0) for i in items}
        )
    return dept


def _count_people(
    result: Tally, dept: DepartmentTally, n: int, *, answered: bool, recipients: bool = True
) -> None:
    if recipients:
        dept.total += n
        result.total += n
    if answered:
        dept.answered += n
        result.answered += n


def _count_choice(result: Tally, dept: DepartmentTally, item: str, choice: str, n: int) -> None:
    """Count a choice only where the alert has that item and choice (as stored, canonical)."""
    counts = result.choice_counts.get(item)
    if counts is not None and choice in counts:
        counts[choice] += n
        dept.choice_counts[item][choice] += n


async def _named(result: Tally, by_department: dict[int | None, DepartmentTally]) -> Tally:
    """The tally with its departments named by path and in order."""
    paths = await _department_names(set(by_department))
    for key, dept in by_department.items():
        dept.path = paths.get(key, _no_department())
        dept.name = dept.path.rsplit("/", 1)[-1] if key is not None else _no_department()
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
        super().__init__(
            _("連絡 %(id)s を見る権限がありません。", id=alert_id), code="out_of_scope"
        )


@dataclass(frozen=True)
class AlertPage:
    """Everything the console's page of one alert shows, in the viewer's scope."""

    alert: Alert
    tally: Tally
    timeline: list["TimelinePoint"]
    deliveries: DeliveryReport
    people: "AnswerList"
    closable: bool  # whether the viewer's scope may close it (domain.alerts.ensure_closable)
    trigger: Trigger | None  # the JMA bulletin that started it, if one did
    family: FamilySummary | None = None  # only where family_visible is on, within scope


async def alert_page(alert_id: int, scope: Scope, people: "AnswerFilter") -> AlertPage:
    """One alert as a viewer may see it: the tally (whose roster count is the scope check:
    a scoped viewer sees only alerts that reached their departments), the timeline, the
    deliveries, the answers `people` asks for (who needs help) and the JMA bulletin that
    started it."""
    alert = await find_alert(alert_id)
    result = await _tally(alert, scope)
    if not scope.is_everything and not result.total:
        raise OutOfScope(alert.id)
    timeline = await answer_timeline(alert.id, scope)
    return AlertPage(
        alert,
        result,
        timeline,
        await report_of(alert, scope),
        await _answer_list(alert, scope, people),
        not await reaches_beyond(alert, scope),
        await trigger_of(alert.id),
        await family_summary(alert, scope),
    )


@dataclass(frozen=True)
class TimelinePoint:
    """How many had answered (for the first time) by the end of this minute."""

    at: datetime
    answered: int


async def answer_timeline(alert_id: int, scope: Scope) -> list[TimelinePoint]:
    """The cumulative count of first answers per minute, within the scope."""
    if scope.is_empty:
        return []
    if is_postgres():
        minute = "date_trunc('minute', v.answered_at)"
    else:  # SQLite keeps datetimes as ISO text in UTC
        minute = "substr(v.answered_at, 1, 16)"
    first = "JOIN answer_revision v ON v.answer_id = a.id AND v.revision = 1"
    if scope.is_everything:
        # Only someone on the roster can answer: the alert's answers are the roster's, and
        # joining the roster narrows nothing (it was most of the time at 100,000 answers).
        source, params = f"answer a {first} WHERE a.alert_id = ?", [alert_id]
    else:
        where, in_scope = scope.where("r.department_id")
        source = (
            "alert_recipient r"
            " JOIN answer a ON a.alert_id = r.alert_id AND a.employee_id = r.employee_id"
            f" {first} WHERE r.alert_id = ?{where}"
        )
        params = [alert_id, *in_scope]
    rows = await fetch(
        f"SELECT {minute} AS minute, COUNT(*) AS n FROM {source} GROUP BY minute ORDER BY minute",
        params,
    )
    points, running = [], 0
    for row in rows:
        running += int(row["n"])
        at = row["minute"]
        if isinstance(at, str):  # SQLite's text, to the minute
            at = datetime.fromisoformat(at.replace(" ", "T"))
        points.append(TimelinePoint(at.replace(tzinfo=UTC) if at.tzinfo is None else at, running))
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
    email_address: str = ""  # the record's address (supervisors may see it, not LINE's name)
    phone: str = ""  # as imported

    @property
    def unreachable(self) -> bool:
        """Neither medium reaches them."""
        return self.line_unreachable and self.email_unreachable

    @property
    def reach(self) -> str:
        """How each medium stands for them, in plain words."""
        return "。".join(
            _plain(medium, state, out)
            for medium, state, out in (
                ("LINE", self.line, self.line_unreachable),
                (_("メール"), self.email, self.email_unreachable),
            )
        )


def _plain(medium: str, state: str, unreachable: bool) -> str:
    # `state` is as `_shown_state` worded it, in this same language.
    if state == _shown_state(OUT_OF_USE):
        return _("%(medium)sはこの連絡で使いません", medium=medium)
    if state == _shown_state(NO_ADDRESS):
        return _("%(medium)sアドレスの登録なし", medium=medium)
    if state == _shown_state(NOT_LINKED):
        return _("%(medium)s未連携のため届きません", medium=medium)
    if state == _shown_state(BLOCKED):
        return _("%(medium)sがブロックされているため届きません", medium=medium)
    if unreachable:
        return _("%(medium)s: %(state)sのため届いていません", medium=medium, state=state)
    return f"{medium}: {state}"


# A medium's state for one person, as found (worded by `_shown_state`).
OUT_OF_USE = "out_of_use"  # the alert does not use this medium
SENT, SENDING, NOT_YET = "sent", "sending", "not_yet"
NOT_LINKED, BLOCKED, HELD, NO_ADDRESS = "not_linked", "blocked", "held", "no_address"
MAX_REASON_SHOWN = 80


def _shown_state(state: str) -> str:
    """A medium's state in the current language (a failure is worded where it is found)."""
    words = {
        OUT_OF_USE: _("対象外"), SENT: _("送信済"), SENDING: _("送信中"), NOT_YET: _("未送信"),
        NOT_LINKED: _("未連携"), BLOCKED: _("ブロック"), HELD: _("保留"), NO_ADDRESS: _("なし"),
    }  # fmt: skip
    return words.get(state, state)


def _failed(reason: str | None) -> str:
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON_SHOWN:
        reason = reason[:MAX_REASON_SHOWN] + "…"
    return _("送信失敗(%(reason)s)", reason=reason) if reason else _("送信失敗")


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
            return _failed(alert.line_halted_reason or _("LINEの送信停止")), True
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
        " AND x.enabled = ?) THEN 1 ELSE 0 END AS has_email, e.id AS employee_id,"
        " e.email AS email_address, e.phone AS phone"
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
        # Board pushes and the family round's rows say nothing of reaching the employee.
        f" WHERE r.alert_id = ?{where} AND a.id IS NULL AND d.kind NOT IN (?, ?) ORDER BY d.id",
        [alert_id, *params, DeliveryKind.BOARD.value, DeliveryKind.FAMILY.value],
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
                names.get(row["department_id"], _no_department()),
                row["line_id"] is not None,
                _shown_state(line),
                _shown_state(email),
                line_out,
                email_out,
                row["email_address"] or "",
                row["phone"] or "",
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
    family: str = ""  # the family members' status, where the sheet has the column


@dataclass(frozen=True)
class AnswerSheet:
    """The answers in scope, one row per person, with the item labels as columns."""

    title: str
    drill: bool
    labels: tuple[str, ...]
    rows: list[SheetRow]
    family: bool = False  # a family column (family_visible on, an alert with family)

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
    summary = await family_summary(alert, scope)
    sheet = AnswerSheet(alert.title, alert.drill, labels, [], family=summary is not None)
    families = summary.by_employee() if summary is not None else {}
    for entry in await _answers(alert, scope):
        sheet.rows.append(
            SheetRow(
                entry.code,
                entry.name,
                entry.department,
                tuple(choice for _, choice, _ in entry.choices),
                entry.message,
                entry.answered_at,
                entry.channel,
                families.get(entry.code, ""),
            )
        )
    sheet.rows.sort(key=lambda r: (r.department, r.code))
    return sheet


@dataclass(frozen=True)
class AnswerEntry:
    """One person's current answer as the console lists it: each item's choice (with whether
    it is worrying), their message, when, by which way, and who entered it for them."""

    code: str
    name: str
    department: str
    choices: tuple[tuple[str, str, bool], ...]  # (item, choice, worrying)
    message: str
    answered_at: datetime
    channel: str
    entered_by: str | None = None

    @property
    def worrying(self) -> bool:
        """Whether any choice is a worrying one."""
        return any(w for _, _, w in self.choices)


@dataclass(frozen=True)
class AnswerFilter:
    """Which answers to list: worrying ones only (any item's choice a worrying one); holding
    `choice` for `item` (without a choice: a worrying choice for it); whose name or code holds
    `search`. Applied in the database (`_filter_sql`)."""

    worrying_only: bool = False
    item: str = ""
    choice: str = ""
    search: str = ""
    page: int = 1
    per_page: int = 50


@dataclass(frozen=True)
class AnswerList:
    """One page of answers, newest first, and how many matched in all."""

    entries: list[AnswerEntry]
    matched: int
    page: int
    pages: int


MAX_SEARCH_LENGTH = 50
# A page number beyond any list (500 a page): whatever a URL asks, the offset stays a number
# both databases take.
MAX_PAGE = 1_000_000


async def answer_list(alert_id: int, scope: Scope, query: AnswerFilter) -> AnswerList:
    """The answers in scope, newest first, narrowed by `query` and paged: the alert page's
    list of who needs help (worrying choices) and the list of everyone's answers."""
    return await _answer_list(await find_alert(alert_id), scope, query)


async def _answer_list(alert: Alert, scope: Scope, query: AnswerFilter) -> AnswerList:
    """Filtered, ordered and paged in the database: the live page asks for one page of a list
    that can hold every answer (reading them all cost 2 s a refresh at 100,000)."""
    per_page = max(1, min(query.per_page, 500))
    if scope.is_empty:
        return AnswerList([], 0, 1, 1)
    items = parse_items(alert.items)
    where, params = _answers_where(scope, query.search)
    narrowed, more = _filter_sql(items, query)
    found = f" WHERE r.alert_id = ?{where}{narrowed}"
    params = [alert.id, *params, *more]
    newest = "a.answered_at" if is_postgres() else "julianday(a.answered_at)"  # text on SQLite
    # One pass over the answers gives the page and how many matched in all (the test of
    # each answer's choices is most of the work; a COUNT(*) first made it twice).
    page_sql = (
        f"SELECT {_ANSWER_COLUMNS}, COUNT(*) OVER () AS matched {_ANSWERS_FROM}{found}"
        f" ORDER BY {newest} DESC, a.id DESC LIMIT ? OFFSET ?"
    )
    page = max(1, min(query.page, MAX_PAGE))  # further is past the end anyway
    rows = await fetch(page_sql, [*params, per_page, (page - 1) * per_page])
    if rows or page == 1:
        matched = int(rows[0]["matched"]) if rows else 0
    else:  # past the last page: count, and show the last one
        rows = await fetch(f"SELECT COUNT(*) AS n {_ANSWERS_FROM}{found}", params)
        matched = int(rows[0]["n"])
        page = max(1, -(-matched // per_page))
        rows = await fetch(page_sql, [*params, per_page, (page - 1) * per_page])
    pages = max(1, -(-matched // per_page))
    return AnswerList(await _entries(rows, items), matched, page, pages)


def _filter_sql(items: tuple[CheckItem, ...], query: AnswerFilter) -> tuple[str, list[Any]]:
    """The item, choice and worrying parts of `query` as SQL over the answer's stored choices
    (`a.choices`)."""
    conditions: list[str] = []
    params: list[Any] = []

    def holding(label: str, choices: tuple[str, ...]) -> str:
        if not choices:
            return "1 = 0"
        marks = ", ".join("?" * len(choices))
        params.extend([label, *choices])
        if is_postgres():
            return f"(a.choices ->> ?::text) IN ({marks})"
        return (
            "EXISTS (SELECT 1 FROM json_each(a.choices) j"
            f" WHERE j.key = ? AND j.value IN ({marks}))"
        )

    if query.worrying_only:
        worrying = [holding(item.label, item.worrying_choices) for item in items]
        conditions.append("(" + " OR ".join(worrying or ["1 = 0"]) + ")")
    if query.item:
        item = next((i for i in items if i.label == query.item), None)
        if item is None:
            conditions.append("1 = 0")
        else:
            wanted = (query.choice,) if query.choice else item.worrying_choices
            conditions.append(holding(item.label, wanted))
    return "".join(f" AND {c}" for c in conditions), params


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


_ANSWER_COLUMNS = (
    "e.code AS code, e.name AS name, r.department_id AS department_id,"
    " a.choices AS choices, a.message AS message, a.answered_at AS answered_at,"
    " a.channel AS channel, a.entered_by AS entered_by"
)
_ANSWERS_FROM = (
    "FROM alert_recipient r JOIN employee e ON e.id = r.employee_id"
    " JOIN answer a ON a.alert_id = r.alert_id AND a.employee_id = r.employee_id"
)


def _answers_where(scope: Scope, search: str) -> tuple[str, list[Any]]:
    """The scope's departments, and whose name or code holds `search`."""
    where, params = scope.where("r.department_id")
    search = search.strip()[:MAX_SEARCH_LENGTH]
    if search:
        where += " AND (e.code LIKE ? ESCAPE '\\' OR e.name LIKE ? ESCAPE '\\')"
        params = [*params, _like(search), _like(search)]
    return where, params


async def _answers(alert: Alert, scope: Scope, search: str = "") -> list[AnswerEntry]:
    """Every current answer among the recipients in scope (optionally whose name or code
    holds `search`)."""
    if scope.is_empty:
        return []
    where, params = _answers_where(scope, search)
    rows = await fetch(
        f"SELECT {_ANSWER_COLUMNS} {_ANSWERS_FROM} WHERE r.alert_id = ?{where}",
        [alert.id, *params],
    )
    return await _entries(rows, parse_items(alert.items))


async def _entries(rows: list[dict[str, Any]], items: tuple[CheckItem, ...]) -> list[AnswerEntry]:
    """Answer rows (`_ANSWER_COLUMNS`) as the console lists them."""
    names = await _department_names({row["department_id"] for row in rows})
    found = []
    for row in rows:
        choices = _choices(row["choices"])
        answered_at = row["answered_at"]
        if isinstance(answered_at, str):
            answered_at = datetime.fromisoformat(answered_at)
        if answered_at.tzinfo is None:
            answered_at = answered_at.replace(tzinfo=UTC)
        found.append(
            AnswerEntry(
                row["code"],
                row["name"],
                names.get(row["department_id"], _no_department()),
                tuple(
                    (
                        item.label,
                        str(choices.get(item.label, "")),
                        choices.get(item.label) in item.worrying_choices,
                    )
                    for item in items
                ),
                row["message"] or "",
                answered_at,
                _channel_name(row["channel"]),
                row["entered_by"],
            )
        )
    return found
