"""Signed answer links for the e-mail medium: a token that names one employee, one alert and
the delivery round it was sent for, until it expires. The browser can change nothing in it
without breaking the signature, so the answer page trusts only what the token says.

The token is a `domain.signing` token of its own purpose (a CSRF or cookie signature never
passes) whose payload, URL-safe base64 too, is `alert.employee.round.expires` (epoch
seconds)."""

import binascii
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.answers import AlertView, alert_for
from domain.errors import Forbidden, NotFound
from domain.i18n import gettext as _
from domain.signing import ANSWER_LINK, b64, sign, unb64, unsign
from models import Employee

LINK_LIFETIME = timedelta(days=7)
MAX_TOKEN_LENGTH = 300


def invalid_link_message() -> str:
    """A broken or forged answer link, in the current language."""
    return _(
        "この回答用リンクは無効です。メールに記載されたリンクをそのまま開いてください。"
        "(リンクが途中で切れている場合は、すべてをコピーしてブラウザに貼り付けてください)"
    )


def expired_link_message() -> str:
    """An answer link past its lifetime, in the current language."""
    return _(
        "この回答用リンクは有効期限が切れています。"
        "新しい連絡・再通知のメールのリンクから回答してください。"
    )


@dataclass(frozen=True)
class AnswerLink:
    """What a valid token says: who answers which alert, from which round's message."""

    alert_id: int
    employee_id: int
    round: int
    expires_at: datetime


def sign_link(
    secret: str, alert_id: int, employee_id: int, round_: int, expires_at: datetime
) -> str:
    """A token for this employee to answer this alert until `expires_at`."""
    if not secret:
        raise ValueError("a secret key is needed to sign answer links")
    fields = f"{alert_id}.{employee_id}.{round_}.{int(expires_at.timestamp())}"
    return sign(secret, ANSWER_LINK, b64(fields.encode("ascii")))


def verify_link(secret: str, token: str, now: datetime | None = None) -> AnswerLink:
    """The link a token stands for; Forbidden (code `invalid_link` or `expired_link`) for a
    token that is malformed, altered, signed with another key, or past its expiry."""
    invalid = Forbidden(invalid_link_message(), code="invalid_link")
    if not secret or not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        raise invalid
    payload = unsign(secret, ANSWER_LINK, token)
    if payload is None:
        raise invalid
    try:
        parts = [int(p) for p in unb64(payload).decode("ascii").split(".")]
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid from None
    if len(parts) != 4 or min(parts[:2]) < 1 or max(parts[:2]) >= 2**31 or parts[2] < 0:
        raise invalid
    alert_id, employee_id, round_, expires = parts
    try:
        expires_at = datetime.fromtimestamp(expires, UTC)
    except (OverflowError, OSError, ValueError):
        raise invalid from None
    if (now or datetime.now(UTC)) >= expires_at:
        raise Forbidden(expired_link_message(), code="expired_link")
    return AnswerLink(alert_id, employee_id, round_, expires_at)


def link_expiry(sent_from: datetime) -> datetime:
    """When a link in a message written at `sent_from` stops working."""
    return sent_from + LINK_LIFETIME


@dataclass(frozen=True)
class LinkedAlert:
    """What an answer link opens: the employee it names and their view of the alert."""

    link: AnswerLink
    employee: Employee
    view: AlertView


async def linked_alert(secret: str, token: str, now: datetime | None = None) -> LinkedAlert:
    """The employee and alert a token names, if it is valid and they are on the alert's
    roster: Forbidden for a bad or expired token, NotFound otherwise."""
    link = verify_link(secret, token, now)
    employee = await Employee.get_or_none(id=link.employee_id)
    if employee is None:
        raise NotFound(_("指定された安否確認が見つかりません。"), code="alert_not_found")
    return LinkedAlert(link, employee, await alert_for(link.alert_id, employee))
