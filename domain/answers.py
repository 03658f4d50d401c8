"""Answering an alert: who may answer, what a valid answer is, and its revisions."""

import asyncio
import functools
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from domain.actors import Actor
from domain.audit import audited
from domain.check_items import CheckItem, stored_items
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.i18n import current_language, speaking
from domain.i18n import gettext as _
from domain.linking import LINKED_EMPLOYEE
from domain.notify import Topic, notifier
from domain.organization import adopt_reported_language
from domain.scope import Scope
from models import Alert, AlertRecipient, Answer, AnswerChannel, Employee
from models.answers import ANSWERED, NO_DEPARTMENT, SHARDS, WHOLE
from models.sql import (
    as_model,
    postgres_batch,
    postgres_client,
    postgres_statements,
    sqlite_transaction,
)

MAX_MESSAGE_LENGTH = 1000
# An error names at most this many problems, and echoes at most this much of any input.
MAX_NAMED_PROBLEMS = 5
MAX_ECHOED_LENGTH = 20


@dataclass(frozen=True)
class AlertView:
    """An alert as its recipient sees it, with their current answer."""

    alert_row: Mapping[str, Any]  # the alert's columns as read (the answerer's beside them)
    items: tuple[CheckItem, ...]
    answer: Answer | None
    language: str = ""  # the answerer's stored language ("" = not chosen: Japanese)

    @functools.cached_property
    def alert(self) -> Alert:
        """The alert, built when a face first asks (the LIFF answer's reply does not)."""
        return as_model(Alert, self.alert_row)

    @property
    def confirm_only(self) -> bool:
        """A plain notice: no check items, answered by confirming it (answered = confirmed)."""
        return not self.items

    @property
    def submit_label(self) -> str:
        """The form's button: 確認しました for a plain notice, the answer button otherwise."""
        return _("確認しました") if self.confirm_only else _("回答")


def closed_message() -> str:
    """Why a closed alert takes no answer, in the current language."""
    return _("この安否確認は終了しているため回答できません。")


def not_linked_message() -> str:
    """Why a LINE user who has not linked cannot answer, in the current language."""
    return _(
        "このLINEアカウントは社員情報と連携されていません。"
        "トークで「連携」と送信して連携してから回答してください。"
    )


# Who may see an alert and answer it: an active employee on its roster, whichever way they come.
# The LIFF face names them by the LINE user its ID token was verified for
# (`linking.LINKED_EMPLOYEE`, active only), an e-mail link by the employee's ID
# (`_ACTIVE_EMPLOYEE`, the same rule). A row: the answerer's employee ID and the alert's
# columns (NULL when not on the roster); no row: no active employee (not linked, or retired).
_ACTIVE_EMPLOYEE = "SELECT e.* FROM employee e WHERE e.id = ? AND e.active"
_ON_ROSTER = (
    "SELECT e.id AS answerer_id, e.language AS answerer_language,"
    " r.department_id AS roster_department, a.* FROM ({answerer}) e"
    " LEFT JOIN alert_recipient r ON r.employee_id = e.id AND r.alert_id = ?"
    " LEFT JOIN alert a ON a.id = r.alert_id"
)
_BY_EMPLOYEE = _ON_ROSTER.format(answerer=_ACTIVE_EMPLOYEE)
_BY_LINE_USER = _ON_ROSTER.format(answerer=LINKED_EMPLOYEE)
_ANSWER = "SELECT * FROM answer WHERE alert_id = ? AND employee_id = ?"


