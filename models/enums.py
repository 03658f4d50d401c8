"""Statuses shared by every face: stored with CharEnumField."""

from enum import StrEnum


class Medium(StrEnum):
    """A contact medium an alert is delivered through."""

    LINE = "line"
    EMAIL = "email"


class DeliveryKind(StrEnum):
    """What a delivery carries: the alert itself, or a reminder round of it."""

    ALERT = "alert"
    REMINDER = "reminder"


class DeliveryStatus(StrEnum):
    """Where one delivery (employee x medium) stands."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class AnswerChannel(StrEnum):
    """Where an answer came from."""

    LIFF = "liff"
    EMAIL = "email"
    CONSOLE = "console"


class InboxStatus(StrEnum):
    """Where one received webhook event stands."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
