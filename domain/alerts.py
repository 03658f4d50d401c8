"""Alerts: starting one (roster and deliveries written with it), reminding those who have not
answered, closing it, and how every face names it (the drill marking, the sender)."""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from domain.actors import Actor
from domain.audit import audited
from domain.check_items import parse_items
from domain.contacts import email_addresses
from domain.delivery import write_line_batches
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.family import add_family_round
from domain.i18n import DEFAULT_LANGUAGE, LANGUAGES, language_of, translate
from domain.i18n import gettext as _
from domain.notify import Topic, notifier
from domain.scope import Scope
from models import (
    Alert,
    AlertRecipient,
    AlertRound,
    Answer,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Department,
    Employee,
    LineAccount,
    Medium,
    Template,
)
from models.answers import ANSWERED, NO_DEPARTMENT, RECIPIENTS, WHOLE
from models.sql import fetch, positional

log = logging.getLogger(__name__)

DEFAULT_SENDER = "安否確認システム"
DRILL_MARK = "【訓練】"
MAX_SENDER_LENGTH = 100
MAX_FOLLOW_UP_LENGTH = 1000
MAX_TITLE_LENGTH = 200
MAX_MESSAGE_LENGTH = 2000
EVERYONE = Scope.everything()  # a sender no department limits


class NoRecipients(Invalid):
    """An alert (or its preview) would reach nobody: the one refusal every face shows."""

    def __init__(self) -> None:
        super().__init__(
            _("対象の社員がいません。部署の指定を確認してください。"), code="no_recipients"
        )


@dataclass(frozen=True)
class StartedAlert:
    """An alert just started, with how many people it reaches by which medium."""

    alert: Alert
    recipients: int
    line_deliveries: int
    unreachable: int


@dataclass(frozen=True)
class Reminder:
    """A reminder round just written: its number and how many it reaches by which medium
    (`email_deliveries` counts addresses, `email_recipients` people)."""

    alert: Alert
    round: int
    unanswered: int
    line_deliveries: int
    email_deliveries: int = 0
    email_recipients: int = 0
    recipients: int = 0  # people the round reaches by any medium


def display_title(title: str, drill: bool) -> str:
    """The title as every face shows it: a drill is marked 【訓練】 everywhere."""
    return f"{DRILL_MARK}{title}" if drill else title


def display_sender(sender_name: str) -> str:
    """連絡者 as the seed's screen writes it: 【総務部】."""
    return f"【{sender_name}】"


def template_options(template: Template) -> dict[str, Any]:
    """The template's delivery settings an alert freezes with it besides its media switches
    (`Alert.create(..., **template_options(template))`): how e-mail follows LINE, and the
    scheduled reminders with their follow-up message (二次連絡)."""
    return {
        "email_mode": template.email_mode,
        "fallback_delay_minutes": template.fallback_delay_minutes,
        "reminder_interval_minutes": template.reminder_interval_minutes,
        "reminder_max": template.reminder_max,
        "follow_up_message": template.follow_up_message,
    }


def english_wording(template: Template, title: str | None, message: str | None) -> dict[str, str]:
    """The template's English title and message an alert freezes, each only where the sender
    did not write their own words (those are shown as written, in every language)."""
    return {
        "title_en": "" if (title or "").strip() else template.title_en,
        "message_en": "" if (message or "").strip() else template.message_en,
    }


def shown_wording(alert: Alert, language: str) -> tuple[str, str]:
    """The alert's title (with the drill marking) and message for a reader of `language`;
    English falls back to the Japanese field by field."""
    english = language == "en"
    title = alert.title_en if english and alert.title_en else alert.title
    message = alert.message_en if english and alert.message_en else alert.message
    if alert.drill:
        title = translate(language, "【訓練】") + title
    return title, message


async def find_template(ref: str) -> Template:
    """A template by key or numeric ID."""
    template = await Template.get_or_none(key=ref)
    if template is None and ref.isdigit() and int(ref) < 2**31:
        template = await Template.get_or_none(id=int(ref))
    if template is None:
        raise NotFound(_("テンプレート %(ref)s が見つかりません。", ref=repr(ref)))
    return template


async def find_alert(alert_id: int) -> Alert:
    """An alert by number."""
    alert = await Alert.get_or_none(id=alert_id) if 0 < alert_id < 2**31 else None
    if alert is None:
        raise NotFound(_("連絡 %(id)s が見つかりません。", id=alert_id), code="alert_not_found")
    return alert


