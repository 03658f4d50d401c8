"""Who acts, and through which face: every action's first argument. Faces build one (a console
login, an employee code, the CLI, a worker) and pass it in; the action writes the audit row."""

import enum
from dataclasses import dataclass


class Via(enum.StrEnum):
    """Which face an action came through."""

    LINE = "line"  # an employee's chat (1:1) or the account-link flow
    GROUP = "group"  # an admin group's command or confirmation
    CONSOLE = "console"
    ME = "me"  # the employee's own page
    CLI = "cli"
    SYSTEM = "system"  # a worker acting on its own (limits, schedules, bulletins)


VIAS = tuple(v.value for v in Via)
UNKNOWN = "不明"  # an actor nobody could name (a group event without a user ID)


@dataclass(frozen=True)
class Actor:
    """Who acts and through which face: a console login, an employee code, `cli`, `system`."""

    via: Via
    name: str

    @classmethod
    def console(cls, login: str) -> "Actor":
        return cls(Via.CONSOLE, login)

    @classmethod
    def me(cls, employee_code: str) -> "Actor":
        return cls(Via.ME, employee_code)

    @classmethod
    def line(cls, name: str) -> "Actor":
        return cls(Via.LINE, name or UNKNOWN)

    @classmethod
    def group(cls, name: str) -> "Actor":
        return cls(Via.GROUP, name or UNKNOWN)

    @classmethod
    def cli(cls) -> "Actor":
        return cls(Via.CLI, "cli")

    @classmethod
    def system(cls) -> "Actor":
        return cls(Via.SYSTEM, "system")
