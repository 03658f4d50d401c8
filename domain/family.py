"""Family safety: the family members an employee registers on their page, each one's own
LINE link through a one-time code, the short question an alert with family on sends them
(無事 / 負傷 / 不明 + message), their answers (or the employee's for them), and who may see
them: the employee, and supervisors only where `family_visible` is on and within scope.
Colleagues never see anything of another employee's family."""

import binascii
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import Subquery
from tortoise.transactions import in_transaction

from domain import answer_links, email_confirmation, throttle
from domain.actors import Actor
from domain.answers import not_linked_message
from domain.audit import audited, log_action
from domain.employees import EMAIL_PATTERN, MAX_EMAIL
from domain.errors import Conflict, Forbidden, Invalid, NotFound
from domain.hashing import hash_secret, verify_secret
from domain.i18n import gettext as _
from domain.linking import (
    CODE_ALPHABET,
    SIGN_IN_BACKOFF,
    SIGN_IN_LIMIT,
    SIGN_IN_WINDOW,
    linked_employee,
)
from domain.scope import Scope
from domain.settings import get_settings
from domain.signing import FAMILY_ANSWER_LINK, b64, sign, unb64, unsign
from models import (
    Alert,
    AlertRecipient,
    AlertRound,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Employee,
    FamilyAnswer,
    FamilyAnswerRevision,
    FamilyMember,
    FamilyStatus,
    Medium,
)

log = logging.getLogger(__name__)

MAX_MEMBERS = 10
MAX_NAME = 100
MAX_RELATION = 50
MAX_MESSAGE = 500
LINK_CODE_TTL = timedelta(days=14)
# A family link code names its member, so a check costs one hash, never one per member:
# F<member number>-XXXX-XXXX.
CODE_PATTERN = re.compile(r"^F(\d{1,9})-?([A-Z2-9]{4})-?([A-Z2-9]{4})$")


def status_label(status: FamilyStatus | str) -> str:
    """無事 / 負傷 / 不明 in the current language."""
    labels = {
        FamilyStatus.SAFE: _("無事"),
        FamilyStatus.INJURED: _("負傷"),
        FamilyStatus.UNKNOWN: _("不明"),
    }
    return labels[FamilyStatus(status)]


STATUS_ORDER = (FamilyStatus.SAFE, FamilyStatus.INJURED, FamilyStatus.UNKNOWN)


def _now() -> datetime:
    return datetime.now(UTC)


# Registering family members (the employee's own page)


@dataclass(frozen=True)
class MemberView:
    """A family member as their employee sees them."""

    id: int
    name: str
    relation: str
    email: str | None
    email_confirmed: bool
    line_linked: bool
    code_open: bool  # a link code was issued and not yet used or expired


async def _active_employee(employee_id: int) -> Employee:
    employee = await Employee.get_or_none(id=employee_id, active=True)
    if employee is None:
        raise NotFound(_("この社員は登録されていないか、退職済みです。"))
    return employee


async def _own_member(employee_id: int, member_id: int) -> FamilyMember:
    member = await FamilyMember.get_or_none(id=member_id, employee_id=employee_id)
    if member is None:
        raise NotFound(_("家族が見つかりません。"))
    return member


def _clean(name: str, relation: str, email: str) -> tuple[str, str, str | None]:
    name, relation, email = name.strip(), relation.strip(), email.strip()
    if not name or not relation:
        raise Invalid(_("家族の氏名と続柄を入力してください。"))
    if len(name) > MAX_NAME or len(relation) > MAX_RELATION:
        raise Invalid(_("家族の氏名または続柄が長すぎます。"))
    if email and (len(email) > MAX_EMAIL or not EMAIL_PATTERN.match(email)):
        raise Invalid(_("家族のメールアドレスの形式が正しくありません。"))
    return name, relation, email or None


async def members_of(employee_id: int) -> list[MemberView]:
    """The employee's family members, in the order they were added."""
    now = _now()
    return [
        MemberView(
            m.id,
            m.name,
            m.relation,
            m.email,
            m.email_confirmed_at is not None,
            m.line_user_id is not None,
            m.link_code_hash is not None
            and m.link_code_expires_at is not None
            and m.link_code_expires_at > now,
        )
        for m in await FamilyMember.filter(employee_id=employee_id).order_by("id")
    ]