@dataclass(frozen=True)
class _Answerer:
    """Who is asking: an employee (by ID), or a verified LINE user (by user ID)."""

    key: int | str
    by_line_user: bool = False

    @property
    def sql(self) -> str:
        """The statement reading the answerer and the alert (`params`)."""
        return _BY_LINE_USER if self.by_line_user else _BY_EMPLOYEE

    def params(self, alert_id: int) -> list[Any]:
        # An alert number past PostgreSQL's int names no alert: look up none (0), still
        # telling an unlinked user first that they are not linked.
        return [self.key, alert_id if 0 < alert_id < 2**31 else 0]

    def recipient(self, row: Any) -> tuple[int, Any, tuple[CheckItem, ...], str]:
        """The answerer's employee ID, the row (the alert's columns), the alert's items and
        the answerer's language from a row of `sql`, or the refusal: not linked or retired,
        then not found (no enumeration)."""
        if row is None and self.by_line_user:
            raise Forbidden(not_linked_message(), code="not_linked")
        if row is None:
            raise Forbidden(_("この社員情報は無効になっているため回答できません。"), code="retired")
        if row["id"] is None:
            with speaking(row["answerer_language"] or current_language()):
                raise NotFound(_("指定された安否確認が見つかりません。"), code="alert_not_found")
        # The items' JSON text as both databases return it, parsed once per distinct text.
        return row["answerer_id"], row, stored_items(row["items"]), row["answerer_language"]


def _department(row: Any) -> int:
    """The answerer's department on the alert's roster, as the counts key it."""
    return row["roster_department"] or NO_DEPARTMENT


async def _view(
    answerer: _Answerer, alert_id: int, reported_language: str | None = None
) -> AlertView:
    params = answerer.params(alert_id)
    # Every read and write here is one hop to the database on SQLite: the statements run in
    # the connection's own thread (`sqlite_transaction`).
    if (client := postgres_client()) is not None:
        async with postgres_statements(client) as run:
            rows = await run(answerer.sql, params)
            employee_id, alert, items, language = answerer.recipient(rows[0] if rows else None)
            _items_read(alert)  # the answer that follows the form takes one round trip
            answers = await run(_ANSWER, [alert["id"], employee_id])
        answer = answers[0] if answers else None
    else:

        def read(db: sqlite3.Connection) -> tuple[Any, Any]:
            recipient = answerer.recipient(db.execute(answerer.sql, params).fetchone())
            employee_id, alert, _, _ = recipient
            return recipient, db.execute(_ANSWER, [alert["id"], employee_id]).fetchone()

        (employee_id, alert, items, language), answer = await sqlite_transaction(read)
    if reported_language and not language:
        language = await adopt_reported_language(employee_id, reported_language)
    return AlertView(alert, items, None if answer is None else as_model(Answer, answer), language)


async def alert_for(alert_id: int, employee: Employee) -> AlertView:
    """The alert if this employee is active and on its roster; Forbidden (`retired`) for a
    retired employee, NotFound otherwise (no enumeration)."""
    return await _view(_Answerer(employee.id), alert_id)


async def alert_for_line_user(
    user_id: str, alert_id: int, reported_language: str | None = None
) -> AlertView:
    """`alert_for` the active employee this (verified) LINE user is linked to; Forbidden
    (`not_linked`) when there is none. `reported_language` (what LIFF says the phone
    speaks) becomes the employee's language when they have none yet."""
    return await _view(_Answerer(user_id, by_line_user=True), alert_id, reported_language)


def _shown(text: str) -> str:
    """User input echoed in an error, cut short so a reply is never larger than the input."""
    return text if len(text) <= MAX_ECHOED_LENGTH else text[:MAX_ECHOED_LENGTH] + "…"