async def find_departments(refs: list[str]) -> list[Department]:
    """Departments by numeric ID or exact name; an unknown or ambiguous name is an error."""
    found: list[Department] = []
    for ref in refs:
        matches = await Department.filter(name=ref)
        if not matches and ref.isdigit() and int(ref) < 2**31:
            matches = await Department.filter(id=int(ref))
        if not matches:
            raise NotFound(_("部署 %(ref)s が見つかりません。", ref=repr(ref)))
        if len(matches) > 1:
            raise Invalid(_("部署名 %(ref)s が複数あります。IDで指定してください。", ref=repr(ref)))
        found.append(matches[0])
    return found


def _sender(sender_name: str) -> str:
    sender_name = sender_name.strip() or DEFAULT_SENDER
    if len(sender_name) > MAX_SENDER_LENGTH:
        raise Invalid(_("連絡者は%(n)s文字以内にしてください。", n=MAX_SENDER_LENGTH))
    return sender_name


def wording(template: Template, title: str | None, message: str | None) -> tuple[str, str]:
    """The title and 連絡メッセージ an alert sends: the sender's own words for the moment,
    or the template's where they wrote none."""
    title = (title or "").strip() or template.title
    message = (message or "").strip() or template.message
    if len(title) > MAX_TITLE_LENGTH:
        raise Invalid(_("タイトルは%(n)s文字以内にしてください。", n=MAX_TITLE_LENGTH))
    if len(message) > MAX_MESSAGE_LENGTH:
        raise Invalid(_("連絡メッセージは%(n)s文字以内にしてください。", n=MAX_MESSAGE_LENGTH))
    return title, message


async def _targets(departments: list[Department] | None) -> QuerySet[Employee]:
    """Who an alert to these departments (and those nested below them) reaches."""
    employees = Employee.filter(active=True)
    if departments:
        employees = (await Scope.departments([d.id for d in departments])).filter(employees)
    return employees


@dataclass(frozen=True)
class AlertPreview:
    """What starting an alert would send, for the confirm step."""

    template: Template
    departments: list[Department]
    drill: bool
    title: str
    message: str
    recipients: int
    plain_title: str = ""  # the title without the drill marking, as the sender may edit it


async def within_scope(departments: list[Department] | None, scope: Scope) -> list[Department]:
    """The departments a sender limited to `scope` may address: the chosen ones, each inside
    it (Forbidden otherwise), or, none chosen, the whole scope instead of everyone."""
    if scope.is_everything:
        return departments or []
    allowed = scope.department_ids or frozenset()
    if not departments:  # the scope's top departments (the alert reaches those below too)
        found = await Department.filter(id__in=sorted(allowed)).order_by("id")
        return [d for d in found if d.parent_id not in allowed]
    if any(d.id not in allowed for d in departments):
        raise Forbidden(_("担当外の部署には発信できません。"), code="out_of_scope")
    return departments


async def preview_alert(
    template: Template,
    *,
    drill: bool,
    departments: list[Department] | None = None,
    title: str | None = None,
    message: str | None = None,
    scope: Scope = EVERYONE,
) -> AlertPreview:
    """The title (with the drill marking), message and number of people an alert would
    reach within the sender's scope, the sender's own title and message where given;
    nothing is written. An alert reaching nobody is NoRecipients."""
    parse_items(template.items)
    title, message = wording(template, title, message)
    departments = await within_scope(departments, scope)
    recipients = await (await _targets(departments)).count()
    if not recipients:
        raise NoRecipients()
    return AlertPreview(
        template, departments, drill, display_title(title, drill), message, recipients, title
    )