@dataclass(frozen=True)
class Saved:
    """A family member as saved, and whether their address's confirmation e-mail went (None:
    none was due: no new address, or e-mail off for the caller)."""

    member: FamilyMember
    confirmation_sent: bool | None = None


async def add_member(
    employee_id: int,
    name: str,
    relation: str,
    email: str,
    actor: Actor,
    confirmations: email_confirmation.Confirmations | None = None,
) -> Saved:
    """Register a family member (at most MAX_MEMBERS); an e-mail address is kept unconfirmed
    and, with `confirmations`, gets its confirmation link (counted against the employee's
    confirmation e-mails: Throttled past them, before anything is written)."""
    name, relation, address = _clean(name, relation, email)
    if address and confirmations is not None:
        await email_confirmation.reserve_sending(employee_id)
    async with audited(actor, "family_add") as audit:
        employee = await _active_employee(employee_id)
        if await FamilyMember.filter(employee_id=employee.id).count() >= MAX_MEMBERS:
            raise Invalid(_("登録できる家族は%(max)s人までです。", max=MAX_MEMBERS))
        member = await FamilyMember.create(
            employee=employee, name=name, relation=relation, email=address
        )
        audit.target = f"family:{member.id}"
    if address and confirmations is not None:
        return Saved(member, await _send_confirmation(member, actor, confirmations))
    return Saved(member)


async def update_member(
    employee_id: int,
    member_id: int,
    name: str,
    relation: str,
    email: str,
    actor: Actor,
    confirmations: email_confirmation.Confirmations | None = None,
) -> Saved:
    """Change a family member's name, relation or e-mail (a new address is unconfirmed and,
    with `confirmations`, gets its confirmation link)."""
    name, relation, address = _clean(name, relation, email)
    before = await FamilyMember.get_or_none(id=member_id, employee_id=employee_id)
    new_address = before is not None and (before.email or "").lower() != (address or "").lower()
    if new_address and address and confirmations is not None:
        await email_confirmation.reserve_sending(employee_id)
    async with audited(actor, "family_edit", target=f"family:{member_id}"):
        await _active_employee(employee_id)
        member = await _own_member(employee_id, member_id)
        changed = (member.email or "").lower() != (address or "").lower()
        if changed:
            member.email_confirmed_at = None
        member.name, member.relation, member.email = name, relation, address
        await member.save()
    if changed and address and confirmations is not None:
        return Saved(member, await _send_confirmation(member, actor, confirmations))
    return Saved(member)


async def _send_confirmation(
    member: FamilyMember, actor: Actor, confirmations: email_confirmation.Confirmations
) -> bool:
    sent = await email_confirmation.send_family(member, confirmations)
    await log_action(
        actor, "family_email_confirm_sent", f"family:{member.id}", "ok" if sent else "failed"
    )
    return sent


async def resend_confirmation(
    employee_id: int,
    member_id: int,
    actor: Actor,
    confirmations: email_confirmation.Confirmations,
) -> bool:
    """E-mail a family member's unconfirmed address its link again; whether it went."""
    member = await _own_member(employee_id, member_id)
    if not member.email or member.email_confirmed_at is not None:
        raise NotFound(_("確認待ちの家族のメールアドレスが見つかりません。"))
    await _active_employee(employee_id)
    await email_confirmation.reserve_sending(employee_id)
    return await _send_confirmation(member, actor, confirmations)


async def remove_member(employee_id: int, member_id: int, actor: Actor) -> None:
    """Remove a family member with their answers and LINE link."""
    async with audited(actor, "family_remove", target=f"family:{member_id}"):
        member = await _own_member(employee_id, member_id)
        await member.delete()


def _new_code(member_id: int) -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
    return f"F{member_id}-{raw[:4]}-{raw[4:]}"


def normalize_code(raw: str) -> str:
    """A typed code upper-cased, without spaces (the hyphens may stay or go)."""
    return "".join(ch for ch in raw.upper() if ch.isalnum() or ch == "-")