def validate_answer(
    items: tuple[CheckItem, ...], choices: Any, message: Any
) -> tuple[dict[str, str], str]:
    """Check choices against the alert's items; raise Invalid naming the first few problems."""
    if not isinstance(choices, dict):
        raise Invalid(_("回答の形式が正しくありません。"), code="invalid_answer")
    if len(choices) > len(items):
        # Named one by one, thousands of made-up labels would make a reply larger than them.
        raise Invalid(
            _("回答に、この連絡にない確認項目が含まれています。回答画面を開き直してください。"),
            code="invalid_answer",
        )
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in choices.items()):
        raise Invalid(_("回答の形式が正しくありません。"), code="invalid_answer")
    if message is None:
        message = ""
    if not isinstance(message, str):
        raise Invalid(_("安否回答メッセージの形式が正しくありません。"), code="invalid_answer")
    message = message.strip()
    problems: dict[str, str] = {}
    labels = {item.label for item in items}
    for label in choices:
        if label not in labels:
            problems[_shown(label)] = _(
                "確認項目「%(label)s」はこの連絡にありません。", label=_shown(label)
            )
    cleaned: dict[str, str] = {}
    for item in items:
        label = item.label
        choice = choices.get(label, "")
        if not choice:
            if item.required:
                problems[label] = _("「%(label)s」を選択してください。", label=label)
            continue
        if choice not in item.choices:
            problems[label] = _(
                "「%(label)s」の選択肢「%(choice)s」は選べません。",
                label=label,
                choice=_shown(choice),
            )
            continue
        cleaned[label] = choice
    if len(message) > MAX_MESSAGE_LENGTH:
        problems["message"] = _(
            "安否回答メッセージは%(n)s文字以内で入力してください。", n=MAX_MESSAGE_LENGTH
        )
    if problems:
        named = dict(list(problems.items())[:MAX_NAMED_PROBLEMS])
        more = len(problems) - len(named)
        listed = " ".join(named.values())
        if more:
            listed = _("%(listed)s ほか%(n)s件", listed=listed, n=more)
        raise Invalid(
            _("入力内容を確認してください: %(problems)s", problems=listed),
            code="invalid_answer",
            fields=named,
        )
    return cleaned, message


async def submit_answer(
    alert_id: int,
    employee: Employee,
    choices: Any,
    message: Any,
    channel: AnswerChannel,
) -> Answer:
    """Record an answer; answering again replaces it and keeps the earlier revision."""
    view = await _record(_Answerer(employee.id), alert_id, choices, message, channel)
    assert view.answer is not None
    return view.answer


class NotInScope(Forbidden):
    """A console user named someone outside their departments (or not on the roster)."""

    def __init__(self) -> None:
        super().__init__(
            _("この社員の回答を代理で入力する権限がないか、この連絡の対象ではありません。"),
            code="out_of_scope",
        )


async def enter_answer_for(
    actor: Actor, alert_id: int, employee_code: str, choices: Any, message: Any, scope: Scope
) -> AlertView:
    """代理回答: a console user records the answer of someone on the roster within their
    scope who told it another way (a phone call); channel `console`, `entered_by` the user,
    audited as `answer_entered_for` (which employee, never what they said)."""
    code = employee_code.strip()
    target = f"alert:{alert_id}"
    async with audited(actor, "answer_entered_for", target=target) as audit:
        audit.detail = {"employee": code[:32]}
        employee = await Employee.get_or_none(code=code) if code else None
        recipient = (
            await AlertRecipient.get_or_none(alert_id=alert_id, employee_id=employee.id)
            if employee is not None and 0 < alert_id < 2**31
            else None
        )
        if recipient is None or not scope.includes(recipient.department_id):
            raise NotInScope()
        assert employee is not None
        view = await _record(
            _Answerer(employee.id),
            alert_id,
            choices,
            message,
            AnswerChannel.CONSOLE,
            entered_by=actor.name,
            announce=False,
        )
    await _announce(str(view.alert.id))
    return view


async def answer_as_line_user(
    user_id: str,
    alert_id: int,
    choices: Any,
    message: Any,
    channel: AnswerChannel,
) -> AlertView:
    """`submit_answer` as the active employee this (verified) LINE user is linked to
    (Forbidden `not_linked` when there is none); return the alert as they now see it."""
    return await _record(_Answerer(user_id, by_line_user=True), alert_id, choices, message, channel)


