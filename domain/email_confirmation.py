"""Confirming the e-mail addresses employees add on their own page: a signed link e-mailed to
the address, which must be opened before any alert, reminder or fallback e-mail goes there
(`domain.contacts` skips unconfirmed addresses). The record's address needs none.

The link's token is a `domain.signing` token of its own purpose whose payload, URL-safe
base64, is `email id.expires.digest`: the digest names the address itself, so a token of a
removed address never confirms another one that later got its number."""

import binascii
import hashlib
import html
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import make_msgid
from urllib.parse import urlencode, urlsplit

from domain import throttle
from domain.actors import Actor
from domain.audit import audited, log_action
from domain.email_delivery import Mail, MailOutcome, MailSender
from domain.errors import Forbidden, NotFound
from domain.i18n import gettext as _
from domain.signing import EMAIL_CONFIRM, FAMILY_EMAIL_CONFIRM, b64, sign, unb64, unsign
from models import EmployeeEmail, FamilyMember

LINK_LIFETIME = timedelta(days=3)
MAX_TOKEN_LENGTH = 300
# Confirmation e-mails per employee: an address they do not own must not be flooded.
SEND_LIMIT = 5
SEND_WINDOW = timedelta(hours=1)
SEND_BACKOFF = timedelta(hours=1)


@dataclass(frozen=True)
class Confirmations:
    """What sending a confirmation needs: the signing secret, the confirmation page's URL and
    the SMTP sender (None where e-mail is off: nothing can be confirmed then)."""

    secret: str
    confirm_url: str
    sender: MailSender | None


def address_digest(address: str) -> str:
    """A short digest naming an address (any case): a link signed for it fails once it changed."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()[:16]


def sign_confirmation(secret: str, email: EmployeeEmail, expires_at: datetime) -> str:
    """A token that confirms this address until `expires_at`."""
    fields = f"{email.id}.{int(expires_at.timestamp())}.{address_digest(email.address)}"
    return sign(secret, EMAIL_CONFIRM, b64(fields.encode("ascii")))


def sign_family_confirmation(secret: str, member: FamilyMember, expires_at: datetime) -> str:
    """A token that confirms this family member's address until `expires_at` (a purpose of
    its own: it never confirms an employee's address of the same number)."""
    fields = f"{member.id}.{int(expires_at.timestamp())}.{address_digest(member.email or '')}"
    return sign(secret, FAMILY_EMAIL_CONFIRM, b64(fields.encode("ascii")))


def _verify(
    secret: str, token: str, now: datetime, purpose: str = EMAIL_CONFIRM
) -> tuple[int, str]:
    """(email id, address digest) of a valid token; Forbidden otherwise."""
    invalid = Forbidden(
        _(
            "この確認用リンクは無効です。メールに記載されたリンクをそのまま開くか、"
            "社員ページから確認メールを再送してください。"
        ),
        code="invalid_link",
    )
    if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        raise invalid
    payload = unsign(secret, purpose, token)
    if payload is None:
        raise invalid
    try:
        raw_id, raw_expires, digest = unb64(payload).decode("ascii").split(".")
        expires_at = datetime.fromtimestamp(int(raw_expires), UTC)
        email_id = int(raw_id)
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError, OSError):
        raise invalid from None
    if now >= expires_at:
        raise Forbidden(
            _(
                "この確認用リンクは有効期限が切れています。社員ページから確認メールを再送してください。"
            ),
            code="expired_link",
        )
    return email_id, digest


def is_family_link(secret: str, token: str) -> bool:
    """Whether a confirmation link is a family member's (by its signature's purpose)."""
    return unsign(secret, FAMILY_EMAIL_CONFIRM, token) is not None


async def pending_address(secret: str, token: str, now: datetime | None = None) -> str:
    """The address a confirmation link names (for the page that asks to confirm it): an
    employee's own, or a family member's."""
    if is_family_link(secret, token):
        member = await _member_of(secret, token, now or datetime.now(UTC))
        return member.email or ""
    email = await _email_of(secret, token, now or datetime.now(UTC))
    return email.address


async def _member_of(secret: str, token: str, now: datetime) -> FamilyMember:
    member_id, digest = _verify(secret, token, now, FAMILY_EMAIL_CONFIRM)
    member = await FamilyMember.get_or_none(id=member_id).select_related("employee")
    if (
        member is None
        or not member.email
        or address_digest(member.email) != digest
        or not member.employee.active
    ):
        raise NotFound(_("このメールアドレスは登録されていません。"), code="email_not_found")
    return member


async def _email_of(secret: str, token: str, now: datetime) -> EmployeeEmail:
    email_id, digest = _verify(secret, token, now)
    email = await EmployeeEmail.get_or_none(id=email_id).select_related("employee")
    if email is None or address_digest(email.address) != digest or not email.employee.active:
        raise NotFound(_("このメールアドレスは登録されていません。"), code="email_not_found")
    return email