async def issue_link_code(employee_id: int, member_id: int, actor: Actor) -> str:
    """A one-time code the family member sends to the bot to link their LINE (argon2-hashed,
    shown this once; an earlier code of theirs stops working)."""
    member = await _own_member(employee_id, member_id)
    code = _new_code(member.id)
    secret = CODE_PATTERN.match(code)
    assert secret is not None
    code_hash = await hash_secret(secret.group(2) + secret.group(3))
    async with audited(actor, "family_code_issue", target=f"family:{member.id}"):
        await _active_employee(employee_id)
        await FamilyMember.filter(id=member.id, employee_id=employee_id).update(
            link_code_hash=code_hash, link_code_expires_at=_now() + LINK_CODE_TTL
        )
    return code


def looks_like_family_code(text: str) -> bool:
    """Whether chat text is shaped like a family link code (the bot then tries it)."""
    return CODE_PATTERN.match(normalize_code(text)) is not None


async def link_by_code(user_id: str, text: str, actor: Actor) -> FamilyMember:
    """Link the LINE user who sent a family code to that family member; the code is spent.

    Attempts count under the same per-LINE-user key as the employee link page (5 per 15
    minutes, then a pause), reserved before the check; unknown, wrong and expired codes are
    alike (Invalid)."""
    found = CODE_PATTERN.match(normalize_code(text))
    if found is None:
        raise Invalid(_("家族登録コードが正しくありません。"))
    await throttle.reserve_attempt(
        f"link:{user_id}", SIGN_IN_LIMIT, SIGN_IN_WINDOW, SIGN_IN_BACKOFF
    )
    async with audited(actor, "family_line_link") as audit:
        member = await FamilyMember.get_or_none(id=int(found.group(1)))
        audit.target = f"family:{found.group(1)}"
        usable = (
            member is not None
            and member.link_code_hash is not None
            and member.link_code_expires_at is not None
            and member.link_code_expires_at > _now()
        )
        secret = found.group(2) + found.group(3)
        if not await verify_secret(member.link_code_hash if usable else None, secret):
            raise Invalid(_("家族登録コードが正しくありません。"))
        assert member is not None
        other = await FamilyMember.get_or_none(line_user_id=user_id)
        if other is not None and other.id != member.id:
            raise Conflict(_("このLINEアカウントはすでに別の家族として登録されています。"))
        spent = await FamilyMember.filter(
            id=member.id, link_code_hash=member.link_code_hash
        ).update(
            line_user_id=user_id, linked_at=_now(), link_code_hash=None, link_code_expires_at=None
        )
        if not spent:
            raise Invalid(_("家族登録コードが正しくありません。"))
    await throttle.clear(f"link:{user_id}")
    log.info("LINE account linked to family member %s", member.id)
    return member


async def family_member_of_line_user(user_id: str) -> FamilyMember | None:
    """The family member this LINE user is linked as, if any."""
    return await FamilyMember.get_or_none(line_user_id=user_id)


# The family round of an alert


def _emailed_members(employee_ids: Any) -> Any:
    """Family members with a confirmed address, of these employees (a list or a subquery)."""
    return FamilyMember.filter(
        employee_id__in=employee_ids, email__isnull=False, email_confirmed_at__isnull=False
    )


async def add_family_round(alert: Alert) -> int:
    """Within the caller's transaction (the alert's start): a round of kind family with one
    LINE delivery per linked family member of the roster; returns how many. The round is
    written too when only confirmed family e-mail addresses are there: the e-mail planner
    (`plan_family_emails`, running where e-mail is configured) writes their rows."""
    roster = list(
        await AlertRecipient.filter(alert_id=alert.id).values_list("employee_id", flat=True)
    )
    members = (
        await FamilyMember.filter(employee_id__in=roster, line_user_id__isnull=False).order_by("id")
        if alert.line_enabled
        else []
    )
    emailed = (
        await _emailed_members(roster).values_list("id", flat=True) if alert.email_enabled else []
    )
    reached = {m.id for m in members} | set(emailed)
    if not reached:
        return 0
    last = await AlertRound.filter(alert_id=alert.id).order_by("-round").first()
    number = (last.round if last else 0) + 1
    await AlertRound.create(
        alert=alert,
        round=number,
        kind=DeliveryKind.FAMILY,
        message="",
        sender_name=alert.sender_name,
        recipients=len(reached),
        started_at=_now(),
    )
    if not members:
        return 0
    await Delivery.bulk_create(
        [
            Delivery(
                alert=alert,
                employee_id=m.employee_id,
                kind=DeliveryKind.FAMILY,
                round=number,
                medium=Medium.LINE,
                address=m.line_user_id,
                status=DeliveryStatus.PENDING,
            )
            for m in members
        ],
        batch_size=1000,
    )
    return len(members)


