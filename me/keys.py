"""The employee page's keys and the settings the composition root hands it."""

from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from domain.email_delivery import MailSender
from domain.linking import LineProfile
from models import Employee
from web.ratelimit import RateLimiter


@dataclass(frozen=True)
class LoginSettings:
    """The LINE Login channel the page's LINE ID連携 uses (no secret: the button is off)."""

    channel_id: str
    channel_secret: str
    access_base_url: str  # LINE's authorization page
    api_base_url: str  # LINE's token and verify endpoints
    public_base_url: str  # this server as the browser reaches it

    @property
    def enabled(self) -> bool:
        """Whether LINE ID連携 can be offered on the page."""
        return bool(self.channel_id and self.channel_secret)

    @property
    def callback_url(self) -> str:
        """Where LINE sends the browser back (register it on the LINE Login channel)."""
        return f"{self.public_base_url}/me/line/callback"


class LineEvents(Protocol):
    """What the LINE side does when the page links or unlinks (the bot implements it)."""

    async def linked(
        self, user_id: str, employee_name: str, *, follow_pending: bool, language: str = ""
    ) -> None:
        """Show the linked rich menu (of `language`) and make sure the completion message
        reaches LINE."""
        ...

    async def unlinked(self, user_id: str, language: str = "") -> None:
        """Give the user the menu of unlinked friends again."""
        ...

    async def language_changed(self, user_id: str, language: str) -> None:
        """Give the (linked) user the linked rich menu of their new language."""
        ...

    async def profile(self, user_id: str) -> LineProfile | None:
        """The user's profile as the bot reads it (None: LINE will not tell, not a friend)."""
        ...


@dataclass(frozen=True)
class Outbox:
    """How the page e-mails confirmation links: the SMTP sender, None where SMTP_URL is unset."""

    sender: MailSender | None


LOGIN = web.AppKey("me_login", LoginSettings)
OUTBOX = web.AppKey("me_outbox", Outbox)
LINE_EVENTS = web.AppKey("me_line_events", LineEvents)
SIGN_IN_ATTEMPTS = web.AppKey("me_sign_in_attempts", RateLimiter)  # per client address
EMPLOYEE = web.RequestKey("me_employee", Employee)  # the signed-in employee of a request
