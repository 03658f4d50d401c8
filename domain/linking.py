"""Account linking as LINE documents it: registration codes, nonces, binding, unbinding."""

import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from domain import throttle
from domain.actors import Actor
from domain.audit import audited, log_action
from domain.errors import Conflict, Invalid, NotFound
from domain.hashing import hash_secret, verify_secret
from domain.i18n import gettext as _
from domain.organization import active_employee, adopt_reported_language
from models import Employee, LineAccount, LinkNonce, LinkToken, RegistrationCode
from models.sql import fetch_models

log = logging.getLogger(__name__)

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
CODE_LENGTH = 8
NONCE_TTL = timedelta(minutes=10)
LINK_TOKEN_TTL = timedelta(minutes=10)  # how long LINE's link tokens last
DEFAULT_CODE_TTL = timedelta(days=14)
MAX_DISPLAY_NAME = 200  # the column's width; LINE allows longer names
# Sign-in attempts per LINE user (the one asking, never the employee whose code is typed):
# after SIGN_IN_LIMIT within SIGN_IN_WINDOW, further attempts wait SIGN_IN_BACKOFF.
SIGN_IN_LIMIT = 5
SIGN_IN_WINDOW = timedelta(minutes=15)
SIGN_IN_BACKOFF = timedelta(minutes=15)


def sign_in_failed_message() -> str:
    """A wrong employee code or registration code, in the current language."""
    return _("社員番号または登録コードが正しくありません。")


def link_expired_message() -> str:
    """A link token LINE no longer honours (or never issued), in the current language."""
    return _(
        "このリンクは無効です。LINEのトークで「連携」と送信して、新しいリンクから手続きしてください。"
    )


def link_failed_message() -> str:
    """A link LINE reported that cannot complete, in the current language."""
    return _("連携に失敗しました。もう一度「連携」と送信してやり直してください。")


@dataclass(frozen=True)
class LineProfile:
    """What the bot reads of a LINE user's profile when they link: the display name (kept)
    and the language LINE reports (None: none), adopted by an employee without one and kept
    nowhere else."""

    display_name: str
    language: str | None = None


ProfileReader = Callable[[str], Awaitable[LineProfile | None]]


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


def _nonce_hash(user_id: str, nonce: str) -> str:
    """The stored form of a nonce, bound to the LINE user whose link token it was issued for:
    the same nonce sent by anyone else matches no row."""
    return _sha256(f"{user_id}\n{nonce}")


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def issue_registration_code(
    employee: Employee, ttl: timedelta = DEFAULT_CODE_TTL
) -> IssuedCode:
    """Issue a new one-time code for an employee, revoking any earlier unused one, without an
    audit row: for seeding (the demo, tests); the faces call `issue_codes` and its kin."""
    [issued] = await _issue([employee], ttl)
    return issued


async def _issue(employees: list[Employee], ttl: timedelta) -> list[IssuedCode]:
    """Codes for these employees: hashed first, then written in one transaction (the
    caller's, when it has one) so no write lock waits on a hash."""
    expires_at = _now() + ttl
    codes = [_new_code() for _ in employees]
    hashes = [await hash_secret(normalize_code(code)) for code in codes]
    async with in_transaction():
        await RegistrationCode.filter(
            employee_id__in=[e.id for e in employees], used_at__isnull=True, revoked=False
        ).update(revoked=True)
        for employee, code_hash in zip(employees, hashes, strict=True):
            await RegistrationCode.create(
                employee=employee, code_hash=code_hash, expires_at=expires_at
            )
    return [
        IssuedCode(e.code, e.name, code, expires_at)
        for e, code in zip(employees, codes, strict=True)
    ]


async def issue_codes(
    employees: list[Employee], ttl: timedelta, actor: Actor, target: str
) -> list[IssuedCode]:
    """Issue a new code for each employee (earlier unused ones revoked), audited as one
    action; the codes are returned in clear this once."""
    async with audited(actor, "codes_issue", target=target) as entry:
        issued = await _issue(employees, ttl)
        entry.detail = {"count": len(issued)}
    return issued


async def page_code(employee: Employee) -> RegistrationCode | None:
    """The registration code that signs the employee in to their page: the newest unrevoked,
    unexpired one, unused, or spent only by linking LINE in chat while the employee has no
    password yet (linking in chat must not lock them out of the page; a password spends it)."""
    code = (
        await RegistrationCode.filter(employee_id=employee.id, revoked=False)
        .order_by("-id")
        .first()
    )
    if code is None or code.expires_at <= _now():
        return None
    if code.used_at is None:
        return code
    if employee.password_hash:
        return None
    linked_by_chat = await LinkNonce.exists(registration_code_id=code.id, used_at__isnull=False)
    return code if linked_by_chat else None