async def plan_family_emails(alert: Alert) -> int:
    """The family round's e-mail deliveries an open alert with family and e-mail on is due:
    one per confirmed address of the roster's family members who have not answered (an
    address shared by two members of one employee gets one); rows already there are kept
    (ON CONFLICT DO NOTHING). Returns how many rows were written or already there."""
    if not alert.family or not alert.email_enabled or alert.is_closed:
        return 0
    round_ = await AlertRound.get_or_none(alert_id=alert.id, kind=DeliveryKind.FAMILY)
    if round_ is None:
        return 0
    roster = AlertRecipient.filter(alert_id=alert.id).values("employee_id")
    answered = FamilyAnswer.filter(alert_id=alert.id).values("member_id")
    members = (
        await _emailed_members(Subquery(roster)).exclude(id__in=Subquery(answered)).order_by("id")
    )
    seen: set[tuple[int, str]] = set()
    rows = []
    for m in members:
        key = (m.employee_id, (m.email or "").strip().lower())
        if key in seen:
            continue
        seen.add(key)
        rows.append(
            Delivery(
                alert_id=alert.id,
                employee_id=m.employee_id,
                kind=DeliveryKind.FAMILY,
                round=round_.round,
                medium=Medium.EMAIL,
                address=(m.email or "").strip(),
                status=DeliveryStatus.PENDING,
            )
        )
    known = set(
        await Delivery.filter(
            alert_id=alert.id, round=round_.round, medium=Medium.EMAIL
        ).values_list("employee_id", "address")
    )
    new = [r for r in rows if (r.employee_id, r.address) not in known]
    if new:
        await Delivery.bulk_create(new, batch_size=1000, ignore_conflicts=True)
        log.info("alert %s: %d family e-mail deliveries planned", alert.id, len(new))
    return len(new)


# Answer links (the family e-mail): a token naming one alert, one employee and one confirmed
# family address of theirs, until it expires. Its own signing purpose: an employee's answer
# link never passes for it, nor the other way round.


def sign_family_link(
    secret: str, alert_id: int, employee_id: int, address: str, expires_at: datetime
) -> str:
    """A token for the family member(s) at this address to answer this alert."""
    if not secret:
        raise ValueError("a secret key is needed to sign answer links")
    digest = email_confirmation.address_digest(address)
    fields = f"{alert_id}.{employee_id}.{int(expires_at.timestamp())}.{digest}"
    return sign(secret, FAMILY_ANSWER_LINK, b64(fields.encode("ascii")))


def _verify_family_link(secret: str, token: str, now: datetime) -> tuple[int, int, str]:
    invalid = Forbidden(answer_links.invalid_link_message(), code="invalid_link")
    if not secret or not token or len(token) > answer_links.MAX_TOKEN_LENGTH:
        raise invalid
    payload = unsign(secret, FAMILY_ANSWER_LINK, token) if token.count(".") == 1 else None
    if payload is None:
        raise invalid
    try:
        raw_alert, raw_employee, raw_expires, digest = unb64(payload).decode("ascii").split(".")
        alert_id, employee_id = int(raw_alert), int(raw_employee)
        expires_at = datetime.fromtimestamp(int(raw_expires), UTC)
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError, OSError):
        raise invalid from None
    if now >= expires_at:
        raise Forbidden(answer_links.expired_link_message(), code="expired_link")
    return alert_id, employee_id, digest


@dataclass(frozen=True)
class FamilyLinkView:
    """What a family answer link opens: the alert, the family member and their answer."""

    alert: Alert
    member: FamilyMember
    answer: FamilyAnswer | None


