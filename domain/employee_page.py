"""The employee's own page (/me/): signing in with the employee code and a registration code
(the first time) or a password, and what the page shows and lets the employee change about
their own record only: contact media (LINE registered or not, e-mail addresses on/off),
preferred language, and their answers to recent alerts.

Signing in with a registration code: where the organisation uses passwords
(`OrganizationSettings.employee_passwords`, the default), the employee sets one at once, and
setting it spends the code; where the organisation keeps codes, signing in does not spend the
code, which stays usable until it expires or is replaced. Linking LINE in chat spends the
code for the link page only: it still signs in here until a password is set. The employee
code is matched in any case."""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.expressions import F

from domain import email_confirmation, i18n, linking, throttle
from domain.actors import Actor
from domain.alerts import shown_wording
from domain.audit import audited, log_action
from domain.check_items import parse_items
from domain.employees import EMAIL_PATTERN, MAX_EMAIL
from domain.errors import Invalid, NotFound
from domain.family import FamilyAlert, MemberView, family_alerts_for, members_of
from domain.hashing import hash_secret, prioritized, verify_secret
from domain.i18n import gettext as _
from domain.organization import active_employee
from domain.passwords import check_strength
from domain.settings import get_settings
from models import (
    AlertRecipient,
    Answer,
    Department,
    Employee,
    EmployeeEmail,
    LineAccount,
    RegistrationCode,
)

log = logging.getLogger(__name__)

MIN_PASSWORD = 8
MAX_PASSWORD = 128
MAX_SECRET = 128  # longer input is neither a password nor a code: not hashed
MAX_EXTRA_EMAILS = 5
RECENT_ALERTS = 10
LANGUAGES = i18n.LANGUAGES


def sign_in_failed_message() -> str:
    """A wrong employee code or secret, in the current language."""
    return _("社員番号またはパスワード(登録コード)が正しくありません。")


@dataclass(frozen=True)
class SignedIn:
    """Who signed in and how; `generation` is the employee's session generation, which
    signing out and a new password raise, ending the sessions opened before."""

    employee_id: int
    via_code: bool
    must_set_password: bool
    generation: int


def _attempts_key(employee_code: str) -> str:
    return f"me:{employee_code.lower()}"  # codes are typed in either case


def _now() -> datetime:
    return datetime.now(UTC)


async def _open_code(employee: Employee | None) -> RegistrationCode | None:
    """The registration code that signs the employee in here (`linking.page_code`)."""
    return await linking.page_code(employee) if employee is not None else None


async def sign_in(employee_code: str, secret: str, address: str) -> SignedIn:
    """Check the employee code with a password or a registration code from a client address,
    audited under that code, by the sign-in rule of domain.throttle; wrong, unknown and
    retired are alike (Invalid), and cost the same two hash checks."""
    employee_code = employee_code.strip()[:64]
    actor = Actor.me(employee_code)
    if not employee_code or not secret.strip():
        raise Invalid(_("社員番号とパスワード(はじめての方は登録コード)を入力してください。"))
    async with throttle.sign_in_check(actor, _attempts_key(employee_code), address):
        employee, by_password = await _check_sign_in(employee_code, secret)
    via_code = not by_password
    settings = await get_settings()
    await log_action(actor, "sign_in", detail={"via": "code" if via_code else "password"})
    return SignedIn(
        employee.id,
        via_code=via_code,
        must_set_password=via_code and settings.employee_passwords,
        generation=employee.session_generation,
    )


async def _check_sign_in(employee_code: str, secret: str) -> tuple[Employee, bool]:
    """The employee and whether the password (not a code) matched."""
    employee = await active_employee(employee_code)
    secret = secret[:MAX_SECRET]
    by_password = await verify_secret(employee.password_hash if employee else None, secret)
    code = await _open_code(employee)
    by_code = await verify_secret(code.code_hash if code else None, linking.normalize_code(secret))
    if employee is None or not (by_password or by_code):
        raise Invalid(sign_in_failed_message())
    return employee, by_password


async def signed_in_employee(employee_id: int, generation: int) -> Employee | None:
    """The active employee of a session, unless the session's generation is older than the
    employee's (signed out, a new password) or the employee is gone."""
    employee = await Employee.get_or_none(id=employee_id, active=True)
    if employee is None or employee.session_generation != generation:
        return None
    return employee


async def sign_out(employee_id: int, actor: Actor) -> None:
    """Sign the employee out everywhere: every session they have open ends."""
    async with audited(actor, "sign_out"):
        await _end_sessions(employee_id)


async def _end_sessions(employee_id: int) -> int:
    """A new session generation for the employee (older sessions end); return it."""
    await Employee.filter(id=employee_id).update(session_generation=F("session_generation") + 1)
    return (await Employee.get(id=employee_id)).session_generation