# The roster and the LINE outbox of a new alert, written set-based in the alert's transaction
# (100,000 employees are two statements, not 200,000 ORM objects). `{departments}` narrows
# both to the targeted departments and those below them.
ROSTER_SQL = """
INSERT INTO alert_recipient (alert_id, employee_id, department_id)
SELECT ?, e.id, e.department_id FROM employee e
WHERE e.active{departments}
ORDER BY e.id
"""
# The roster's size per department, where the tally reads it (`answer_count`).
ROSTER_COUNT_SQL = f"""
INSERT INTO answer_count (alert_id, department_id, item, choice, shard, n)
SELECT alert_id, COALESCE(department_id, {NO_DEPARTMENT}), '{WHOLE}', '{RECIPIENTS}', 0, COUNT(*)
FROM alert_recipient WHERE alert_id = ?
GROUP BY alert_id, COALESCE(department_id, {NO_DEPARTMENT})
"""
# The language an employee's messages are rendered in (`language_of` in SQL).
ROW_LANGUAGE = "CASE e.language WHEN 'en' THEN 'en' ELSE 'ja' END"
# Only a reachable LINE account (followed, not blocked) gets a delivery, to its user ID.
# One statement per language, so each language's rows take consecutive ids and the batches of
# 500 (domain/delivery.py `write_line_batches`) never mix languages.
LINE_OUTBOX_SQL = f"""
INSERT INTO delivery
    (alert_id, employee_id, kind, "round", medium, address, status, attempts, created_at,
     language, batched)
SELECT ?, e.id, ?, 0, ?, a.user_id, ?, 0, ?, {ROW_LANGUAGE}, ?
FROM employee e JOIN line_account a ON a.employee_id = e.id
WHERE e.active AND a.followed AND NOT a.blocked AND {ROW_LANGUAGE} = ?{{departments}}
ORDER BY e.id
"""


async def start_alert(
    actor: Actor,
    template: Template,
    *,
    drill: bool,
    sender_name: str = DEFAULT_SENDER,
    departments: list[Department] | None = None,
    title: str | None = None,
    message: str | None = None,
    scope: Scope = EVERYONE,
) -> StartedAlert:
    """Freeze the template (with the sender's own title and message where given) into an
    alert and write its roster, deliveries and audit row atomically, only within the
    sender's scope; then wake the delivery engine."""
    async with audited(actor, "alert_started") as audit:
        departments = await within_scope(departments, scope)
        started = await create_alert(
            template,
            drill=drill,
            sender_name=sender_name,
            departments=departments,
            title=title,
            message=message,
        )
        audit.target = f"alert:{started.alert.id}"
        audit.detail = {
            "drill": drill,
            "template": template.key,
            "departments": [d.id for d in departments or []],
            "recipients": started.recipients,
        }
    await wake_delivery(started)
    return started


async def wake_delivery(started: "StartedAlert | Reminder") -> None:
    """Tell the delivery engines (every process) that an alert or round has LINE work; call
    after the transaction that wrote it has committed."""
    if started.line_deliveries:
        await notifier.publish(Topic.DELIVERY, str(started.alert.id))


async def create_alert(
    template: Template,
    *,
    drill: bool,
    sender_name: str = DEFAULT_SENDER,
    departments: list[Department] | None = None,
    title: str | None = None,
    message: str | None = None,
) -> StartedAlert:
    """Write a new alert with its roster and LINE deliveries, within the caller's audited
    transaction (`start_alert`, or an admin group's confirmation); wakes nobody."""
    sender_name = _sender(sender_name)
    own_title, own_message = title, message
    title, message = wording(template, title, message)
    items = parse_items(template.items)
    if not await (await _targets(departments)).exists():
        raise NoRecipients()
    where, scope_ids = "", []
    if departments:
        scope = await Scope.departments([d.id for d in departments])
        where, scope_ids = scope.where("e.department_id")
    now = datetime.now(UTC)
    async with in_transaction() as connection:
        alert = await Alert.create(
            template=template,
            title=title,
            message=message,
            **english_wording(template, own_title, own_message),
            items=[item.to_json() for item in items],
            sender_name=sender_name,
            drill=drill,
            line_enabled=template.line_enabled,
            email_enabled=template.email_enabled,
            family=template.family,
            started_at=now,
            **template_options(template),
        )
        if departments:
            await alert.target_departments.add(*departments)
        await connection.execute_query(
            positional(connection, ROSTER_SQL.format(departments=where)), [alert.id, *scope_ids]
        )
        await connection.execute_query(positional(connection, ROSTER_COUNT_SQL), [alert.id])
        if template.line_enabled:
            for language in LANGUAGES:
                await connection.execute_query(
                    positional(connection, LINE_OUTBOX_SQL.format(departments=where)),
                    [
                        alert.id,
                        DeliveryKind.ALERT.value,
                        Medium.LINE.value,
                        DeliveryStatus.PENDING.value,
                        now,
                        True,
                        language,
                        *scope_ids,
                    ],
                )
            line_rows = await write_line_batches(connection, alert.id, 0)
        else:
            line_rows = 0
        # Counted, not taken from the driver: asyncpg reports an INSERT's OID, not its rows.
        recipients = await AlertRecipient.filter(alert_id=alert.id).count()
        if alert.family:
            await add_family_round(alert)
    log.info(
        "alert %s started (%s): %d recipients, %d by LINE",
        alert.id,
        "drill" if drill else "real",
        recipients,
        line_rows,
    )
    return StartedAlert(alert, recipients, line_rows, recipients - line_rows)