async def _record(
    answerer: _Answerer,
    alert_id: int,
    choices: Any,
    message: Any,
    channel: AnswerChannel,
    entered_by: str | None = None,
    announce: bool = True,
) -> AlertView:
    now = datetime.now(UTC)
    params = answerer.params(alert_id)

    def accept(row: Any) -> tuple[Any, tuple[CheckItem, ...], list[Any], dict[str, str], str]:
        # Who may answer and what a valid answer is, before anything is written.
        employee_id, alert, items, language = answerer.recipient(row)
        # A refusal from here on speaks the answerer's own language (unset: the face's).
        with speaking(language or current_language()):
            if alert["closed_at"] is not None:
                raise Conflict(closed_message(), code="alert_closed")
            cleaned, text = validate_answer(items, choices, message)
        # Encoded as the ORM encodes them.
        encoded = Answer._meta.fields_map["choices"].to_db_value(cleaned, Answer)
        values = [employee_id, encoded, text, channel.value, now, entered_by, alert["id"]]
        return alert, items, [*values, _department(row)], cleaned, language

    async def one_trip(
        client: BaseDBAsyncClient, known: str
    ) -> tuple[Any, tuple[int, int, Any]] | None:
        """Check the answer against the items read before (`known`) and store it in one
        statement, with the answers arriving meanwhile; as `accept` and the stored answer,
        or None where the slower path must decide (a refusal, items no longer those)."""
        try:
            cleaned, text = validate_answer(stored_items(known), choices, message)
        except Invalid:
            return None
        encoded = Answer._meta.fields_map["choices"].to_db_value(cleaned, Answer)
        rows = await postgres_batch(
            client,
            _POSTGRES_ANSWERS[answerer.sql],
            [*params, cleaned, text, channel.value, now.isoformat(), entered_by, known],
        )
        if not rows or rows[0]["stored_id"] is None:
            return None
        row = rows[0]
        values = [row["answerer_id"], encoded, text, channel.value, now, entered_by, row["id"]]
        accepted = row, stored_items(known), values, cleaned, row["answerer_language"]
        return accepted, (row["stored_id"], row["stored_revision"], row["stored_previous"])

    try:
        if (client := postgres_client()) is not None:
            known = _ITEMS_READ.get(alert_id)
            outcome = None if known is None else await one_trip(client, known)
            if outcome is None:  # read, check, store: a refusal in the answerer's words
                async with postgres_statements(client) as run:
                    rows = await run(answerer.sql, params)
                    accepted = accept(rows[0] if rows else None)
                    _items_read(accepted[0])
                    rows = await run(_POSTGRES_UPSERT, accepted[2])
                    outcome = (
                        accepted,
                        (
                            (rows[0]["id"], rows[0]["revision"], rows[0]["previous_choices"])
                            if rows
                            else None
                        ),
                    )
            (alert, items, values, cleaned, language), stored = outcome
        else:

            def write(db: sqlite3.Connection) -> tuple[Any, tuple[int, int, Any] | None]:
                # The alert is read in the transaction that writes: no close slips between.
                accepted = accept(db.execute(answerer.sql, params).fetchone())
                values = accepted[2]
                row = db.execute(_SQLITE_UPSERT, values[:-1]).fetchone()
                if row is None:
                    return accepted, None
                db.execute(_SQLITE_REVISION, [row[0]])
                previous = json.loads(row[2]) if row[2] is not None else None
                db.executemany(
                    _COUNT, _count_changes(values[6], values[-1], values[0], accepted[3], previous)
                )
                return accepted, (row[0], row[1], previous)

            (alert, items, values, cleaned, language), stored = await sqlite_transaction(write)
    except IntegrityError:  # the employee or the alert was deleted meanwhile
        raise Conflict(_("回答を保存できませんでした。もう一度お試しください。")) from None
    if stored is None:  # closed between the check and the write (PostgreSQL)
        with speaking(language or current_language()):
            raise Conflict(closed_message(), code="alert_closed")
    answer_id, revision, previous = stored
    employee_id, text = values[0], values[2]
    answer = as_model(  # the choices as validated, not decoded again from what was stored
        Answer,
        {"id": answer_id, "alert_id": alert["id"], "employee_id": employee_id, "choices": cleaned,
         "message": text, "channel": channel.value, "revision": revision, "answered_at": now,
         "entered_by": entered_by, "previous_choices": previous},
    )  # fmt: skip
    if announce:  # otherwise the caller announces once its transaction has committed
        await _announce(str(alert["id"]))
    return AlertView(alert, items, answer, language)