async def record_link_token(user_id: str, link_token: str) -> None:
    """Remember a link token the bot obtained from LINE for this user (as a hash)."""
    await LinkToken.create(
        token_hash=_sha256(link_token), user_id=user_id, expires_at=_now() + LINK_TOKEN_TTL
    )


async def link_token_user(link_token: str) -> str | None:
    """The LINE user a recorded, unexpired, unused link token was issued for, if any."""
    if not link_token:
        return None
    row = await LinkToken.get_or_none(
        token_hash=_sha256(link_token), used_at__isnull=True, expires_at__gt=_now()
    )
    return row.user_id if row is not None else None


async def purge_expired(older_than: timedelta = timedelta(days=1)) -> int:
    """Delete link tokens and nonces that expired more than `older_than` ago."""
    cutoff = _now() - older_than
    tokens = await LinkToken.filter(expires_at__lt=cutoff).delete()
    nonces = await LinkNonce.filter(expires_at__lt=cutoff).delete()
    return tokens + nonces


async def begin_link(link_token: str, employee_code: str, registration_code: str) -> str:
    """Sign in on the link page: check the codes and return a fresh single-use nonce bound to
    the employee and to the link token's LINE user; the link token is spent.

    Only a link token the bot itself obtained (unexpired, unused) gets as far as a hash
    (NotFound otherwise). Attempts count against the LINE user of the token, reserved before
    the check (Throttled when over the limit); wrong, unknown and retired are alike
    (Invalid)."""
    user_id = await link_token_user(link_token)
    if user_id is None:
        raise NotFound(link_expired_message())
    employee_code = employee_code.strip()
    typed = normalize_code(registration_code)
    if not employee_code or not typed:
        raise Invalid(_("社員番号と登録コードを入力してください。"))
    attempts_key = f"link:{user_id}"
    await throttle.reserve_attempt(attempts_key, SIGN_IN_LIMIT, SIGN_IN_WINDOW, SIGN_IN_BACKOFF)
    employee = await active_employee(employee_code)
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
        await verify_secret(None, typed)
        raise Invalid(sign_in_failed_message())
    if not await verify_secret(code.code_hash, typed):
        raise Invalid(sign_in_failed_message())
    nonce = secrets.token_urlsafe(32)  # 256 bits, URL-safe Base64
    now = _now()
    async with in_transaction():
        # Spend the link token with a conditional update: one sign-in per token, even racing.
        spent = await LinkToken.filter(
            token_hash=_sha256(link_token), used_at__isnull=True, expires_at__gt=now
        ).update(used_at=now)
        if not spent:
            raise NotFound(link_expired_message())
        await LinkNonce.create(
            nonce_hash=_nonce_hash(user_id, nonce),
            employee=employee,
            registration_code=code,
            expires_at=now + NONCE_TTL,
        )
    await throttle.clear(attempts_key)
    return nonce


async def complete_link(user_id: str, nonce: str, profile: ProfileReader, actor: Actor) -> Employee:
    """Bind the LINE user to the employee the nonce was issued for; the nonce is spent. The
    LINE profile's display name is kept, and its language becomes the employee's while they
    have none.

    An unknown, replayed or expired nonce, one issued to another LINE user (told no more than
    for an unknown one), a code since used or replaced, or an employee since retired binds
    nothing and raises NotFound. A nonce this same user already spent
    (a retried event) returns the employee again: the link stands."""
    async with audited(actor, "line_link") as entry:
        employee = await _complete_link(user_id, nonce)
        entry.target = employee.code
    log.info("LINE account linked to employee %s", employee.id)
    # The link is committed: nothing after this may turn it into a reported failure.
    try:
        found = await profile(user_id)
        if found is not None:
            await LineAccount.filter(user_id=user_id).update(
                display_name=found.display_name[:MAX_DISPLAY_NAME]
            )
            await adopt_profile_language(employee, found)
    except Exception as exc:
        log.warning("profile of a newly linked LINE account not stored: %s", type(exc).__name__)
    return employee


