"""Admin groups: binding a LINE group with a one-time code, who may command from it, the
confirmations a command waits on, which alert a command means, and `run_command`, the one
call the group face makes for a posted command or a tapped 実行/取消.

The commands write through the same functions as the CLI and the console (domain.alerts,
domain.tally); nothing here starts, reminds or closes an alert any other way. Each command
writes one audit row (`group_<command>`, `group_confirm`, `group_cancel`) in its transaction."""

import enum
import hashlib
import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from domain import throttle
from domain.actors import UNKNOWN, Actor
from domain.alerts import (
    DEFAULT_SENDER,
    AlertPreview,
    AlertSummary,
    Reminder,
    StartedAlert,
    add_round,
    announce_closed,
    create_alert,
    end_alert,
    find_alert,
    find_template,
    preview_alert,
    summaries_of,
    wake_delivery,
)
from domain.audit import audited, log_action, outcome_of
from domain.board import Posted, PostPreview, announce_post, post_detail, preview_post, write_post
from domain.delivery_report import DeliveryReport, delivery_problems
from domain.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from domain.family import FamilySummary, family_summary
from domain.hashing import hash_secret, verify_secret
from domain.jma.triggers import Trigger, trigger_of
from domain.linking import CODE_ALPHABET, linked_employee, normalize_code
from domain.scope import Scope
from domain.tally import Tally, tally
from models import (
    AdminGroup,
    Alert,
    Department,
    Employee,
    EmployeeRole,
    GroupBindCode,
    PendingCommand,
    Template,
)
from models.alert_templates import DEFAULT_TEMPLATE_KEY

log = logging.getLogger(__name__)

BIND_CODE_LENGTH = 10
DEFAULT_BIND_CODE_TTL = timedelta(hours=1)
MAX_BIND_CODE_TTL = timedelta(days=7)
# /bind attempts per group: after BIND_LIMIT within BIND_WINDOW, the group waits BIND_BACKOFF.
BIND_LIMIT = 5
BIND_WINDOW = timedelta(minutes=15)
BIND_BACKOFF = timedelta(minutes=15)
PENDING_TTL = timedelta(minutes=5)
MAX_OPEN_CODES_TRIED = 10
MAX_ECHOED = 20  # characters of typed input echoed back in an error
MAX_GROUP_NAME = 100  # AdminGroup.name's length

NOT_PERMITTED = "権限がありません。"
NO_USER_ID = (
    "送信者を確認できないため実行できません。"
    "LINEの一部の環境(PC版など)から送信すると送信者がLINEから通知されません。"
    "スマートフォンのLINEアプリから送信してください。"
)
BIND_FAILED = "コードが正しくないか、有効期限が切れているか、すでに使われています。"
ALREADY_BOUND = "このグループはすでに管理グループとして登録されています。"
PENDING_GONE = "この確認は無効です。もう一度コマンドを送信してください。"
PENDING_USED = "この確認はすでに操作されています。"
PENDING_EXPIRED = "確認の有効期限(5分)が切れました。もう一度コマンドを送信してください。"
PENDING_NOT_YOURS = "この確認は、コマンドを送信した本人だけが操作できます。"
NO_OPEN_ALERT = "受付中の連絡はありません。"


class NotPermitted(Forbidden):
    """The poster may not command (not a linked sender, or LINE did not say who they are)."""

    def __init__(self, message: str = NOT_PERMITTED) -> None:
        super().__init__(message, code="not_permitted")


async def actor_of(user_id: str | None) -> str:
    """Who an audit row names for a LINE poster: their employee code, 未連携 when their LINE
    is not linked, 不明 when LINE did not say who they are."""
    if not user_id:
        return UNKNOWN
    employee = await linked_employee(user_id)
    return employee.code if employee is not None else "未連携"


def _now() -> datetime:
    return datetime.now(UTC)


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def shown(text: str) -> str:
    """Typed input echoed in a reply, cut short."""
    return text if len(text) <= MAX_ECHOED else text[:MAX_ECHOED] + "…"


# Who may command


async def authorize(user_id: str | None) -> Employee:
    """The sender (発信権限者) a LINE user is linked to; NotPermitted for anyone else, and
    for a poster LINE did not name."""
    if not user_id:
        raise NotPermitted(NO_USER_ID)
    employee = await linked_employee(user_id)
    if employee is None or employee.role != EmployeeRole.SENDER:
        raise NotPermitted()
    return employee