async def family_link_view(secret: str, token: str, now: datetime | None = None) -> FamilyLinkView:
    """The alert and family member a family answer link names (the member whose confirmed
    address it was sent to): Forbidden for a bad or expired link, NotFound once the address
    changed or the alert is not theirs."""
    alert_id, employee_id, digest = _verify_family_link(secret, token, now or _now())
    gone = NotFound(_("この回答用リンクのメールアドレスは、家族として登録されていません。"))
    members = await _emailed_members([employee_id]).filter(employee__active=True).order_by("id")
    member = next(
        (m for m in members if email_confirmation.address_digest(m.email or "") == digest), None
    )
    if member is None:
        raise gone
    alert = await Alert.get_or_none(id=alert_id, family=True)
    if alert is None or not await AlertRecipient.exists(alert_id=alert_id, employee_id=employee_id):
        raise NotFound(_("この安否確認は家族の回答を受け付けていません。"))
    answer = await FamilyAnswer.get_or_none(alert_id=alert.id, member_id=member.id)
    return FamilyLinkView(alert, member, answer)


async def answer_by_family_link(
    secret: str, token: str, status: FamilyStatus, message: str, now: datetime | None = None
) -> FamilyLinkView:
    """The family member a valid link names answers (again: a new revision); audited as the
    family member through the e-mail link."""
    view = await family_link_view(secret, token, now)
    actor = Actor.me(f"family:{view.member.id}")
    async with audited(actor, "family_answer", target=f"alert:{view.alert.id}") as audit:
        alert = await _open_family_alert(view.alert.id)
        answer = await _write_answer(alert, view.member, status, message, "email", False)
        audit.detail = {"family": view.member.id, "status": status.value}
    return FamilyLinkView(alert, view.member, answer)


# Answers


def parse_status(raw: str) -> FamilyStatus:
    """A status from a form or a postback."""
    try:
        return FamilyStatus(raw)
    except ValueError:
        raise Invalid(_("家族の状況を選んでください。")) from None


async def _open_family_alert(alert_id: int) -> Alert:
    alert = await Alert.get_or_none(id=alert_id)
    if alert is None or not alert.family:
        raise NotFound(_("この安否確認は家族の回答を受け付けていません。"))
    if alert.is_closed:
        raise Conflict(
            _("この安否確認は終了したため、家族の回答は受け付けていません。"), code="alert_closed"
        )
    return alert


async def _write_answer(
    alert: Alert,
    member: FamilyMember,
    status: FamilyStatus,
    message: str,
    channel: str,
    by_employee: bool,
) -> FamilyAnswer:
    if not await AlertRecipient.exists(alert_id=alert.id, employee_id=member.employee_id):
        raise NotFound(_("この安否確認は家族の回答を受け付けていません。"))
    message = message.strip()[:MAX_MESSAGE]
    now = _now()
    async with in_transaction():
        answer = await FamilyAnswer.get_or_none(alert_id=alert.id, member_id=member.id)
        if answer is None:
            answer = await FamilyAnswer.create(
                alert=alert,
                member=member,
                status=status,
                message=message,
                channel=channel,
                by_employee=by_employee,
                answered_at=now,
            )
        else:
            answer.revision += 1
            answer.status, answer.message, answer.channel = status, message, channel
            answer.by_employee, answer.answered_at = by_employee, now
            await answer.save()
        await FamilyAnswerRevision.create(
            answer=answer,
            revision=answer.revision,
            status=status,
            message=message,
            channel=channel,
            by_employee=by_employee,
            answered_at=now,
        )
    return answer


async def answer_as_family_line_user(
    user_id: str, alert_id: int, status: FamilyStatus, actor: Actor, message: str = ""
) -> FamilyMember:
    """The family member linked to this LINE user answers the alert's family question."""
    async with audited(actor, "family_answer", target=f"alert:{alert_id}") as audit:
        member = await FamilyMember.get_or_none(line_user_id=user_id)
        if member is None:
            raise NotFound(_("家族として登録されていません。"))
        alert = await _open_family_alert(alert_id)
        await _write_answer(alert, member, status, message, "line", by_employee=False)
        audit.detail = {"family": member.id, "status": status.value}
    return member