async def adopt_profile_language(employee: Employee, profile: LineProfile | None) -> None:
    """The LINE profile's language becomes the employee's while they have none (the rule of
    `adopt_reported_language`); `employee` is updated to match."""
    if profile is not None and profile.language and not employee.language:
        employee.language = await adopt_reported_language(employee.id, profile.language)


async def _complete_link(user_id: str, nonce: str) -> Employee:
    now = _now()
    async with in_transaction():
        row = await LinkNonce.get_or_none(nonce_hash=_nonce_hash(user_id, nonce)).select_related(
            "employee", "registration_code"
        )
        if row is None:
            raise NotFound(link_failed_message())
        employee = row.employee
        if row.used_at is not None:
            return await _spent_by_this_user(employee, user_id)
        code = row.registration_code
        if row.expires_at <= now or code.revoked or code.used_at is not None:
            # Expired, or its code was since used or replaced: bind nothing.
            raise NotFound(link_failed_message())
        if not employee.active:  # retired since the sign-in
            raise NotFound(link_failed_message())
        # Spend the nonce with a conditional update so two deliveries of the event race safely.
        spent = await LinkNonce.filter(id=row.id, used_at__isnull=True).update(used_at=now)
        if not spent:
            return await _spent_by_this_user(employee, user_id)
        await RegistrationCode.filter(id=row.registration_code_id).update(used_at=now)
        await _bind(employee, user_id, now)
    return employee


async def _spent_by_this_user(employee: Employee, user_id: str) -> Employee:
    """A spent nonce: the employee again if this user holds the link (a retried event)."""
    if await LineAccount.exists(user_id=user_id, employee_id=employee.id):
        return employee
    raise NotFound(_("この連携手続きはすでに使われています。"))


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
    # updated_at by hand (a bulk update leaves it): retention counts from when they left.
    await LineAccount.filter(user_id=user_id).update(
        followed=False, blocked=True, updated_at=_now()
    )


async def unlink(user_id: str, actor: Actor) -> Employee | None:
    """Remove the link between a LINE user and their employee; return who was unlinked.

    What stays of the LINE account is what the privacy FAQ allows (user ID, display name);
    the user's unused link tokens go."""
    account = await LineAccount.get_or_none(user_id=user_id).select_related("employee")
    if account is None or account.employee is None:
        return None
    employee = account.employee
    async with audited(actor, "line_unlink", target=employee.code) as entry:
        # Conditional: two taps of 解除する racing unlink once.
        done = await LineAccount.filter(id=account.id, employee_id=employee.id).update(
            employee_id=None, linked_at=None, link_notice_owed_at=None, updated_at=_now()
        )
        await LinkToken.filter(user_id=user_id, used_at__isnull=True).delete()
        if not done:
            entry.result = "refused"  # the other tap unlinked it
    if not done:
        return None
    log.info("LINE account unlinked from employee %s", employee.id)
    return employee


# The active employee a LINE user is linked to (`?`: the LINE user ID), as SQL: one indexed
# join, asked by every LIFF request (answers.py reads it in the same statement as the alert).
# Never cached: unlinking takes effect at once.
LINKED_EMPLOYEE = (
    "SELECT e.* FROM line_account l JOIN employee e ON e.id = l.employee_id"
    " WHERE l.user_id = ? AND e.active"
)


async def linked_employee(user_id: str) -> Employee | None:
    """The active employee this LINE user is linked to, if any."""
    found = await fetch_models(Employee, LINKED_EMPLOYEE, [user_id])
    return found[0] if found else None


@dataclass(frozen=True)
class CodeStatus:
    """An active employee's registration state as the codes page lists it."""

    employee_id: int
    employee_code: str
    employee_name: str
    department_id: int | None
    line_registered: bool
    open_code_expires_at: datetime | None  # an unused, unrevoked, unexpired code


async def issue_code_for(employee_code: str, ttl: timedelta, actor: Actor) -> IssuedCode:
    """Issue a code for the active employee with this employee code."""
    employee = await Employee.get_or_none(code=employee_code.strip(), active=True)
    if employee is None:
        raise NotFound(_("社員番号 %(code)s の在籍中の社員はいません。", code=employee_code))
    [issued] = await issue_codes([employee], ttl, actor, target=employee.code)
    return issued