async def remind_unanswered(
    actor: Actor,
    alert_id: int,
    *,
    message: str = "",
    sender_name: str | None = None,
    scope: Scope = EVERYONE,
) -> Reminder:
    """A new delivery round to everyone on the roster who has not answered (`add_round`),
    within the sender's scope, written with its audit row; then the delivery engine is
    woken."""
    async with audited(actor, "alert_reminded", target=f"alert:{alert_id}") as audit:
        reminder = await add_round(alert_id, message=message, sender_name=sender_name, scope=scope)
        audit.detail = reminder_detail(reminder)
    await wake_delivery(reminder)
    return reminder


def reminder_detail(reminder: Reminder) -> dict[str, int]:
    """What an audit row keeps of a reminder (never the message people wrote)."""
    return {
        "round": reminder.round,
        "line": reminder.line_deliveries,
        **({"email": reminder.email_deliveries} if reminder.email_deliveries else {}),
    }


async def add_round(
    alert_id: int,
    *,
    message: str = "",
    sender_name: str | None = None,
    scope: Scope = EVERYONE,
) -> Reminder:
    """Write a reminder round within the caller's audited transaction: everyone on the roster
    who has not answered, with an optional follow-up message (二次連絡), by each medium the
    alert allows: LINE to a reachable linked account (unless LINE halted for the alert),
    e-mail to the enabled addresses of those the e-mail planner put on e-mail (round 0 has an
    e-mail delivery for them: everyone with an address in `both` mode, those LINE did not
    reach in `fallback` mode; nobody while e-mail is off), only those in `scope` (a limited
    sender's departments). A reminder that would reach nobody writes nothing. A reminder
    names the alert's own 連絡者 unless given another (who reminded is in the audit log)."""
    alert = await find_alert(alert_id)
    if alert.is_closed:
        raise Conflict(_("この連絡はすでに終了しているため再通知できません。"), code="alert_closed")
    sender_name = _sender(sender_name or alert.sender_name)
    message = message.strip()
    if len(message) > MAX_FOLLOW_UP_LENGTH:
        raise Invalid(
            _("二次連絡のメッセージは%(n)s文字以内にしてください。", n=MAX_FOLLOW_UP_LENGTH)
        )
    answered = set(await Answer.filter(alert_id=alert.id).values_list("employee_id", flat=True))
    recipients = scope.filter(AlertRecipient.filter(alert_id=alert.id))
    roster = await recipients.values_list("employee_id", flat=True)
    unanswered = [e for e in roster if e not in answered]
    accounts = (
        await LineAccount.filter(employee_id__in=unanswered, followed=True, blocked=False)
        if alert.line_enabled and alert.line_halted_at is None and unanswered
        else []
    )
    addresses = await _reminder_addresses(alert, set(unanswered))
    if not accounts and not addresses:
        return Reminder(alert, 0, len(unanswered), 0)
    reached = len({a.employee_id for a in accounts} | set(addresses))
    email_rows = sum(len(found) for found in addresses.values())
    for attempt in range(2):  # a second try covers two reminders racing for one number
        try:
            number = await write_round(
                alert, DeliveryKind.REMINDER, message, sender_name, reached, accounts, addresses
            )
            break
        except IntegrityError:
            if attempt:
                raise
    log.info(
        "alert %s reminder round %d: %d by LINE, %d e-mails",
        alert.id,
        number,
        len(accounts),
        email_rows,
    )
    return Reminder(
        alert, number, len(unanswered), len(accounts), email_rows, len(addresses), reached
    )