@dataclass
class _Announcing:
    """An alert with a publish of its answers on its way or just sent, in one event loop."""

    loop: asyncio.AbstractEventLoop
    came: bool = False  # answers were stored since


# Alerts with a publish of their answers on its way or just sent. Under a stream of answers an
# alert is announced every ANNOUNCE_PAUSE seconds at most (live views merge what comes within
# 0.2 s anyway). An entry holds only in the loop that made it: a loop closed before its
# follow-up ran (the follow-up is what removes the entry) must not keep the alert silent in
# the next loop of the process (a test's, a command's).
_announcing: dict[str, _Announcing] = {}
_follow_ups: set[asyncio.Task[None]] = set()
ANNOUNCE_PAUSE = 0.1


async def _announce(alert_id: str) -> None:
    """Tell live views (`Topic.ANSWER`) that an answer to the alert was stored (committed).

    On PostgreSQL a publish is a NOTIFY: a round trip, and a message to every process (one
    an answer cost a tenth of the answers a second). Answers stored while a publish for the
    same alert is on its way, or within ANNOUNCE_PAUSE after it, send none of their own: one
    more publish follows (in the background), so every answer is still followed by a
    notification, and a stream of answers costs one every ANNOUNCE_PAUSE."""
    loop = asyncio.get_running_loop()
    pending = _announcing.get(alert_id)
    if pending is not None and pending.loop is loop:
        pending.came = True
        return
    pending = _announcing[alert_id] = _Announcing(loop)
    try:
        await notifier.publish(Topic.ANSWER, alert_id)
    except asyncio.CancelledError:  # the process stopping: no follow-up, the alert is free
        _release(alert_id, pending)
        raise
    finally:
        if _announcing.get(alert_id) is pending:  # sent, or failed: the follow-up frees it
            _follow(alert_id, pending)


def _follow(alert_id: str, pending: _Announcing) -> None:
    task = asyncio.create_task(_follow_up(alert_id, pending))
    _follow_ups.add(task)
    task.add_done_callback(_follow_ups.discard)


def _release(alert_id: str, pending: _Announcing) -> bool:
    """Free the alert for the next publish; whether answers came meanwhile."""
    if _announcing.get(alert_id) is pending:
        del _announcing[alert_id]
    return pending.came


async def _pause() -> None:
    await asyncio.sleep(ANNOUNCE_PAUSE)


async def _follow_up(alert_id: str, pending: _Announcing) -> None:
    """After a publish: wait ANNOUNCE_PAUSE, then publish once more if answers came."""
    try:
        await _pause()
    finally:  # cancelled too (the process stopping): the alert is free again
        came = _release(alert_id, pending)
    if came:
        await _announce(alert_id)