async def sender_name(employee: Employee) -> str:
    """連絡者 shown to employees for what a sender starts from the group: their department,
    or the system's name when they have none."""
    if employee.department_id is None:
        return DEFAULT_SENDER
    department = await Department.get_or_none(id=employee.department_id)
    return department.name if department is not None else DEFAULT_SENDER


# Binding


@dataclass(frozen=True)
class IssuedBindCode:
    """A bind code in clear, shown once to the maintainer who issued it."""

    code: str
    expires_at: datetime


def _new_bind_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(BIND_CODE_LENGTH))
    half = BIND_CODE_LENGTH // 2
    return f"{raw[:half]}-{raw[half:]}"


async def issue_bind_code(actor: Actor, ttl: timedelta = DEFAULT_BIND_CODE_TTL) -> IssuedBindCode:
    """A new one-time bind code (stored as an argon2 hash) valid for `ttl`, audited."""
    if not timedelta(minutes=1) <= ttl <= MAX_BIND_CODE_TTL:
        raise Invalid("有効期限は1分から7日の間で指定してください。")
    code = _new_bind_code()
    expires_at = _now() + ttl
    code_hash = await hash_secret(normalize_code(code))  # before the transaction: slow
    async with audited(actor, "group_bind_code_issued") as row:
        await GroupBindCode.create(
            code_hash=code_hash, created_by=actor.name[:100], expires_at=expires_at
        )
        row.detail = {"ttl_minutes": int(ttl.total_seconds() // 60)}
    return IssuedBindCode(code, expires_at)


async def is_bound(group_id: str) -> bool:
    """Whether the group is an admin group."""
    return await AdminGroup.exists(group_id=group_id)


class GroupNames(Protocol):
    """What binding asks of LINE: a group's name."""

    async def group_name(self, group_id: str) -> str | None:
        """The group's name, or None when LINE will not tell."""
        ...


async def bind_group(
    actor: Actor,
    group_id: str,
    user_id: str | None,
    typed_code: str,
    *,
    names: GroupNames | None = None,
) -> AdminGroup:
    """Bind the group with a one-time code posted by a sender, keeping the group's name when
    `names` tells it (a failure leaves it empty and binds all the same).

    A bound group is a Conflict; anyone but a linked sender is NotPermitted; attempts count
    per group before the code is checked (Throttled past the limit); a wrong,
    expired or used code is Invalid. The code is spent with a conditional update, so two
    groups racing with one code cannot both win."""
    attempts_key = f"group-bind:{group_id}"
    try:
        employee, found = await _bind_code_for(group_id, user_id, typed_code, attempts_key)
    except DomainError as exc:
        # Outside the binding's transaction: the attempt just counted must stay counted.
        await log_action(actor, "group_bind", group_id, outcome_of(exc))
        raise
    # Asked of LINE before the transaction, and only once the code is good: a request.
    name = (await names.group_name(group_id) or "") if names is not None else ""
    async with audited(actor, "group_bind", target=group_id) as row:
        spent = await GroupBindCode.filter(id=found.id, used_at__isnull=True).update(
            used_at=_now(), used_by_group=group_id
        )
        if not spent:
            raise Invalid(BIND_FAILED)
        try:
            group = await AdminGroup.create(
                group_id=group_id, bound_by=employee.code, name=name[:MAX_GROUP_NAME]
            )
        except IntegrityError:
            raise Conflict(ALREADY_BOUND, code="already_bound") from None
        row.detail = {"admin_group": group.id}
    await throttle.clear(attempts_key)
    log.info("admin group %s bound", group.id)
    return group


async def _bind_code_for(
    group_id: str, user_id: str | None, typed_code: str, attempts_key: str
) -> tuple[Employee, GroupBindCode]:
    """The sender and the open bind code they typed, after the checks that come first."""
    if await is_bound(group_id):
        raise Conflict(ALREADY_BOUND, code="already_bound")
    employee = await authorize(user_id)
    typed = normalize_code(typed_code)
    if not typed:
        raise Invalid("コードを指定してください(例: /bind ABCDE-FGHJK)。")
    await throttle.reserve_attempt(attempts_key, BIND_LIMIT, BIND_WINDOW, BIND_BACKOFF)
    # At most the newest few open codes are tried: each is an argon2 verification.
    open_codes = GroupBindCode.filter(used_at__isnull=True, expires_at__gt=_now())
    for code in await open_codes.order_by("-id").limit(MAX_OPEN_CODES_TRIED):
        if await verify_secret(code.code_hash, typed):
            return employee, code
    await verify_secret(None, typed)  # the same work when no code is open
    raise Invalid(BIND_FAILED)


class GroupLeaver(Protocol):
    """What unbinding needs of LINE: the bot leaving a group."""

    async def leave_group(self, group_id: str) -> bool:
        """Leave the group; whether the bot is out of it."""
        ...


async def unbind_group(
    actor: Actor, group_id: str, *, by: str = "", leaver: GroupLeaver | None = None
) -> bool:
    """Forget an admin group and the confirmations waiting in it, audited; NotFound when
    the group is not bound. With a `leaver`, the bot then leaves the group: whether it did is
    returned for the face to report (on a LINE failure the unbinding stands)."""
    async with audited(actor, "group_unbind", target=group_id) as row:
        await PendingCommand.filter(group_id=group_id).delete()
        if not await AdminGroup.filter(group_id=group_id).delete():
            raise NotFound("管理グループが見つかりません。", code="group_not_found")
        row.detail = {"by": by} if by else None
    log.info("an admin group was unbound")
    if leaver is None:
        return False
    left = await leaver.leave_group(group_id)
    if not left:
        log.warning("an unbound admin group could not be left")
    return left


async def group_left(group_id: str) -> None:
    """The bot was removed from a group: an admin group is unbound (nobody is named: LINE
    does not say who removed it); any other group leaves no trace."""
    if await is_bound(group_id):
        await unbind_group(Actor.group(UNKNOWN), group_id, by="leave")


async def admin_group(row_id: int) -> AdminGroup:
    """An admin group by its row number."""
    group = await AdminGroup.get_or_none(id=row_id) if 0 < row_id < 2**31 else None
    if group is None:
        raise NotFound("管理グループが見つかりません。")
    return group


async def bound_groups() -> list[AdminGroup]:
    """Every admin group, the earliest bound first."""
    return await AdminGroup.all().order_by("bound_at", "id")


# Which template, departments and alert a command names


async def default_template() -> Template:
    """The template a command without one uses: the seed's earthquake, else the first."""
    template = await Template.get_or_none(key=DEFAULT_TEMPLATE_KEY)
    if template is None:
        template = await Template.all().order_by("id").first()
    if template is None:
        raise NotFound("テンプレートがありません。管理画面でテンプレートを作成してください。")
    return template


async def command_targets(args: list[str]) -> tuple[Template, list[Department]]:
    """The template and departments of `/alert [template] [department…]`: a first argument
    that names a template is the template, the rest are departments; otherwise the default
    template and every argument is a department."""
    template = None
    refs = list(args)
    if refs:
        try:
            template = await find_template(refs[0])
            refs = refs[1:]
        except NotFound:
            template = None
    first_may_be_template = template is None
    if template is None:
        template = await default_template()
    departments: list[Department] = []
    for index, ref in enumerate(refs):
        matches = await Department.filter(name=ref)
        if not matches and ref.isdigit() and int(ref) < 2**31:
            matches = await Department.filter(id=int(ref))
        if not matches:
            what = "テンプレートまたは部署" if first_may_be_template and index == 0 else "部署"
            raise NotFound(f"{what}「{shown(ref)}」が見つかりません。")
        if len(matches) > 1:
            raise Invalid(f"部署名「{shown(ref)}」が複数あります。部署IDで指定してください。")
        if matches[0] not in departments:
            departments.append(matches[0])
    return template, departments


MESSAGE_MARK = re.compile(r"(?:^|\s)(?:--|－－|ーー|——)(?:\s|$)")


def split_message(rest: str) -> tuple[str, str]:
    """`[template] [department…] -- message` as (the targets, the message): the sender's own
    連絡メッセージ follows the first `--` (full-width too), line breaks kept."""
    found = MESSAGE_MARK.search(rest)
    if found is None:
        return rest, ""
    return rest[: found.start()], rest[found.end() :].strip()


_ALERT_NUMBER = re.compile(r"#?([0-9]{1,9})")


def alert_number(raw: str) -> int | None:
    """An alert number as typed: `12`, `#12`, full-width `＃１２`; None when it is not one."""
    match = _ALERT_NUMBER.fullmatch(unicodedata.normalize("NFKC", raw.strip()))
    return int(match.group(1)) if match else None


async def latest_open_alert() -> Alert:
    """The most recently started alert still accepting answers."""
    alert = await Alert.filter(closed_at__isnull=True).order_by("-started_at", "-id").first()
    if alert is None:
        raise NotFound(NO_OPEN_ALERT, code="no_open_alert")
    return alert


async def alert_for_command(number: int | None, *, open_only: bool = False) -> Alert:
    """The alert a command names by number, or the latest open one when it names none. With
    `open_only`, a closed alert is a Conflict."""
    alert = await find_alert(number) if number is not None else await latest_open_alert()
    if open_only and alert.is_closed:
        raise Conflict(f"連絡 #{alert.id} はすでに終了しています。", code="alert_closed")
    return alert


async def open_alerts(limit: int = 10) -> tuple[list[AlertSummary], int]:
    """Alerts still accepting answers, newest first, with answered/total; and how many open
    alerts there are in all."""
    rows = Alert.filter(closed_at__isnull=True)
    count = await rows.count()
    alerts = await rows.order_by("-started_at", "-id").limit(limit)
    return await summaries_of(alerts, Scope.everything()), count


# Confirmations (実行 / 取消)


async def create_pending(
    group_id: str, user_id: str, employee: Employee, command: str, payload: dict[str, Any]
) -> str:
    """Store a command waiting for its confirmation; return the token its buttons carry
    (only its hash is kept)."""
    token = secrets.token_urlsafe(24)
    await PendingCommand.create(
        token_hash=_sha256(token),
        group_id=group_id,
        user_id=user_id,
        employee=employee,
        command=command,
        payload=payload,
        expires_at=_now() + PENDING_TTL,
    )
    return token


async def consume_pending(token: str, group_id: str, user_id: str) -> PendingCommand:
    """Spend a confirmation: only in its group, only by the LINE user who asked, once, before
    it expires (a conditional update, so two taps racing cannot both pass)."""
    row = await PendingCommand.get_or_none(token_hash=_sha256(token or ""))
    if row is None or row.group_id != group_id:
        raise NotFound(PENDING_GONE, code="pending_not_found")
    if row.user_id != user_id:
        raise Forbidden(PENDING_NOT_YOURS, code="pending_not_yours")
    if row.used_at is not None:
        raise Conflict(PENDING_USED, code="pending_used")
    now = _now()
    if row.expires_at <= now:
        raise Conflict(PENDING_EXPIRED, code="pending_expired")
    spent = await PendingCommand.filter(id=row.id, used_at__isnull=True, expires_at__gt=now).update(
        used_at=now
    )
    if not spent:
        raise Conflict(PENDING_USED, code="pending_used")
    row.used_at = now
    return row


async def _start_pending(pending: PendingCommand, employee: Employee) -> StartedAlert:
    """Write the alert a confirmed command described, as the sender who confirmed it."""
    payload = pending.payload if isinstance(pending.payload, dict) else {}
    template = await Template.get_or_none(id=int(payload.get("template", 0)))
    if template is None:
        raise NotFound("テンプレートが削除されたため発信できません。")
    department_ids = [int(d) for d in payload.get("departments", [])]
    departments = await Department.filter(id__in=department_ids) if department_ids else []
    if len(departments) != len(department_ids):
        raise NotFound("対象の部署が削除されたため発信できません。")
    return await create_alert(
        template,
        drill=bool(payload.get("drill")),
        sender_name=await sender_name(employee),
        departments=departments,
        message=str(payload.get("message") or ""),
    )


async def purge_expired(older_than: timedelta = timedelta(days=1)) -> int:
    """Delete confirmations and bind codes that expired more than `older_than` ago (and
    confirmations spent as long ago)."""
    cutoff = _now() - older_than
    pending = await PendingCommand.filter(Q(expires_at__lt=cutoff) | Q(used_at__lt=cutoff)).delete()
    codes = await GroupBindCode.filter(expires_at__lt=cutoff).delete()
    return pending + codes


# Commands: what a group may ask, and the one call that runs it


class GroupCommand(enum.Enum):
    """A command posted in a group."""

    HELP = "help"
    BIND = "bind"
    DRILL = "drill"
    ALERT = "alert"
    STATUS = "status"
    REMIND = "remind"
    CLOSE = "close"
    LIST = "list"
    POST = "post"
    UNKNOWN = "unknown"


COMMAND_WORDS = {
    "/help": GroupCommand.HELP,
    "ヘルプ": GroupCommand.HELP,
    "/bind": GroupCommand.BIND,
    "/drill": GroupCommand.DRILL,
    "訓練": GroupCommand.DRILL,
    "/alert": GroupCommand.ALERT,
    "発信": GroupCommand.ALERT,
    "/status": GroupCommand.STATUS,
    "状況": GroupCommand.STATUS,
    "/remind": GroupCommand.REMIND,
    "再通知": GroupCommand.REMIND,
    "/close": GroupCommand.CLOSE,
    "終了": GroupCommand.CLOSE,
    "/list": GroupCommand.LIST,
    "一覧": GroupCommand.LIST,
    "/post": GroupCommand.POST,
    "投稿": GroupCommand.POST,
}
UNKNOWN_COMMAND = "そのコマンドはありません。/help でコマンドの一覧を表示します。"


@dataclass(frozen=True)
class ParsedCommand:
    """A command word and what followed it (`rest` as typed, `args` split on any space)."""

    command: GroupCommand
    rest: str = ""

    @property
    def args(self) -> list[str]:
        """The arguments, separated by ASCII or full-width spaces."""
        return self.rest.split()


def parse_command(message: str) -> ParsedCommand | None:
    """The command a group message carries; None for ordinary chat. A word starting with a
    slash that is not a command is UNKNOWN."""
    parts = message.strip().split(maxsplit=1)
    if not parts:
        return None
    word = unicodedata.normalize("NFKC", parts[0]).lower()  # ／ＨＥＬＰ is /help
    rest = parts[1].strip() if len(parts) > 1 else ""
    command = COMMAND_WORDS.get(word)
    if command is None:
        return ParsedCommand(GroupCommand.UNKNOWN) if word.startswith("/") else None
    return ParsedCommand(command, rest)


@dataclass(frozen=True)
class Tap:
    """実行 (`confirm`) or 取消 tapped on a confirmation card, with the card's token."""

    confirm: bool
    token: str


# What a command came to; the group face renders each kind.
@dataclass(frozen=True)
class Refused:
    """The command was refused or failed: the rule's own words."""

    message: str


@dataclass(frozen=True)
class HelpShown:
    """The commands (bound) or how to bind (anywhere else)."""

    bound: bool


@dataclass(frozen=True)
class Bound:
    """The group has just become an admin group."""

    group: AdminGroup


@dataclass(frozen=True)
class AwaitingConfirmation:
    """A confirmation card for /drill or /alert, with its buttons' token."""

    preview: AlertPreview
    token: str


@dataclass(frozen=True)
class PostAwaitingConfirmation:
    """A confirmation card for /post: whom the post reaches and the pushes it bills."""

    preview: PostPreview
    token: str


@dataclass(frozen=True)
class BoardPosted:
    """実行 was tapped on a /post card: the post is on the board (and pushed)."""

    posted: Posted


@dataclass(frozen=True)
class Cancelled:
    """取消 was tapped: nothing starts."""

    command: str


@dataclass(frozen=True)
class Started:
    """実行 was tapped: the alert has started."""

    started: StartedAlert


@dataclass(frozen=True)
class Status:
    """/status: an alert's tally and deliveries."""

    tally: Tally
    closed: bool
    deliveries: DeliveryReport
    trigger: Trigger | None  # the JMA bulletin that started it, if one did
    family: FamilySummary | None = None  # only where family_visible is on


@dataclass(frozen=True)
class Reminded:
    """/remind: the round written (round 0: nobody to remind)."""

    reminder: Reminder


@dataclass(frozen=True)
class Closed:
    """/close: the alert and its final tally."""

    alert: Alert
    tally: Tally


@dataclass(frozen=True)
class OpenList:
    """/list: the open alerts, and how many there are in all."""

    summaries: list[AlertSummary]
    count: int


Outcome = (
    Refused | HelpShown | Bound | AwaitingConfirmation | Cancelled | Started | Status | Reminded
    | Closed | OpenList | PostAwaitingConfirmation | BoardPosted
)  # fmt: skip
Detail = dict[str, Any] | None


async def run_command(
    group_id: str,
    user_id: str | None,
    command: ParsedCommand | Tap | str,
    *,
    names: GroupNames | None = None,
) -> Outcome | None:
    """Run what was posted (text or a parsed command) or tapped in a group, as the sender
    `user_id`: authorised, done and audited in one transaction, then the delivery engine is
    woken; /bind asks `names` for the group's name. A refusal comes back as `Refused` with
    the rule's words; None means the bot says nothing (chat, or anything but /bind and /help
    in a group that is not an admin group)."""
    if isinstance(command, str):
        command = parse_command(command)
        if command is None:
            return None
    if isinstance(command, ParsedCommand) and command.command is GroupCommand.BIND:
        actor = Actor.group(await actor_of(user_id))
        try:
            return Bound(await bind_group(actor, group_id, user_id, command.rest, names=names))
        except DomainError as exc:
            return Refused(exc.message)
    if not await is_bound(group_id):
        if isinstance(command, ParsedCommand) and command.command is GroupCommand.HELP:
            return HelpShown(bound=False)  # how to bind; stores nothing
        return None
    if isinstance(command, Tap):
        action = "group_confirm" if command.confirm else "group_cancel"
    else:
        action = f"group_{command.command.value}"
    actor = Actor.group(await actor_of(user_id))
    try:
        async with audited(actor, action, target=group_id) as row:
            employee = await authorize(user_id)
            if isinstance(command, Tap):
                outcome, row.detail = await _tapped(command, group_id, user_id or "", employee)
            else:
                run = _COMMANDS[command.command]
                outcome, row.detail = await run(command, group_id, user_id or "", employee)
    except DomainError as exc:
        return Refused(exc.message)
    if isinstance(outcome, Started):
        await wake_delivery(outcome.started)
    elif isinstance(outcome, Reminded):
        await wake_delivery(outcome.reminder)
    elif isinstance(outcome, Closed):
        await announce_closed(outcome.alert)
    elif isinstance(outcome, BoardPosted):
        await announce_post(outcome.posted)
    return outcome


async def _tapped(
    tap: Tap, group_id: str, user_id: str, employee: Employee
) -> tuple[Outcome, Detail]:
    pending = await consume_pending(tap.token, group_id, user_id)
    if not tap.confirm:
        return Cancelled(pending.command), {"command": pending.command}
    if pending.command == GroupCommand.POST.value:
        posted = await _post_pending(pending, employee)
        return BoardPosted(posted), {"command": pending.command, **post_detail(posted)}
    started = await _start_pending(pending, employee)
    detail = {
        "command": pending.command,
        "alert": started.alert.id,
        "recipients": started.recipients,
        "line": started.line_deliveries,
    }
    return Started(started), detail


def _alert_number(args: list[str], example: str) -> int | None:
    """The alert number of /status and /close (None: the latest open one)."""
    if not args:
        return None
    number = alert_number(args[0]) if len(args) == 1 else None
    if number is None:
        raise Invalid(f"連絡の番号を数字で指定してください(例: {example} 12)。")
    return number


async def _help(
    parsed: ParsedCommand, group_id: str, user_id: str, employee: Employee
) -> tuple[Outcome, Detail]:
    return HelpShown(bound=True), None


async def _unknown(
    parsed: ParsedCommand, group_id: str, user_id: str, employee: Employee
) -> tuple[Outcome, Detail]:
    raise Invalid(UNKNOWN_COMMAND)


async def _confirm(
    parsed: ParsedCommand, group_id: str, user_id: str, employee: Employee
) -> tuple[Outcome, Detail]:
    """/drill and /alert `[template] [department…] [-- message]`: a confirmation card (with
    the sender's own 連絡メッセージ after `--`); the alert starts only when its asker taps 実行."""
    drill = parsed.command is GroupCommand.DRILL
    targets, message = split_message(parsed.rest)
    template, departments = await command_targets(targets.split())
    preview = await preview_alert(template, drill=drill, departments=departments, message=message)
    payload: dict[str, Any] = {
        "template": template.id,
        "departments": [d.id for d in departments],
        "drill": drill,
    }
    detail = {**payload, "recipients": preview.recipients, "stage": "confirmation"}
    if message:
        payload["message"] = preview.message
        detail["own_message"] = True  # never what it says
    token = await create_pending(group_id, user_id, employee, parsed.command.value, payload)
    return AwaitingConfirmation(preview, token), detail


async def _status(
    parsed: ParsedCommand, group_id: str, user_id: str, employee: Employee
) -> tuple[Outcome, Detail]:
    alert = await alert_for_command(_alert_number(parsed.args, "/status"))
    result = await tally(alert.id, Scope.everything())
    deliveries = await delivery_problems(alert.id, Scope.everything())
    detail = {"alert": alert.id, "answered": result.answered, "total": result.total}
    # The admin group's scope is the whole organisation, as for the tally.
    family = await family_summary(alert, Scope.everything())
    status = Status(result, alert.is_closed, deliveries, await trigger_of(alert.id), family)
    return status, detail


async def _remind(
    parsed: ParsedCommand, group_id: str, user_id: str, employee: Employee
) -> tuple[Outcome, Detail]:
    """`/remind [alert] [message]`: a first argument that is a number names the alert."""
    number, message = None, parsed.rest
    if parsed.args and alert_number(parsed.args[0]) is not None:
        number = alert_number(parsed.args[0])
        message = parsed.rest.split(maxsplit=1)[1] if len(parsed.args) > 1 else ""
    alert = await alert_for_command(number, open_only=True)
    reminder = await add_round(alert.id, message=message)  # names the alert's own 連絡者
    detail = {
        "alert": alert.id,
        "round": reminder.round,
        "unanswered": reminder.unanswered,
        "line": reminder.line_deliveries,
        **({"email": reminder.email_deliveries} if reminder.email_deliveries else {}),
    }
    return Reminded(reminder), detail


async def _close(
    parsed: ParsedCommand, group_id: str, user_id: str, employee: Employee
) -> tuple[Outcome, Detail]:
    alert = await alert_for_command(_alert_number(parsed.args, "/close"), open_only=True)
    alert = await end_alert(alert.id)
    return Closed(alert, await tally(alert.id, Scope.everything())), {"alert": alert.id}


async def _post_pending(pending: PendingCommand, employee: Employee) -> Posted:
    """Write the board post a confirmed /post described, as the sender who confirmed it."""
    payload = pending.payload if isinstance(pending.payload, dict) else {}
    return await write_post(
        int(payload.get("alert", 0)),
        str(payload.get("body") or ""),
        author=await sender_name(employee),
        push=True,
        replies_allowed=True,
    )


async def _post(
    parsed: ParsedCommand, group_id: str, user_id: str, employee: Employee
) -> tuple[Outcome, Detail]:
    """`/post [alert] message`: a confirmation card saying whom the post reaches and how many
    billable pushes it sends; it is posted (pushed, replies allowed) only when its asker taps
    実行. A first word that is a number names the alert."""
    number, body = None, parsed.rest
    first = parsed.rest.split(maxsplit=1)
    if first and alert_number(first[0]) is not None:
        number = alert_number(first[0])
        body = first[1] if len(first) > 1 else ""
    alert = await alert_for_command(number)
    preview = await preview_post(alert.id, body, push=True, replies_allowed=True)
    payload = {"alert": alert.id, "body": preview.body}
    token = await create_pending(group_id, user_id, employee, parsed.command.value, payload)
    detail = {"alert": alert.id, "recipients": preview.readers, "line": preview.pushes,
              "stage": "confirmation"}  # fmt: skip
    return PostAwaitingConfirmation(preview, token), detail


async def _list(
    parsed: ParsedCommand, group_id: str, user_id: str, employee: Employee
) -> tuple[Outcome, Detail]:
    summaries, count = await open_alerts()
    return OpenList(summaries, count), {"count": count}


_COMMANDS = {
    GroupCommand.HELP: _help,
    GroupCommand.DRILL: _confirm,
    GroupCommand.ALERT: _confirm,
    GroupCommand.STATUS: _status,
    GroupCommand.REMIND: _remind,
    GroupCommand.CLOSE: _close,
    GroupCommand.LIST: _list,
    GroupCommand.POST: _post,
    GroupCommand.UNKNOWN: _unknown,
}
