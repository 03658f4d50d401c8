"""What the e-mail medium says (in the recipient's language, plain text and HTML of the same
content): the alert
as the LINE bubble shows it (開始日時, タイトル, 連絡者, 連絡メッセージ, the drill marked
【訓練】), a reminder's 【再通知】 and follow-up message (二次連絡), and a signed answer link
for this employee and this alert only. Built from stored fields only, so a resumed send is the
same message."""

from functools import lru_cache

import jinja2

from domain.alerts import display_sender, shown_wording
from domain.answer_links import link_expiry, sign_link
from domain.email_delivery import Mail
from domain.family import sign_family_link
from domain.i18n import current_language, speaking
from domain.i18n import gettext as _
from models import Alert, AlertRound, Delivery, DeliveryKind
from web import i18n
from web.timefmt import jst

# Where the answer page lives: the LIFF face (mounted at /liff by bot/app.py), route
# `mail_answer` of liff/routes.py.
ANSWER_PATH = "/liff/answer/"
# The family answer page: route `family_answer` of liff/routes.py.
FAMILY_PATH = "/liff/family/"


@lru_cache(maxsize=1)
def _templates() -> jinja2.Environment:
    return i18n.install(
        jinja2.Environment(
            loader=jinja2.PackageLoader("bot", "templates/mail"),
            autoescape=jinja2.select_autoescape(["html"]),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        )
    )


def answer_url(public_base_url: str, token: str) -> str:
    """The answer page of one signed token."""
    return f"{public_base_url}{ANSWER_PATH}{token}"


def subject(alert: Alert, kind: DeliveryKind) -> str:
    """The subject line in the current language: the title with the drill marking, a
    reminder marked 【再通知】."""
    title = shown_wording(alert, current_language())[0]
    return _("【再通知】") + title if kind is DeliveryKind.REMINDER else title


def delivery_mail(
    alert: Alert,
    row: Delivery,
    round_: AlertRound | None,
    *,
    public_base_url: str,
    secret_key: str,
    mail_from: str,
) -> Mail:
    """The e-mail one delivery carries (the e-mail engine's renderer), in the language the
    delivery was written for."""
    with speaking(row.language):
        if row.kind is DeliveryKind.FAMILY:
            return _family_mail(
                alert,
                row,
                public_base_url=public_base_url,
                secret_key=secret_key,
                mail_from=mail_from,
            )
        return _mail(alert, row, round_, public_base_url, secret_key, mail_from)


def _mail(
    alert: Alert,
    row: Delivery,
    round_: AlertRound | None,
    public_base_url: str,
    secret_key: str,
    mail_from: str,
) -> Mail:
    expires = link_expiry(row.created_at)
    token = sign_link(secret_key, alert.id, row.employee_id, row.round, expires)
    reminder = row.kind is DeliveryKind.REMINDER
    title, message = shown_wording(alert, current_language())
    context = {
        "header": (_("【再通知】未回答の方へ") if reminder else _("連絡確認 -安否-"))
        + (_("(訓練)") if alert.drill else ""),
        "reminder": reminder,
        "started_at": jst(alert.started_at),
        "title": title,
        "sender": display_sender(round_.sender_name if round_ else alert.sender_name),
        "message": message,
        "follow_up": round_.message if round_ else "",
        "url": answer_url(public_base_url, token),
        "expires": jst(expires),
        "system_name": _("安否確認システム"),
        "answer_button": _("回答"),
    }
    env = _templates()
    domain = mail_from.rpartition("@")[2] or "localhost"
    return Mail(
        to=row.address,
        subject=subject(alert, row.kind),
        text=env.get_template("alert.txt").render(context),
        html=env.get_template("alert.html").render(context),
        message_id=f"<anpi-delivery-{row.id}@{domain}>",
    )


def family_url(public_base_url: str, token: str) -> str:
    """The family answer page of one signed token."""
    return f"{public_base_url}{FAMILY_PATH}{token}"


def _family_mail(
    alert: Alert, row: Delivery, *, public_base_url: str, secret_key: str, mail_from: str
) -> Mail:
    """The family round's e-mail: the alert's title and message, and a link signed for this
    alert and this family address (無事 / 負傷 / 不明 + message on the page it opens)."""
    expires = link_expiry(row.created_at)
    token = sign_family_link(secret_key, alert.id, row.employee_id, row.address, expires)
    title = shown_wording(alert, current_language())[0]
    context = {
        "header": _("ご家族の安否確認") + (_("(訓練)") if alert.drill else ""),
        "started_at": jst(alert.started_at),
        "title": title,
        "message": alert.message,
        "url": family_url(public_base_url, token),
        "expires": jst(expires),
        "system_name": _("安否確認システム"),
    }
    env = _templates()
    domain = mail_from.rpartition("@")[2] or "localhost"
    return Mail(
        to=row.address,
        subject=_("【ご家族の安否確認】%(title)s", title=title),
        text=env.get_template("family.txt").render(context),
        html=env.get_template("family.html").render(context),
        message_id=f"<anpi-delivery-{row.id}@{domain}>",
    )