async def _reminder_addresses(alert: Alert, unanswered: set[int]) -> dict[int, list[str]]:
    """{employee: addresses} a reminder round e-mails: the unanswered whom round 0 reached
    (or tried to reach) by e-mail, at their addresses enabled now."""
    if not alert.email_enabled or not unanswered:
        return {}
    on_email = await (
        Delivery.filter(alert_id=alert.id, medium=Medium.EMAIL, round=0)
        .distinct()
        .values_list("employee_id", flat=True)
    )
    wanted = sorted(unanswered.intersection(on_email))
    found: dict[int, list[str]] = {}
    for start in range(0, len(wanted), 1000):
        found.update(await email_addresses(wanted[start : start + 1000]))
    return found


async def write_round(
    alert: Alert,
    kind: DeliveryKind,
    message: str,
    sender_name: str,
    reached: int,
    accounts: list[LineAccount],
    addresses: dict[int, list[str]],
) -> int:
    """Write a round of the alert (a reminder, or a board post's push) and its pending
    deliveries in one transaction, under the next round number; return that number. Its LINE
    rows go into batches of 500, each language's rows written apart (consecutive ids), so no
    batch mixes languages."""
    async with in_transaction() as connection:
        last = await AlertRound.filter(alert_id=alert.id).order_by("-round").first()
        number = (last.round if last else 0) + 1
        await AlertRound.create(
            alert=alert,
            round=number,
            kind=kind,
            message=message,
            sender_name=sender_name,
            recipients=reached,
            started_at=datetime.now(UTC),
        )
        languages = await recipient_languages([a.employee_id for a in accounts] + list(addresses))
        line_rows = [
            Delivery(
                alert=alert,
                employee_id=a.employee_id,
                kind=kind,
                round=number,
                medium=Medium.LINE,
                address=a.user_id,
                status=DeliveryStatus.PENDING,
                language=languages.get(a.employee_id, DEFAULT_LANGUAGE),
                batched=True,
            )
            for a in accounts
        ]
        email_rows = [
            Delivery(
                alert=alert,
                employee_id=employee_id,
                kind=kind,
                round=number,
                medium=Medium.EMAIL,
                address=address,
                status=DeliveryStatus.PENDING,
                language=languages.get(employee_id, DEFAULT_LANGUAGE),
            )
            for employee_id, found in addresses.items()
            for address in found
        ]
        for language in LANGUAGES:
            rows = [row for row in line_rows if row.language == language]
            if rows:
                await Delivery.bulk_create(rows, batch_size=1000)
        if email_rows:
            await Delivery.bulk_create(email_rows, batch_size=1000)
        if line_rows:
            await write_line_batches(connection, alert.id, number)
    return number


async def recipient_languages(employee_ids: list[int]) -> dict[int, str]:
    """Each employee's language as their messages are rendered in (unset: Japanese)."""
    rows = await Employee.filter(id__in=employee_ids).values_list("id", "language")
    return {employee_id: language_of(language) for employee_id, language in rows}


async def close_alert(actor: Actor, alert_id: int, *, scope: Scope = EVERYONE) -> Alert:
    """Stop accepting answers for an alert, with its audit row; then tell live views. A sender
    limited to departments closes only an alert that reaches no one outside them."""
    async with audited(actor, "alert_closed", target=f"alert:{alert_id}"):
        alert = await end_alert(alert_id, scope=scope)
    await announce_closed(alert)
    return alert


async def announce_closed(alert: Alert) -> None:
    """Tell live views (`Topic.ANSWER`, whose payload is the alert) that the alert closed, so
    they stop updating; call after the transaction that closed it has committed."""
    await notifier.publish(Topic.ANSWER, str(alert.id))


async def end_alert(alert_id: int, *, scope: Scope = EVERYONE) -> Alert:
    """Close an alert within the caller's audited transaction; Forbidden when its roster
    reaches beyond `scope`."""
    alert = await find_alert(alert_id)
    await ensure_closable(alert, scope)
    if alert.is_closed:
        raise Conflict(_("この連絡はすでに終了しています。"), code="alert_closed")
    alert.closed_at = datetime.now(UTC)
    await alert.save(update_fields=["closed_at"])
    return alert


async def ensure_closable(alert: Alert, scope: Scope) -> None:
    """Forbidden unless the scope may close the alert: a sender limited to departments
    closes only an alert that reached no one outside them."""
    if await reaches_beyond(alert, scope):
        raise Forbidden(_("担当外の部署にも送られた連絡は終了できません。"), code="out_of_scope")