def _check_password(employee: Employee, new: str, confirm: str) -> None:
    if new != confirm:
        raise Invalid(
            _("確認用のパスワードが一致しません。"), fields={"confirm": _("一致しません")}
        )
    if len(new) < MIN_PASSWORD:
        raise Invalid(
            _("パスワードは%(n)s文字以上にしてください。", n=MIN_PASSWORD),
            fields={"password": _("短すぎます")},
        )
    if len(new) > MAX_PASSWORD:
        raise Invalid(
            _("パスワードは%(n)s文字以内にしてください。", n=MAX_PASSWORD),
            fields={"password": _("長すぎます")},
        )
    if new.strip().lower() == employee.code.lower():
        raise Invalid(
            _("社員番号と同じパスワードは使えません。"),
            fields={"password": _("社員番号と同じです")},
        )
    check_strength(new)


async def set_password(
    employee_id: int, new: str, confirm: str, actor: Actor, *, current: str | None = None
) -> str:
    """Set the employee's password; return the new session generation (every other session
    of the employee ends; the caller's goes on under it).

    `current` is required when the employee already has one and signed in with it (a session
    opened with a registration code sets it without). Setting a password spends the
    employee's open registration codes."""
    employee = await Employee.get_or_none(id=employee_id, active=True)
    if employee is None:
        raise NotFound(_("社員が見つかりません。"))
    _check_password(employee, new, confirm)
    if current is not None:
        # Only a signed-in employee gets here: their own counter (no stranger can add to
        # it), and their check goes ahead of unauthenticated sign-ins.
        key = f"{_attempts_key(employee.code)}#current"
        await throttle.reserve_attempt(
            key, throttle.SIGN_IN_LIMIT, throttle.SIGN_IN_WINDOW, throttle.SIGN_IN_BACKOFF
        )
        with prioritized():
            matches = await verify_secret(employee.password_hash, current[:MAX_SECRET])
        if not matches:
            raise Invalid(
                _("現在のパスワードが正しくありません。"), fields={"current": _("違います")}
            )
        await throttle.clear(key)
    password_hash = await hash_secret(new)
    async with audited(actor, "password_set", target=employee.code):
        await Employee.filter(id=employee.id).update(password_hash=password_hash)
        await RegistrationCode.filter(
            employee_id=employee.id, used_at__isnull=True, revoked=False
        ).update(used_at=_now())
        generation = await _end_sessions(employee.id)
    await throttle.clear_account(_attempts_key(employee.code))
    return generation


@dataclass(frozen=True)
class EmailAddress:
    """One address on the page: the record's (`id` None, kept by the maintainer) or one the
    employee added."""

    id: int | None
    address: str
    enabled: bool
    confirmed: bool  # the record's always; an added one once its link was opened


@dataclass(frozen=True)
class RecentAnswer:
    """An alert that reached the employee, with their answer (None: 未回答)."""

    alert_id: int
    title: str
    started_at: datetime
    closed: bool
    answered_at: datetime | None
    choices: tuple[tuple[str, str], ...]
    message: str


@dataclass(frozen=True)
class MyPage:
    """Everything the page shows: the employee's own record only."""

    code: str
    name: str
    department: str
    line_registered: bool
    line_display_name: str  # their own, shown to them only
    emails: tuple[EmailAddress, ...]
    can_add_email: bool
    language: str
    has_password: bool
    recent: tuple[RecentAnswer, ...]
    family: tuple[MemberView, ...] = ()  # their own family only
    family_alerts: tuple[FamilyAlert, ...] = ()


async def _department_path(department_id: int | None) -> str:
    names: list[str] = []
    seen: set[int] = set()
    while department_id is not None and department_id not in seen:
        seen.add(department_id)
        department = await Department.get_or_none(id=department_id)
        if department is None:
            break
        names.append(department.name)
        department_id = department.parent_id
    return "/".join(reversed(names))


async def _active(employee_id: int) -> Employee:
    employee = await Employee.get_or_none(id=employee_id, active=True)
    if employee is None:
        raise NotFound(_("社員が見つかりません。"))
    return employee


async def recent_answers(employee: Employee, limit: int = RECENT_ALERTS) -> list[RecentAnswer]:
    """The newest alerts on the employee's roster with their answer, newest first, in the
    employee's language (answers store the Japanese choices)."""
    language = i18n.language_of(employee.language)
    recipients = (
        await AlertRecipient.filter(employee_id=employee.id)
        .order_by("-alert__started_at", "-alert_id")
        .limit(limit)
        .prefetch_related("alert")
    )
    alerts = [r.alert for r in recipients]
    answers = {
        a.alert_id: a
        for a in await Answer.filter(employee_id=employee.id, alert_id__in=[a.id for a in alerts])
    }
    out = []
    for alert in alerts:
        answer = answers.get(alert.id)
        choices: tuple[tuple[str, str], ...] = ()
        if answer is not None:
            choices = tuple(
                (
                    item.shown_label(language),
                    item.shown_choice(answer.choices[item.label], language),
                )
                for item in parse_items(alert.items)
                if item.label in answer.choices
            )
        out.append(
            RecentAnswer(
                alert_id=alert.id,
                title=shown_wording(alert, language)[0],
                started_at=alert.started_at,
                closed=alert.is_closed,
                answered_at=answer.answered_at if answer else None,
                choices=choices,
                message=answer.message if answer else "",
            )
        )
    return out


