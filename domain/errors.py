"""Domain errors: each carries a code for APIs and a Japanese message for people."""


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