async def issue_codes_for_department(
    department_id: int, *, only_unlinked: bool, ttl: timedelta, actor: Actor
) -> list[IssuedCode]:
    """Issue codes for the active employees of a department and everything below it
    (optionally only those without LINE), by employee code."""
    from models.organization import Department, department_subtree_ids

    if not await Department.exists(id=department_id):
        raise NotFound(_("部署が見つかりません。"))
    ids = await department_subtree_ids([department_id])
    employees = Employee.filter(active=True, department_id__in=list(ids))
    if only_unlinked:
        linked = await LineAccount.filter(employee_id__isnull=False).values_list(
            "employee_id", flat=True
        )
        employees = employees.exclude(id__in=list(linked))
    chosen = await employees.order_by("code")
    return await issue_codes(chosen, ttl, actor, target=f"department:{department_id}")


async def revoke_open_codes(employee_id: int, actor: Actor) -> int:
    """Revoke an employee's unused codes; how many were revoked."""
    async with audited(actor, "codes_revoke", target=str(employee_id)) as entry:
        revoked = await RegistrationCode.filter(
            employee_id=employee_id, used_at__isnull=True, revoked=False
        ).update(revoked=True)
        entry.detail = {"count": revoked}
    return revoked


async def code_statuses() -> list[CodeStatus]:
    """Every active employee with whether LINE is linked and their open code's expiry."""
    employees = await Employee.filter(active=True).order_by("code")
    linked = set(
        await LineAccount.filter(employee_id__isnull=False).values_list("employee_id", flat=True)
    )
    open_codes: dict[int, datetime] = {}
    for employee_id, expires_at in await RegistrationCode.filter(
        used_at__isnull=True, revoked=False, expires_at__gt=_now()
    ).values_list("employee_id", "expires_at"):
        open_codes[employee_id] = max(expires_at, open_codes.get(employee_id, expires_at))
    return [
        CodeStatus(e.id, e.code, e.name, e.department_id, e.id in linked, open_codes.get(e.id))
        for e in employees
    ]


# Linking from the employee page with LINE Login: the same binding and the same rules as the
# chat's account linking (one LINE account per employee, one employee per LINE account).

# The completion message a LINE Login link owes its user is LineAccount.link_notice_owed_at:
# whoever clears it sends the message (the follow handler by reply, or the page by push),
# never both.


# 友だち追加 on LINE Login's page sends LINE's follow event before the browser comes back
# with the code: while a link from the employee page is in flight, an unlinked user's follow
# may be that link's, so its reply waits for the link and carries the completion message
# instead of the unlinked greeting (one message, by reply). Kept in this process: a follow
# handled by another process greets as before.
LOGIN_IN_FLIGHT_SECONDS = 300
_logins_in_flight: dict[str, float] = {}  # LINE Login `state` -> when it began (monotonic)
_follows_awaiting_link: set[str] = set()  # LINE user IDs whose follow reply waits


def login_started(state: str) -> None:
    """A LINE Login link began on the employee page (its follow may come before its link)."""
    now = time.monotonic()
    for old in [
        k for k, began in _logins_in_flight.items() if now - began > LOGIN_IN_FLIGHT_SECONDS
    ]:
        del _logins_in_flight[old]
    _logins_in_flight[state] = now


def login_returned(state: str) -> None:
    """The LINE Login link with this `state` came back (linked or not)."""
    _logins_in_flight.pop(state, None)


def login_in_flight() -> bool:
    """Whether a LINE Login link began here recently and has not come back."""
    now = time.monotonic()
    return any(now - began <= LOGIN_IN_FLIGHT_SECONDS for began in _logins_in_flight.values())


@contextmanager
def follow_awaiting_link(user_id: str) -> Iterator[None]:
    """Mark this user's follow reply as waiting for a LINE Login link, so that the link
    leaves the completion message to that reply."""
    _follows_awaiting_link.add(user_id)
    try:
        yield
    finally:
        _follows_awaiting_link.discard(user_id)


@dataclass(frozen=True)
class LoginLink:
    """What linking by LINE Login did."""

    employee: Employee
    replaced: bool  # an earlier LINE account of the employee was detached
    # LINE says the user has just added the account, and its follow event has not reached
    # us yet or its reply waits for this link: that reply can carry the completion message.
    follow_pending: bool


async def current_line_user(employee_id: int) -> str | None:
    """The LINE user ID linked to this employee, if any."""
    account = await LineAccount.get_or_none(employee_id=employee_id)
    return account.user_id if account is not None else None


async def login_link_refused(actor: Actor, why: str) -> None:
    """Record a LINE Login link refused before it reached the link (a stale `state`, a code
    or ID token LINE refused)."""
    await log_action(actor, "line_link", result="refused", detail={"why": why})