async def add_message_as_family_line_user(user_id: str, text: str, actor: Actor) -> FamilyStatus:
    """The family member linked to this LINE user adds a message to their answer: the one of
    the newest open alert they have answered (their status stays); returns that status.
    NotFound when they have no answer to an open alert yet (they choose a status first)."""
    async with audited(actor, "family_answer") as audit:
        member = await FamilyMember.get_or_none(line_user_id=user_id)
        if member is None:
            raise NotFound(_("家族として登録されていません。"))
        latest = (
            await FamilyAnswer.filter(
                member_id=member.id, alert__family=True, alert__closed_at__isnull=True
            )
            .order_by("-answered_at", "-id")
            .first()
        )
        if latest is None:
            raise NotFound(
                _(
                    "メッセージは、先に「無事」「負傷」「不明」のボタンで状況を選んでから送ってください。"
                )
            )
        audit.target = f"alert:{latest.alert_id}"
        alert = await _open_family_alert(latest.alert_id)
        await _write_answer(alert, member, latest.status, text, "line", by_employee=False)
        audit.detail = {"family": member.id, "status": latest.status.value, "message": True}
    return latest.status


async def answer_for_family(
    employee_id: int,
    alert_id: int,
    member_id: int,
    status: FamilyStatus,
    message: str,
    actor: Actor,
    channel: str = "me",
) -> None:
    """The employee records a family member's status (answering for them)."""
    async with audited(actor, "family_answer_for", target=f"alert:{alert_id}") as audit:
        await _active_employee(employee_id)
        member = await _own_member(employee_id, member_id)
        alert = await _open_family_alert(alert_id)
        await _write_answer(alert, member, status, message, channel, by_employee=True)
        audit.detail = {"family": member.id, "status": status.value, "channel": channel}


# What people see


@dataclass(frozen=True)
class MemberStatus:
    """One family member's answer to one alert (status None: not answered)."""

    member_id: int
    name: str
    relation: str
    status: FamilyStatus | None
    message: str
    answered_at: datetime | None
    by_employee: bool

    @property
    def status_name(self) -> str:
        return status_label(self.status) if self.status else _("回答待ち")


@dataclass(frozen=True)
class FamilyAlert:
    """An alert with family on, as the employee sees their family's answers."""

    alert_id: int
    title: str
    started_at: datetime
    closed: bool
    members: tuple[MemberStatus, ...]


async def family_alerts_for(employee_id: int, limit: int = 5) -> list[FamilyAlert]:
    """The latest alerts with family on that reached the employee, with each family member's
    answer: only the employee's own family."""
    members = await FamilyMember.filter(employee_id=employee_id).order_by("id")
    if not members:
        return []
    alert_ids = await AlertRecipient.filter(
        employee_id=employee_id, alert__family=True
    ).values_list("alert_id", flat=True)
    alerts = await Alert.filter(id__in=list(alert_ids)).order_by("-started_at", "-id").limit(limit)
    answers = await _answers_of([a.id for a in alerts], members)
    return [
        FamilyAlert(
            alert.id,
            alert.title,
            alert.started_at,
            alert.is_closed,
            _statuses(members, answers, alert.id),
        )
        for alert in alerts
    ]


async def _answers_of(
    alert_ids: list[int], members: list[FamilyMember]
) -> dict[tuple[int, int], FamilyAnswer]:
    return {
        (a.alert_id, a.member_id): a
        for a in await FamilyAnswer.filter(
            alert_id__in=alert_ids, member_id__in=[m.id for m in members]
        )
    }


def _statuses(
    members: list[FamilyMember], answers: dict[tuple[int, int], FamilyAnswer], alert_id: int
) -> tuple[MemberStatus, ...]:
    rows = []
    for m in members:
        a = answers.get((alert_id, m.id))
        rows.append(
            MemberStatus(
                m.id,
                m.name,
                m.relation,
                a.status if a else None,
                a.message if a else "",
                a.answered_at if a else None,
                a.by_employee if a else False,
            )
        )
    return tuple(rows)


@dataclass(frozen=True)
class FamilyRow:
    """One family member's status for a supervisor (never their LINE account)."""

    employee_code: str
    employee_name: str
    department_id: int | None
    relation: str
    name: str
    status: FamilyStatus | None
    message: str
    answered_at: datetime | None

    @property
    def status_name(self) -> str:
        return status_label(self.status) if self.status else _("回答待ち")


