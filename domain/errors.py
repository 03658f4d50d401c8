"""Domain errors: each carries a code for APIs and a message for people, in the language
being spoken when it is raised."""

import math

from domain.i18n import gettext as _


class DomainError(Exception):
    """A rule refused the request; `message` is what the user is told."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}


class NotFound(DomainError):
    """The thing asked for does not exist (or is not the caller's to see)."""

    code = "not_found"


class Forbidden(DomainError):
    """The caller may not see or do this (outside their role or department scope)."""

    code = "forbidden"


class Conflict(DomainError):
    """The thing is in a state that does not allow this."""

    code = "conflict"


class Invalid(DomainError):
    """The input is malformed; `fields` names what is wrong."""

    code = "invalid"


class Throttled(DomainError):
    """Too many attempts under one key; `retry_after` says in how many seconds to try again."""

    code = "throttled"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            _(
                "試行の回数が上限に達したため、一時的に受け付けを停止しています。"
                "%(wait)s後にもう一度お試しください。",
                wait=wait_phrase(retry_after),
            )
        )
        self.retry_after = retry_after


def wait_phrase(seconds: float) -> str:
    """How long to wait, in the current language's words: 「約15分」, "about 15 minutes"."""
    seconds = max(1, math.ceil(seconds))
    if seconds < 60:
        return _("約%(n)s秒", n=seconds)
    return _("約%(n)s分", n=math.ceil(seconds / 60))
