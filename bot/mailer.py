"""The SMTP side of the e-mail medium: `SmtpMailer` sends the e-mail engine's messages with
aiosmtplib as SMTP_URL says (`smtp://user:pass@host:587?starttls=1`, `smtps://host:465` for
TLS from the first byte, no authentication without a user), one connection per batch, and
tells the engine what the server said about each message: accepted, try again (4xx, refused
or dropped connection, timeout) or refused for good (5xx at SMTP time: a bounce)."""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from bot.config import ConfigError
from domain.alerts import DEFAULT_SENDER
from domain.email_delivery import Mail, MailOutcome, MailResult

log = logging.getLogger(__name__)

SMTP_TIMEOUT = 30.0
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to reach the SMTP server."""

    hostname: str
    port: int
    use_tls: bool  # TLS from the first byte (smtps, port 465)
    start_tls: bool | None  # True: required, False: never, None: when the server offers it
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:  # never print the password
        return f"SmtpSettings({self.hostname!r}, {self.port}, tls={self.use_tls})"


def parse_smtp_url(url: str) -> SmtpSettings:
    """SMTP_URL as settings; ConfigError (one line, no password) when it is malformed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigError("SMTP_URL is not a valid URL") from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError("SMTP_URL must look like smtp://user:pass@host:587?starttls=1")
    query = {k.lower(): v[-1].lower() for k, v in parse_qs(parts.query).items()}
    starttls = query.get("starttls")
    if starttls is not None and starttls not in TRUE_WORDS + FALSE_WORDS:
        raise ConfigError("SMTP_URL: starttls must be 1 or 0")
    use_tls = parts.scheme == "smtps"
    start_tls = None if starttls is None else starttls in TRUE_WORDS
    if use_tls:
        start_tls = False
    default_port = 465 if use_tls else (587 if start_tls else 25)
    return SmtpSettings(
        hostname=parts.hostname,
        port=port or default_port,
        use_tls=use_tls,
        start_tls=start_tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def _code(exc: Exception) -> int | None:
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) and code > 0 else None


def _retry(exc: Exception) -> MailResult:
    return MailResult(MailOutcome.RETRY, _code(exc), f"{type(exc).__name__}: {exc}"[:300])


def _by_code(code: int | None, detail: str) -> MailResult:
    """4xx (and anything unknown) is worth another try; 5xx is the server's final word."""
    if code is not None and 500 <= code < 600:
        return MailResult(MailOutcome.REJECTED, code, detail[:300])
    return MailResult(MailOutcome.RETRY, code, detail[:300])


class SmtpMailer:
    """`domain.email_delivery.MailSender` over SMTP."""

    def __init__(self, settings: SmtpSettings, mail_from: str, timeout: float = SMTP_TIMEOUT):
        self.settings = settings
        self.mail_from = mail_from
        self.timeout = timeout

    @classmethod
    def from_url(cls, url: str, mail_from: str) -> "SmtpMailer":
        """A mailer for SMTP_URL and MAIL_FROM."""
        return cls(parse_smtp_url(url), mail_from)

    def message(self, mail: Mail) -> EmailMessage:
        """The MIME message: plain text with an HTML alternative, Japanese headers encoded."""
        message = EmailMessage()
        message["From"] = formataddr((DEFAULT_SENDER, self.mail_from))
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = mail.message_id
        # RFC 3834: no vacation replies to an automatic message.
        message["Auto-Submitted"] = "auto-generated"
        message["X-Auto-Response-Suppress"] = "All"
        message.set_content(mail.text)
        message.add_alternative(mail.html, subtype="html")
        return message

    async def send(self, mails: Sequence[Mail]) -> list[MailResult]:
        """Send each message over one connection; one result per message, in order."""
        if not mails:
            return []
        # aiosmtplib waits with asyncio.wait_for, which on Python 3.11 swallows a cancellation
        # that lands as a reply arrives: the worker would never stop. Awaiting through a
        # shield, our cancellation always lands; the send is then cancelled (its messages stay
        # claimed and resume once stale).
        sending = asyncio.ensure_future(self._send(mails))
        try:
            return await asyncio.shield(sending)
        except asyncio.CancelledError:
            sending.cancel()
            raise

    async def _send(self, mails: Sequence[Mail]) -> list[MailResult]:
        s = self.settings
        smtp = aiosmtplib.SMTP(
            hostname=s.hostname,
            port=s.port,
            use_tls=s.use_tls,
            start_tls=s.start_tls,
            username=s.username,
            password=s.password,
            timeout=self.timeout,
        )
        try:
            await smtp.connect()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            name = type(exc).__name__
            log.warning("SMTP server %s:%s not reachable: %s", s.hostname, s.port, name)
            return [_retry(exc)] * len(mails)
        results: list[MailResult] = []
        try:
            for mail in mails:
                result = await self._send_one(smtp, mail)
                results.append(result)
                if result.outcome is MailOutcome.RETRY and not smtp.is_connected:
                    break  # the connection is gone: the rest wait for the next try
        finally:
            await self._close(smtp)
        lost = MailResult(MailOutcome.RETRY, None, "SMTP connection lost")
        return results + [lost] * (len(mails) - len(results))

    async def _send_one(self, smtp: aiosmtplib.SMTP, mail: Mail) -> MailResult:
        try:
            await smtp.send_message(self.message(mail), sender=self.mail_from, recipients=[mail.to])
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0] if exc.recipients else None
            if refused is None:
                return _retry(exc)
            return _by_code(refused.code, f"{refused.code} {refused.message}")
        except aiosmtplib.SMTPSenderRefused as exc:
            # MAIL FROM refused: our setting, not this address; retried until given up.
            return MailResult(MailOutcome.RETRY, exc.code, f"sender refused: {exc.message}"[:300])
        except aiosmtplib.SMTPResponseException as exc:
            return _by_code(exc.code, f"{exc.code} {exc.message}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return _retry(exc)
        except (ValueError, UnicodeError) as exc:  # an address SMTP cannot carry
            return MailResult(MailOutcome.REJECTED, None, f"invalid address: {exc}"[:300])
        return MailResult(MailOutcome.SENT, 250)

    async def _close(self, smtp: aiosmtplib.SMTP) -> None:
        if not smtp.is_connected:
            return
        try:
            await smtp.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            smtp.close()