@dataclass(frozen=True)
class FamilySummary:
    """The family answers of an alert within a viewer's scope: counts and rows."""

    counts: dict[FamilyStatus, int]
    unanswered: int
    rows: tuple[FamilyRow, ...]

    @property
    def total(self) -> int:
        return sum(self.counts.values()) + self.unanswered

    def by_employee(self) -> dict[str, str]:
        """{employee code: "配偶者 山田花子: 無事、子 山田太郎: 回答待ち"} for a CSV column."""
        found: dict[str, list[str]] = {}
        for row in self.rows:
            found.setdefault(row.employee_code, []).append(
                f"{row.relation} {row.name}: {row.status_name}"
            )
        return {code: "、".join(parts) for code, parts in found.items()}

    def line(self) -> str:
        """家族の安否: 無事 2 / 負傷 0 / 不明 1 / 未回答 3"""
        parts = [f"{status_label(s)} {self.counts.get(s, 0)}" for s in STATUS_ORDER]
        parts.append(f"{_('回答待ち')} {self.unanswered}")
        return _("家族の安否: %(counts)s", counts=" / ".join(parts))


async def family_visible() -> bool:
    """Whether supervisors and the admin group may see family status at all."""
    return (await get_settings()).family_visible


async def family_summary(alert: Alert, scope: Scope) -> FamilySummary | None:
    """The family status of an alert's roster within `scope`, or None where it may not be
    seen (family_visible off, or an alert without family)."""
    if not alert.family or not await family_visible():
        return None
    alert_id = alert.id
    recipients = await scope.filter(AlertRecipient.filter(alert_id=alert_id)).values_list(
        "employee_id", "department_id"
    )
    departments = dict(recipients)
    if not departments:
        return FamilySummary({}, 0, ())
    members = (
        await FamilyMember.filter(employee_id__in=list(departments))
        .select_related("employee")
        .order_by("employee_id", "id")
    )
    answers = {
        a.member_id: a
        for a in await FamilyAnswer.filter(alert_id=alert_id, member_id__in=[m.id for m in members])
    }
    counts: dict[FamilyStatus, int] = {}
    rows = []
    unanswered = 0
    for m in members:
        a = answers.get(m.id)
        if a is None:
            unanswered += 1
        else:
            counts[a.status] = counts.get(a.status, 0) + 1
        rows.append(
            FamilyRow(
                m.employee.code,
                m.employee.name,
                departments.get(m.employee_id),
                m.relation,
                m.name,
                a.status if a else None,
                a.message if a else "",
                a.answered_at if a else None,
            )
        )
    return FamilySummary(counts, unanswered, tuple(rows))


# The LIFF answer form: the employee answers for their family after their own answer


async def _employee_of_line_user(user_id: str) -> Employee:
    employee = await linked_employee(user_id)
    if employee is None:
        raise Forbidden(not_linked_message(), code="not_linked")
    return employee


async def family_for_line_user(user_id: str, alert_id: int) -> tuple[MemberStatus, ...]:
    """The family of the employee this (verified) LINE user is linked to, each with their
    answer to the alert: none for an alert without family or not addressed to them."""
    employee = await _employee_of_line_user(user_id)
    alert = await Alert.get_or_none(id=alert_id, family=True)
    if alert is None or not await AlertRecipient.exists(alert_id=alert_id, employee_id=employee.id):
        return ()
    members = await FamilyMember.filter(employee_id=employee.id).order_by("id")
    return _statuses(members, await _answers_of([alert.id], members), alert.id)


async def answer_for_family_as_line_user(
    user_id: str,
    alert_id: int,
    member_id: int,
    status: FamilyStatus,
    message: str,
    actor: Actor,
) -> tuple[MemberStatus, ...]:
    """The employee this LINE user is linked to answers for one of their own family members
    (from the LIFF answer form); returns their family's answers."""
    employee = await _employee_of_line_user(user_id)
    await answer_for_family(employee.id, alert_id, member_id, status, message, actor, "liff")
    return await family_for_line_user(user_id, alert_id)


async def purge_family_answers(alert_ids: list[int]) -> int:
    """Delete the family's answers (with their revisions) to these alerts, inside the caller's
    transaction (retention: what families wrote goes with the employees' answers); how many
    rows went."""
    answers = FamilyAnswer.filter(alert_id__in=alert_ids)
    revisions = await FamilyAnswerRevision.filter(
        answer_id__in=Subquery(answers.values("id"))
    ).delete()
    return revisions + await FamilyAnswer.filter(alert_id__in=alert_ids).delete()