async def my_page(employee_id: int) -> MyPage:
    """What the signed-in employee's page shows."""
    employee = await _active(employee_id)
    account = await LineAccount.get_or_none(employee_id=employee.id)
    emails: list[EmailAddress] = []
    if employee.email:
        emails.append(EmailAddress(None, employee.email, employee.email_enabled, True))
    extra = await EmployeeEmail.filter(employee_id=employee.id).order_by("id")
    emails += [EmailAddress(e.id, e.address, e.enabled, e.confirmed_at is not None) for e in extra]
    return MyPage(
        code=employee.code,
        name=employee.name,
        department=await _department_path(employee.department_id),
        line_registered=account is not None,
        line_display_name=account.display_name if account is not None else "",
        emails=tuple(emails),
        can_add_email=len(extra) < MAX_EXTRA_EMAILS,
        language=employee.language if employee.language in LANGUAGES else "ja",
        has_password=employee.password_hash is not None,
        recent=tuple(await recent_answers(employee)),
        family=tuple(await members_of(employee.id)),
        family_alerts=tuple(await family_alerts_for(employee.id)),
    )


def _clean_address(raw: str) -> str:
    address = raw.strip()
    if not address:
        raise Invalid(_("メールアドレスを入力してください。"), fields={"address": _("必須です")})
    if len(address) > MAX_EMAIL or not EMAIL_PATTERN.match(address):
        raise Invalid(
            _("メールアドレスの形式が正しくありません。"), fields={"address": _("形式が違います")}
        )
    return address


async def add_email(
    employee_id: int, raw: str, actor: Actor, confirmations: email_confirmation.Confirmations
) -> bool:
    """Add an address (on, unconfirmed) to the employee's contact media: at most
    MAX_EXTRA_EMAILS, no address twice; then e-mail it its confirmation link. Returns whether
    that e-mail went (nothing else goes there before the link is opened)."""
    async with audited(actor, "email_add"):
        added = await _add_email(employee_id, raw)
    return await email_confirmation.send(added, added.employee.name, confirmations)


async def _add_email(employee_id: int, raw: str) -> EmployeeEmail:
    employee = await _active(employee_id)
    address = _clean_address(raw)
    existing = await EmployeeEmail.filter(employee_id=employee.id).values_list("address", flat=True)
    known = [a.lower() for a in [*existing, employee.email or ""]]
    if address.lower() in known:
        raise Invalid(
            _("このメールアドレスはすでに登録されています。"), fields={"address": _("重複")}
        )
    if len(existing) >= MAX_EXTRA_EMAILS:
        raise Invalid(_("追加できるメールアドレスは%(n)s件までです。", n=MAX_EXTRA_EMAILS))
    await email_confirmation.reserve_sending(employee.id)
    return await EmployeeEmail.create(employee=employee, address=address, enabled=True)


async def set_email_enabled(
    employee_id: int, email_id: int | None, enabled: bool, actor: Actor
) -> None:
    """Switch one address on or off (`email_id` None: the record's address)."""
    async with audited(actor, "email_switch"):
        employee = await _active(employee_id)
        if email_id is None:
            if not employee.email:
                raise NotFound(_("メールアドレスが見つかりません。"))
            await Employee.filter(id=employee.id).update(email_enabled=enabled)
            return
        found = EmployeeEmail.filter(id=email_id, employee_id=employee.id)
        if not await found.update(enabled=enabled):
            raise NotFound(_("メールアドレスが見つかりません。"))


async def remove_email(employee_id: int, email_id: int, actor: Actor) -> None:
    """Remove an address the employee added (the record's address stays: the maintainer
    keeps it; it can be switched off)."""
    async with audited(actor, "email_remove"):
        employee = await _active(employee_id)
        if not await EmployeeEmail.filter(id=email_id, employee_id=employee.id).delete():
            raise NotFound(_("メールアドレスが見つかりません。"))


@dataclass(frozen=True)
class LanguageSet:
    """A saved language, and the LINE user whose linked menu must follow it (None: none)."""

    language: str
    line_user_id: str | None


async def set_language(employee_id: int, language: str, actor: Actor) -> LanguageSet:
    """The employee's preferred language (one of LANGUAGES): their chat, forms, e-mails
    and menu follow it."""
    if language not in LANGUAGES:
        raise Invalid(_("言語を選択してください。"))
    async with audited(actor, "language_set") as entry:
        employee = await _active(employee_id)
        await Employee.filter(id=employee.id).update(language=language)
        entry.detail = {"language": language}
    return LanguageSet(language, await linking.current_line_user(employee.id))


async def unlink_line(employee_id: int, actor: Actor) -> str | None:
    """Unlink the employee's LINE account as 連携解除 in chat does; return its user ID (None
    when nothing was linked)."""
    employee = await _active(employee_id)
    user_id = await linking.current_line_user(employee.id)
    if user_id is None or await linking.unlink(user_id, actor) is None:
        return None
    return user_id
