"""Account linking as LINE documents it: registration codes, nonces, binding, unbinding."""

import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from tortoise.transactions import in_transaction

from domain.errors import Invalid, NotFound
from models import Employee, LineAccount, LinkNonce, RegistrationCode

log = logging.getLogger(__name__)

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
CODE_LENGTH = 8
MAX_ATTEMPTS = 5
NONCE_TTL = timedelta(minutes=10)
DEFAULT_CODE_TTL = timedelta(days=14)
MAX_DISPLAY_NAME = 200  # the column's width; LINE allows longer names

_hasher = PasswordHasher()
# Verified against when the employee code is unknown, so both paths cost the same.
_DUMMY_HASH = _hasher.hash("not-a-real-code")

SIGN_IN_FAILED = "社員番号または登録コードが正しくありません。"
CODE_LOCKED = (
    "登録コードの入力回数が上限に達したため、このコードは無効になりました。"
    "管理者に新しい登録コードの発行を依頼してください。"
)


@dataclass(frozen=True)
class IssuedCode:
    """A registration code in clear, shown once to whoever hands it to the employee."""

    employee_code: str
    employee_name: str
    code: str
    expires_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


def normalize_code(raw: str) -> str:
    """Upper-case a typed code and drop the separators people type."""
    return "".join(ch for ch in raw.upper() if ch.isalnum())


def _new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def _nonce_hash(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


async def issue_registration_code(
    employee: Employee, ttl: timedelta = DEFAULT_CODE_TTL
) -> IssuedCode:
    """Issue a new one-time code for an employee, revoking any earlier unused one."""
    code = _new_code()
    expires_at = _now() + ttl
    async with in_transaction():
        await RegistrationCode.filter(
            employee_id=employee.id, used_at__isnull=True, revoked=False
        ).update(revoked=True)
        await RegistrationCode.create(
            employee=employee, code_hash=_hasher.hash(normalize_code(code)), expires_at=expires_at
        )
    return IssuedCode(employee.code, employee.name, code, expires_at)


async def begin_link(employee_code: str, registration_code: str) -> str:
    """Check an employee's code and return a fresh single-use nonce bound to them.

    Raises Invalid with a message for the sign-in form."""
    employee_code = employee_code.strip()
    typed = normalize_code(registration_code)
    if not employee_code or not typed:
        raise Invalid("社員番号と登録コードを入力してください。")
    employee = await Employee.get_or_none(code=employee_code, active=True)
    code = None
    if employee is not None:
        code = (
            await RegistrationCode.filter(
                employee_id=employee.id, used_at__isnull=True, revoked=False
            )
            .order_by("-id")
            .first()
        )
    if code is None or code.expires_at <= _now():
        _verify(_DUMMY_HASH, typed)
        raise Invalid(SIGN_IN_FAILED)
    if code.attempts >= MAX_ATTEMPTS:
        raise Invalid(CODE_LOCKED)
    if not _verify(code.code_hash, typed):
        code.attempts += 1
        await code.save(update_fields=["attempts"])
        if code.attempts >= MAX_ATTEMPTS:
            raise Invalid(CODE_LOCKED)
        raise Invalid(SIGN_IN_FAILED)
    nonce = secrets.token_urlsafe(32)  # 256 bits, URL-safe Base64
    await LinkNonce.create(
        nonce_hash=_nonce_hash(nonce),
        employee=employee,
        registration_code=code,
        expires_at=_now() + NONCE_TTL,
    )
    return nonce


def _verify(code_hash: str, typed: str) -> bool:
    try:
        return _hasher.verify(code_hash, typed)
    except (VerificationError, InvalidHashError):
        return False


async def complete_link(
    user_id: str, nonce: str, display_name: Callable[[str], Awaitable[str | None]]
) -> Employee:
    """Bind the LINE user to the employee the nonce was issued for; the nonce is spent.

    An unknown, replayed or expired nonce binds nothing and raises NotFound."""
    now = _now()
    async with in_transaction():
        row = await LinkNonce.get_or_none(nonce_hash=_nonce_hash(nonce)).select_related(
            "employee", "registration_code"
        )
        code = row.registration_code if row is not None else None
        if row is None or row.expires_at <= now or code.revoked or code.used_at is not None:
            # Unknown, expired, or its code was since used or replaced: bind nothing.
            raise NotFound("連携に失敗しました。もう一度「連携」と送信してやり直してください。")
        # Spend the nonce with a conditional update so two deliveries of the event race safely.
        spent = await LinkNonce.filter(id=row.id, used_at__isnull=True).update(used_at=now)
        if not spent:
            raise NotFound("この連携手続きはすでに使われています。")
        employee = row.employee
        await RegistrationCode.filter(id=row.registration_code_id).update(used_at=now)
        await _bind(employee, user_id, now)
    name = await display_name(user_id)
    if name is not None:
        await LineAccount.filter(user_id=user_id).update(display_name=name[:MAX_DISPLAY_NAME])
    log.info("LINE account linked to employee %s", employee.id)
    return employee


async def _bind(employee: Employee, user_id: str, now: datetime) -> LineAccount:
    """Link the LINE user to the employee: one LINE account per employee and one employee per
    LINE account (an earlier account of the employee is detached)."""
    await (
        LineAccount.filter(employee_id=employee.id)
        .exclude(user_id=user_id)
        .update(employee_id=None, linked_at=None)
    )
    account, _ = await LineAccount.get_or_create(user_id=user_id)
    account.employee = employee
    account.linked_at = now
    account.followed = True
    account.blocked = False
    await account.save()
    return account


async def attach_line_account(employee: Employee, user_id: str, display_name: str) -> None:
    """Link a LINE user who is already a friend, without the sign-in (the demo's company)."""
    async with in_transaction():
        account = await _bind(employee, user_id, _now())
        account.display_name = display_name[:MAX_DISPLAY_NAME]
        await account.save(update_fields=["display_name", "updated_at"])


async def record_follow(user_id: str) -> Employee | None:
    """The user added (or unblocked) the account: reachable again. Return their employee."""
    account, _ = await LineAccount.get_or_create(user_id=user_id)
    account.followed, account.blocked = True, False
    await account.save(update_fields=["followed", "blocked", "updated_at"])
    return await linked_employee(user_id)


async def record_unfollow(user_id: str) -> None:
    """The user blocked the account: LINE silently drops our messages from now on."""
    await LineAccount.filter(user_id=user_id).update(followed=False, blocked=True)


async def unlink(user_id: str) -> Employee | None:
    """Remove the link between a LINE user and their employee; return who was unlinked."""
    account = await LineAccount.get_or_none(user_id=user_id).select_related("employee")
    if account is None or account.employee is None:
        return None
    employee = account.employee
    account.employee = None
    account.linked_at = None
    await account.save(update_fields=["employee_id", "linked_at", "updated_at"])
    log.info("LINE account unlinked from employee %s", employee.id)
    return employee


async def linked_employee(user_id: str) -> Employee | None:
    """The active employee this LINE user is linked to, if any."""
    account = await LineAccount.get_or_none(user_id=user_id).select_related("employee")
    if account is None or account.employee is None or not account.employee.active:
        return None
    return account.employee
