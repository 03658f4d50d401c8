"""Statuses shared by every face: stored with CharEnumField."""

from enum import StrEnum


class Medium(StrEnum):
    """A contact medium an alert is delivered through."""

    LINE = "line"
    EMAIL = "email"


class DeliveryKind(StrEnum):
    """What a delivery carries: the alert itself, a reminder round of it, or a board post's
    push (never counted as a round of the alert where answering is concerned)."""

    ALERT = "alert"
    REMINDER = "reminder"
    FAMILY = "family"  # the short question to employees' family members
    BOARD = "board"


class DeliveryStatus(StrEnum):
    """Where one delivery (employee x medium) stands."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    # LINE remembers a retry key for 24 hours: a batch older than that is never re-sent blind,
    # it waits for a person to decide.
    HELD = "held"


class BatchStatus(StrEnum):
    """Where one LINE batch of an alert round stands (`DeliveryBatch`)."""

    PENDING = "pending"
    SENDING = "sending"  # claimed under its retry key
    ACCEPTED = "accepted"  # LINE accepted it (counted billable); its rows not yet marked sent
    DONE = "done"  # its rows marked sent, or carrying their own outcome


class EmailMode(StrEnum):
    """How a template with both media reaches an employee who has both."""

    BOTH = "both"  # LINE and e-mail at once
    FALLBACK = "fallback"  # LINE first; e-mail when LINE cannot reach them or stays silent


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


class EmployeeRole(StrEnum):
    """What an employee may do from LINE: a sender (発信権限者) commands the admin group."""

    MEMBER = "member"
    SENDER = "sender"


class ConsoleRole(StrEnum):
    """What a console user may do."""

    SUPERVISOR = "supervisor"  # 集計権限者: tallies of their departments
    SENDER = "sender"  # 発信権限者: also starts, reminds and closes alerts
    MAINTAINER = "maintainer"  # メンテナンス担当者: everything


class FamilyStatus(StrEnum):
    """A family member's safety (無事 / 負傷 / 不明)."""

    SAFE = "safe"
    INJURED = "injured"
    UNKNOWN = "unknown"