# The answer is written with one upsert (a first answer inserts revision 1, a later one adds
# 1 to the stored revision) that also refuses a closed alert, and the revision row is copied
# from the stored answer. PostgreSQL does both in one statement; SQLite (no writes inside
# WITH) in the transaction that read the alert, start to finish in the database's thread.
_INSERT_ANSWER = (
    "INSERT INTO answer"
    " (alert_id, employee_id, choices, message, channel, revision, answered_at, entered_by)"
)
_ON_CONFLICT = (
    " ON CONFLICT (alert_id, employee_id) DO UPDATE SET choices = excluded.choices,"
    " message = excluded.message, channel = excluded.channel,"
    " revision = answer.revision + 1, answered_at = excluded.answered_at,"
    " entered_by = excluded.entered_by, previous_choices = answer.choices"
)
_UPSERT = (
    _INSERT_ANSWER + " SELECT id, {employee}, {choices}, ?, ?, 1, {now}, {entered_by} FROM alert"
    " WHERE id = ? AND closed_at IS NULL" + _ON_CONFLICT
)
_REVISION = (
    "INSERT INTO answer_revision"
    " (answer_id, revision, choices, message, channel, answered_at, entered_by)"
    " SELECT id, revision, choices, message, channel, answered_at, entered_by FROM {answer}"
)
# The counts of the alert move in the same transaction: a first answer adds one answered
# to the answerer's department (of the roster) and one to each choice; a later one moves
# each choice it changed (`previous_choices`, the stored choices it replaced, written by the
# upsert itself so two answers racing cannot both move the same old choice). Rows are taken
# in (item, choice) order, so two transactions never wait on each other's rows in a cycle.
# An answer sent again unchanged moves nothing, and on PostgreSQL skips the counting
# altogether (about a fifth of the statement's time in the database).
_COUNTED = (
    " ON CONFLICT (alert_id, department_id, item, choice, shard)"
    " DO UPDATE SET n = answer_count.n + excluded.n"
)
_COUNT = (
    "INSERT INTO answer_count (alert_id, department_id, item, choice, shard, n)"
    " VALUES (?, ?, ?, ?, ?, ?)" + _COUNTED
)


def _count_changes(
    alert_id: int,
    department: int,
    employee_id: int,
    choices: dict[str, str],
    previous: dict[str, str] | None,
) -> list[tuple[int, int, str, str, int, int]]:
    """The rows of `answer_count` an answer moves, and by how much."""
    moves: dict[tuple[str, str], int] = {}
    if previous is None:
        moves[(WHOLE, ANSWERED)] = 1
    else:
        for item, choice in previous.items():
            moves[(item, str(choice))] = -1
    for item, choice in choices.items():
        moves[(item, choice)] = moves.get((item, choice), 0) + 1
    shard = employee_id % SHARDS
    return [
        (alert_id, department, item, choice, shard, n)
        for (item, choice), n in sorted(moves.items())
        if n
    ]


_SQLITE_UPSERT = (
    _UPSERT.format(employee="?", choices="?", now="?", entered_by="?")
    + " RETURNING id, revision, previous_choices"
)
_SQLITE_REVISION = _REVISION.format(answer="answer WHERE id = ?")
# PostgreSQL: the revision and the counts as CTEs of the statement that stores the answers,
# the counts from `{stored}` (the rows stored, as `s`) with `{department}` (the answerer's).
# Count rows are taken in their key's order, so statements never wait on each other in a cycle.
_POSTGRES_WRITE = (
    " RETURNING *), revision AS (" + _REVISION.format(answer="stored") + "), counted AS ("
    "INSERT INTO answer_count (alert_id, department_id, item, choice, shard, n)"
    f" SELECT s.alert_id, {{department}}, m.item, m.choice, s.employee_id % {SHARDS}, SUM(m.n)"
    " FROM {stored} CROSS JOIN LATERAL ("
    f" SELECT '{WHOLE}' AS item, '{ANSWERED}' AS choice, 1 AS n"
    " WHERE s.previous_choices IS NULL"
    " UNION ALL SELECT key, value, 1 FROM jsonb_each_text(s.choices)"
    " UNION ALL SELECT key, value, -1 FROM jsonb_each_text(s.previous_choices)"
    ") m WHERE s.previous_choices IS DISTINCT FROM s.choices"
    " GROUP BY 1, 2, 3, 4, 5 HAVING SUM(m.n) <> 0 ORDER BY 1, 2, 3, 4, 5" + _COUNTED + ")"
)
_POSTGRES_UPSERT = (
    "WITH stored AS ("
    + _UPSERT.format(
        employee="?::int", choices="?::jsonb", now="?::timestamptz", entered_by="?::text"
    )
    + _POSTGRES_WRITE.format(stored="stored s", department="?::int")
    + " SELECT id, revision, previous_choices FROM stored"
)