async def link_by_login(
    employee_id: int,
    user_id: str,
    display_name: str,
    actor: Actor,
    *,
    replace: bool = False,
    just_followed: bool = False,
    profile: ProfileReader | None = None,
) -> LoginLink:
    """Bind the LINE user LINE Login vouched for to the signed-in employee and keep its
    display name; a completion message is then owed to the user. The bot's view of the
    user's profile (`profile`; LINE Login's has no language) gives the employee a language
    while they have none.

    A LINE account linked to another active employee is refused (Conflict
    `line_account_taken`); an employee who has another LINE account is asked first (Conflict
    `confirm_replace`), and with `replace` the earlier one is detached as relinking in chat
    does. A retired employee links nothing (NotFound). A refusal or question is audited as
    "refused", with why."""
    refused: Conflict | None = None
    async with audited(actor, "line_link") as entry:
        try:
            done = await _link_by_login(employee_id, user_id, display_name, replace, just_followed)
        except Conflict as exc:
            refused, entry.result, entry.detail = exc, "refused", {"why": exc.code}
        else:
            entry.target, entry.detail = done.employee.code, {"replaced": done.replaced}
    if refused is not None:
        raise refused
    if profile is not None:
        # The link is committed: a profile LINE will not give (not a friend yet) changes nothing.
        try:
            await adopt_profile_language(done.employee, await profile(user_id))
        except Exception as exc:
            log.warning("profile of a LINE Login link not read: %s", type(exc).__name__)
    return done


async def _link_by_login(
    employee_id: int, user_id: str, display_name: str, replace: bool, just_followed: bool
) -> LoginLink:
    now = _now()
    async with in_transaction():
        employee = await Employee.get_or_none(id=employee_id, active=True)
        if employee is None:
            raise NotFound(_("社員が見つかりません。"))
        # Locked: a follow event handled meanwhile waits for this link (PostgreSQL).
        account = await LineAccount.filter(user_id=user_id).select_for_update().first()
        if account is not None and account.employee_id not in (None, employee.id):
            holder = await Employee.get_or_none(id=account.employee_id)
            if holder is not None and holder.active:
                raise Conflict(
                    _(
                        "このLINEアカウントは、すでに別の社員の連携に使われています。"
                        "ご自身のLINEアカウントで連携してください。"
                        "心当たりがない場合はメンテナンス担当者にご連絡ください。"
                    ),
                    code="line_account_taken",
                )
        earlier = (
            await LineAccount.filter(employee_id=employee.id).exclude(user_id=user_id).exists()
        )
        if earlier and not replace:
            raise Conflict(
                _("別のLINEアカウントと連携済みです。新しいLINEアカウントに切り替えますか?"),
                code="confirm_replace",
            )
        follow_seen = account is not None and account.followed and not account.blocked
        bound = await _bind(employee, user_id, now)
        if not just_followed:
            # LINE Login does not make a friend: what the webhook told us still holds, and a
            # user never seen to follow is not one (LINE drops messages to them).
            if account is not None:
                bound.followed, bound.blocked = account.followed, account.blocked
            else:
                bound.followed, bound.blocked = False, False
        bound.display_name = display_name[:MAX_DISPLAY_NAME]
        bound.link_notice_owed_at = now
        await bound.save(
            update_fields=[
                "display_name",
                "followed",
                "blocked",
                "link_notice_owed_at",
                "updated_at",
            ]
        )
    log.info("LINE account linked to employee %s by LINE Login", employee.id)
    follow_waits = user_id in _follows_awaiting_link
    return LoginLink(employee, earlier, just_followed and (follow_waits or not follow_seen))


async def claim_link_notice(user_id: str) -> bool:
    """Take the completion message a LINE Login link owes this user: True for exactly one
    caller (who then sends it), False when none is owed or another caller took it."""
    return bool(
        await LineAccount.filter(user_id=user_id, link_notice_owed_at__isnull=False).update(
            link_notice_owed_at=None
        )
    )


async def link_notice_owed(user_id: str) -> bool:
    """Whether the completion message of a LINE Login link is still to be sent."""
    return await LineAccount.exists(user_id=user_id, link_notice_owed_at__isnull=False)


async def line_reachable(user_id: str) -> bool:
    """Whether, as far as LINE's webhook told us, this user is a friend who has not blocked
    the account (LINE silently drops messages to anyone else)."""
    return await LineAccount.exists(user_id=user_id, followed=True, blocked=False)
