"""Admin groups: binding a LINE group with a one-time code, who may command from it, the
confirmations a command waits on, and which alert a command means.

The commands themselves call the same functions as the CLI and the console (domain.alerts,
domain.tally); nothing here starts, reminds or closes an alert any other way."""

import hashlib
import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from domain import throttle
from domain.alerts import (
    DEFAULT_SENDER,
    AlertSummary,
    StartedAlert,
    find_alert,
    find_template,
    start_alert,
)
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.hashing import hash_secret, verify_secret
from domain.linking import CODE_ALPHABET, linked_employee, normalize_code
from models import (
    AdminGroup,
    Alert,
    AlertRecipient,
    Answer,
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
        return "不明"
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


async def issue_bind_code(
    created_by: str, ttl: timedelta = DEFAULT_BIND_CODE_TTL
) -> IssuedBindCode:
    """A new one-time bind code (stored as an argon2 hash) valid for `ttl`."""
    if not timedelta(minutes=1) <= ttl <= MAX_BIND_CODE_TTL:
        raise Invalid("有効期限は1分から7日の間で指定してください。")
    code = _new_bind_code()
    expires_at = _now() + ttl
    code_hash = await hash_secret(normalize_code(code))
    await GroupBindCode.create(
        code_hash=code_hash, created_by=created_by[:100], expires_at=expires_at
    )
    return IssuedBindCode(code, expires_at)


async def is_bound(group_id: str) -> bool:
    """Whether the group is an admin group."""
    return await AdminGroup.exists(group_id=group_id)


async def bind_group(group_id: str, user_id: str | None, typed_code: str) -> AdminGroup:
    """Bind the group with a one-time code posted by a sender.

    A bound group is a Conflict; anyone but a linked sender is NotPermitted; attempts count
    per group before the code is checked (throttle.Throttled past the limit); a wrong,
    expired or used code is Invalid. The code is spent with a conditional update, so two
    groups racing with one code cannot both win."""
    if await is_bound(group_id):
        raise Conflict(ALREADY_BOUND, code="already_bound")
    employee = await authorize(user_id)
    typed = normalize_code(typed_code)
    if not typed:
        raise Invalid("コードを指定してください(例: /bind ABCDE-FGHJK)。")
    attempts_key = f"group-bind:{group_id}"
    await throttle.reserve_attempt(attempts_key, BIND_LIMIT, BIND_WINDOW, BIND_BACKOFF)
    now = _now()
    found = None
    # At most the newest few open codes are tried: each is an argon2 verification.
    open_codes = GroupBindCode.filter(used_at__isnull=True, expires_at__gt=now)
    for code in await open_codes.order_by("-id").limit(MAX_OPEN_CODES_TRIED):
        if await verify_secret(code.code_hash, typed):
            found = code
            break
    else:
        await verify_secret(None, typed)  # the same work when no code is open
    if found is None:
        raise Invalid(BIND_FAILED)
    try:
        async with in_transaction():
            spent = await GroupBindCode.filter(id=found.id, used_at__isnull=True).update(
                used_at=now, used_by_group=group_id
            )
            if not spent:
                raise Invalid(BIND_FAILED)
            group = await AdminGroup.create(group_id=group_id, bound_by=employee.code)
    except IntegrityError:
        raise Conflict(ALREADY_BOUND, code="already_bound") from None
    await throttle.clear(attempts_key)
    log.info("admin group %s bound", group.id)
    return group


async def unbind_group(group_id: str) -> bool:
    """Forget an admin group and the confirmations waiting in it; whether it was bound."""
    async with in_transaction():
        await PendingCommand.filter(group_id=group_id).delete()
        removed = await AdminGroup.filter(group_id=group_id).delete()
    if removed:
        log.info("an admin group was unbound")
    return bool(removed)


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
    summaries = []
    for alert in await rows.order_by("-started_at", "-id").limit(limit):
        total = await AlertRecipient.filter(alert_id=alert.id).count()
        answered = await Answer.filter(alert_id=alert.id).count()
        summaries.append(
            AlertSummary(
                alert.id,
                alert.title,
                alert.drill,
                alert.sender_name,
                alert.started_at,
                alert.closed_at,
                total,
                answered,
            )
        )
    return summaries, count


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


async def start_pending(pending: PendingCommand, employee: Employee) -> StartedAlert:
    """Start the alert a confirmed command described, as the sender who confirmed it."""
    payload = pending.payload if isinstance(pending.payload, dict) else {}
    template = await Template.get_or_none(id=int(payload.get("template", 0)))
    if template is None:
        raise NotFound("テンプレートが削除されたため発信できません。")
    department_ids = [int(d) for d in payload.get("departments", [])]
    departments = await Department.filter(id__in=department_ids) if department_ids else []
    if len(departments) != len(department_ids):
        raise NotFound("対象の部署が削除されたため発信できません。")
    return await start_alert(
        template,
        drill=bool(payload.get("drill")),
        sender_name=await sender_name(employee),
        departments=departments,
    )


async def purge_expired(older_than: timedelta = timedelta(days=1)) -> int:
    """Delete confirmations and bind codes that expired more than `older_than` ago (and
    confirmations spent as long ago)."""
    cutoff = _now() - older_than
    pending = await PendingCommand.filter(Q(expires_at__lt=cutoff) | Q(used_at__lt=cutoff)).delete()
    codes = await GroupBindCode.filter(expires_at__lt=cutoff).delete()
    return pending + codes