async def reaches_beyond(alert: Alert, scope: Scope) -> bool:
    """Whether anyone on the alert's roster was outside the scope's departments (no
    department counts as outside) when it started."""
    if scope.is_everything:
        return False
    roster = AlertRecipient.filter(alert_id=alert.id)
    if scope.department_ids:
        ids = sorted(scope.department_ids)
        roster = roster.filter(Q(department_id__isnull=True) | ~Q(department_id__in=ids))
    return await roster.exists()


class AnsweredShare:
    """How far answering has got, for anything with a title, drill flag, total and answered."""

    title: str
    drill: bool
    total: int
    answered: int

    @property
    def shown_title(self) -> str:
        """The title with the drill marking."""
        return display_title(self.title, self.drill)

    @property
    def rate(self) -> float:
        """Answered share, 0-100."""
        return 100.0 * self.answered / self.total if self.total else 0.0


@dataclass(frozen=True)
class AlertSummary(AnsweredShare):
    """One alert in a list: what it is and how far answering has got in the viewer's scope."""

    id: int
    title: str
    drill: bool
    sender: str
    started_at: datetime
    closed_at: datetime | None
    total: int
    answered: int


# The roster joined to its answers: a recipient has answered when the join finds a row. The
# tally, the alert list and the admin group's /list all count from it.
ROSTER_ANSWERS = (
    " FROM alert_recipient r LEFT JOIN answer a"
    " ON a.alert_id = r.alert_id AND a.employee_id = r.employee_id"
)


async def answered_counts(alert_ids: list[int], scope: Scope) -> dict[int, tuple[int, int]]:
    """(answered, total) per alert among the recipients `scope` allows, in one statement;
    an alert that reached nobody in scope is left out."""
    if not alert_ids:
        return {}
    where, params = scope.where("department_id")
    rows = await fetch(
        "SELECT alert_id, choice, SUM(n) AS n FROM answer_count"
        f" WHERE alert_id IN ({', '.join('?' * len(alert_ids))}){where} AND item = ?"
        " GROUP BY alert_id, choice",
        [*alert_ids, *params, WHOLE],
    )
    counts: dict[int, dict[str, int]] = {}
    for row in rows:
        counts.setdefault(int(row["alert_id"]), {})[row["choice"]] = int(row["n"])
    return {
        alert_id: (found.get(ANSWERED, 0), found[RECIPIENTS])
        for alert_id, found in counts.items()
        if found.get(RECIPIENTS)
    }


async def summaries_of(alerts: list[Alert], scope: Scope) -> list[AlertSummary]:
    """These alerts with answered/total in `scope`; a scoped viewer sees only alerts that
    reached their departments."""
    counts = await answered_counts([a.id for a in alerts], scope)
    return [
        AlertSummary(
            alert.id,
            alert.title,
            alert.drill,
            alert.sender_name,
            alert.started_at,
            alert.closed_at,
            counts.get(alert.id, (0, 0))[1],
            counts.get(alert.id, (0, 0))[0],
        )
        for alert in alerts
        if scope.is_everything or alert.id in counts
    ]


async def alert_summaries(scope: Scope, limit: int = 200) -> list[AlertSummary]:
    """Alerts newest first with answered/total counted among the recipients `scope` allows."""
    alerts = await Alert.all().order_by("-started_at", "-id").limit(limit)
    return await summaries_of(alerts, scope)


@dataclass(frozen=True)
class SendingOptions:
    """What a sender picks from when starting an alert."""

    templates: list[Template]
    departments: list[tuple[int, str]]  # (ID, path such as 本社/総務部)


async def department_paths() -> dict[int, str]:
    """Every department's full path (本社/営業部), as every list of departments names them."""
    rows = await Department.all().values_list("id", "name", "parent_id")
    by_id = {dept_id: (name, parent) for dept_id, name, parent in rows}

    def path(dept_id: int) -> str:
        names, seen = [], set()
        current: int | None = dept_id
        while current is not None and current in by_id and current not in seen:
            seen.add(current)
            name, current = by_id[current]
            names.append(name)
        return "/".join(reversed(names))

    return {dept_id: path(dept_id) for dept_id in by_id}


async def sending_options(scope: Scope = EVERYONE) -> SendingOptions:
    """Templates, and the departments the sender may address by their full path, for the
    start form."""
    paths = await department_paths()
    departments = sorted(
        ((d, p) for d, p in paths.items() if scope.includes(d)), key=lambda pair: pair[1]
    )
    return SendingOptions(await Template.all().order_by("id"), departments)