async def confirm(secret: str, token: str, now: datetime | None = None) -> str:
    """Confirm the address a valid link names (again: no change); return the address."""
    now = now or datetime.now(UTC)
    if is_family_link(secret, token):
        member = await _member_of(secret, token, now)
        actor = Actor.me(member.employee.code)
        async with audited(actor, "family_email_confirm", target=f"family:{member.id}"):
            await FamilyMember.filter(
                id=member.id, email=member.email, email_confirmed_at__isnull=True
            ).update(email_confirmed_at=now)
        return member.email or ""
    email = await _email_of(secret, token, now)
    async with audited(Actor.me(email.employee.code), "email_confirm", target=email.employee.code):
        await EmployeeEmail.filter(id=email.id, confirmed_at__isnull=True).update(confirmed_at=now)
    return email.address


async def reserve_sending(employee_id: int) -> None:
    """Count one confirmation e-mail of the employee before it is sent (Throttled past it)."""
    await throttle.reserve_attempt(
        f"email-confirm:{employee_id}", SEND_LIMIT, SEND_WINDOW, SEND_BACKOFF
    )


def _mail(email: EmployeeEmail, name: str, url: str) -> Mail:
    """The confirmation e-mail, in the current language (the employee's, on their page)."""
    paragraphs = [
        _("%(name)sさん", name=name),
        _(
            "社員ページで、このメールアドレスが安否確認の連絡先に追加されました。"
            "下のリンクを開いて確認すると、このアドレスにも安否確認のメールが届くようになります。"
        ),
        url,
        _(
            "リンクの有効期限は%(days)s日です。心当たりがない場合は、このメールを"
            "破棄してください(このアドレスには何も届きません)。",
            days=LINK_LIFETIME.days,
        ),
    ]
    button = html.escape(_("メールアドレスを確認する"))
    body = "".join(
        f'<p><a href="{html.escape(p)}">{button}</a></p>'
        if p == url
        else f"<p>{html.escape(p)}</p>"
        for p in paragraphs
    )
    return Mail(
        to=email.address,
        subject=_("【安否確認】メールアドレスの確認"),
        text="\n\n".join(paragraphs) + "\n",
        html=body,
        message_id=make_msgid("anpi-email-confirm", domain=urlsplit(url).hostname or "localhost"),
    )


async def send(
    email: EmployeeEmail, name: str, confirmations: Confirmations, now: datetime | None = None
) -> bool:
    """E-mail the address its confirmation link; whether the SMTP server accepted it."""
    if confirmations.sender is None:
        return False
    expires_at = (now or datetime.now(UTC)) + LINK_LIFETIME
    token = sign_confirmation(confirmations.secret, email, expires_at)
    url = f"{confirmations.confirm_url}?{urlencode({'token': token})}"
    [result] = await confirmations.sender.send([_mail(email, name, url)])
    return result.outcome is MailOutcome.SENT


async def resend(
    employee_id: int, email_id: int, actor: Actor, confirmations: Confirmations
) -> bool:
    """E-mail an unconfirmed address of the employee's its link again; whether it went."""
    email = await EmployeeEmail.get_or_none(
        id=email_id, employee_id=employee_id, employee__active=True
    ).select_related("employee")
    if email is None or email.confirmed_at is not None:
        raise NotFound(_("確認待ちのメールアドレスが見つかりません。"))
    await reserve_sending(employee_id)
    sent = await send(email, email.employee.name, confirmations)
    await log_action(actor, "email_confirm_sent", email.employee.code, "ok" if sent else "failed")
    return sent


def _family_mail(member: FamilyMember, url: str) -> Mail:
    paragraphs = [
        _("%(name)s様", name=member.name),
        _(
            "ご家族の社員ページで、このメールアドレスが安否確認の連絡先(ご家族)として登録されました。"
            "下のリンクを開いて確認すると、安否確認のときに、このアドレスにご家族向けの質問が届くようになります。"
        ),
        url,
        _(
            "リンクの有効期限は%(days)s日です。心当たりがない場合は、このメールを"
            "破棄してください(このアドレスには何も届きません)。",
            days=LINK_LIFETIME.days,
        ),
    ]
    body = "".join(
        f'<p><a href="{html.escape(p)}">{html.escape(_("メールアドレスを確認する"))}</a></p>'
        if p == url
        else f"<p>{html.escape(p)}</p>"
        for p in paragraphs
    )
    return Mail(
        to=member.email or "",
        subject=_("【安否確認】メールアドレスの確認"),
        text="\n\n".join(paragraphs) + "\n",
        html=body,
        message_id=make_msgid("anpi-family-confirm", domain=urlsplit(url).hostname or "localhost"),
    )


async def send_family(
    member: FamilyMember, confirmations: Confirmations, now: datetime | None = None
) -> bool:
    """E-mail a family member's unconfirmed address its confirmation link (the employee's
    confirmation e-mails are counted first, `reserve_sending`); whether the SMTP server
    accepted it."""
    if confirmations.sender is None or not member.email:
        return False
    expires_at = (now or datetime.now(UTC)) + LINK_LIFETIME
    token = sign_family_confirmation(confirmations.secret, member, expires_at)
    url = f"{confirmations.confirm_url}?{urlencode({'token': token})}"
    [result] = await confirmations.sender.send([_family_mail(member, url)])
    return result.outcome is MailOutcome.SENT