def _postgres_answers(answerer_sql: str, key_type: str) -> str:
    """One statement for a batch of answers (`postgres_batch`; each piece the answerer's key
    of `key_type`, the alert ID, then the answer: choices, message, channel, time, entered by,
    and the alert's items it was checked against as JSON text). It reads each answerer and the
    alert (`answerer_sql`) and stores the answer when they may, the alert is open and its
    items are still those; a row per answerer found, with what was stored (`stored_id` NULL:
    nothing was)."""
    before, between, after = answerer_sql.split("?")
    who = before + f"(p.d->>0)::{key_type}" + between + "(p.d->>1)::int" + after
    return (
        "WITH p AS (SELECT d, n FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS p(d, n)),"
        f" who AS (SELECT p.n AS piece, w.* FROM p CROSS JOIN LATERAL ({who}) w), stored AS ("
        + _INSERT_ANSWER
        + " SELECT w.id, w.answerer_id, p.d->2, p.d->>3, p.d->>4, 1, (p.d->>5)::timestamptz,"
        " p.d->>6 FROM who w JOIN p ON p.n = w.piece"
        " WHERE w.id IS NOT NULL AND w.closed_at IS NULL AND w.items = (p.d->>7)::jsonb"
        " ORDER BY w.id, w.answerer_id"  # rows taken in one order, as the counts' are
        + _ON_CONFLICT
        + _POSTGRES_WRITE.format(
            stored="stored s JOIN who w ON w.id = s.alert_id AND w.answerer_id = s.employee_id",
            department=f"COALESCE(w.roster_department, {NO_DEPARTMENT})",
        )
        + " SELECT w.*, s.id AS stored_id, s.revision AS stored_revision,"
        " s.previous_choices AS stored_previous FROM who w"
        " LEFT JOIN stored s ON s.alert_id = w.id AND s.employee_id = w.answerer_id"
    )


_POSTGRES_ANSWERS = {
    _BY_EMPLOYEE: _postgres_answers(_BY_EMPLOYEE, "int"),
    _BY_LINE_USER: _postgres_answers(_BY_LINE_USER, "text"),
}
# The items of alerts this process has read (alert ID -> their JSON text as PostgreSQL
# returns it): an answer to one of them is checked first and stored in one round trip, the
# statement storing it only if the alert's items are still these. Items never change once an
# alert has started; the check in the statement keeps a stale entry (another database, a
# restored backup) from letting anything through. Bounded: emptied when full.
_ITEMS_READ: dict[int, str] = {}
MAX_ITEMS_READ = 1024


def _items_read(row: Any) -> None:
    """Remember the items of the alert this row (PostgreSQL's) holds."""
    if len(_ITEMS_READ) >= MAX_ITEMS_READ:
        _ITEMS_READ.clear()
    _ITEMS_READ[row["id"]] = row["items"]


@dataclass(frozen=True)
class OpenAlert:
    """An open alert addressed to an employee, and whether they have answered it."""

    alert: Alert
    answered: bool


async def open_alerts_for(employee: Employee, limit: int = 10) -> list[OpenAlert]:
    """The open alerts on this employee's roster, newest first, with their answered state."""
    alerts = (
        await Alert.filter(recipients__employee_id=employee.id, closed_at__isnull=True)
        .order_by("-started_at", "-id")
        .limit(limit)
    )
    answered = set(
        await Answer.filter(
            employee_id=employee.id, alert_id__in=[a.id for a in alerts]
        ).values_list("alert_id", flat=True)
    )
    return [OpenAlert(alert, alert.id in answered) for alert in alerts]


async def latest_alert_for(employee: Employee) -> AlertView | None:
    """The newest alert (open or closed) on this employee's roster with their current answer,
    or None when no alert ever reached them."""
    recipient = (
        await AlertRecipient.filter(employee_id=employee.id)
        .order_by("-alert__started_at", "-alert_id")
        .first()
    )
    if recipient is None:
        return None
    return await alert_for(recipient.alert_id, employee)
