"""The admin group: binding a LINE group with a one-time code, and the commands a sender
(発信権限者) runs from it. Handlers are thin: parse, call one domain function, reply.

In a group that is not bound the bot answers only /bind and /help and stores nothing about
the group; every command in a bound group (and every bind attempt) writes an audit row."""

import enum
import logging
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from linebot.v3.webhooks import GroupSource, TextMessageContent

from bot import group_messages, jma_group
from bot.config import Config
from bot.line_api import LineApi
from domain import admin_groups, audit
from domain.alerts import close_alert, preview_alert, remind_unanswered
from domain.delivery_report import delivery_problems
from domain.errors import DomainError, Forbidden, Invalid
from domain.scope import Scope
from domain.tally import tally
from domain.throttle import Throttled
from models import Employee

log = logging.getLogger(__name__)

Reply = list[dict[str, Any]]
Outcome = tuple[Reply, dict[str, Any] | None]


class GroupCommand(enum.Enum):
    """A command posted in a group."""

    HELP = "help"
    BIND = "bind"
    DRILL = "drill"
    ALERT = "alert"
    STATUS = "status"
    REMIND = "remind"
    CLOSE = "close"
    LIST = "list"
    UNKNOWN = "unknown"


COMMAND_WORDS = {
    "/help": GroupCommand.HELP,
    "ヘルプ": GroupCommand.HELP,
    "/bind": GroupCommand.BIND,
    "/drill": GroupCommand.DRILL,
    "訓練": GroupCommand.DRILL,
    "/alert": GroupCommand.ALERT,
    "発信": GroupCommand.ALERT,
    "/status": GroupCommand.STATUS,
    "状況": GroupCommand.STATUS,
    "/remind": GroupCommand.REMIND,
    "再通知": GroupCommand.REMIND,
    "/close": GroupCommand.CLOSE,
    "終了": GroupCommand.CLOSE,
    "/list": GroupCommand.LIST,
    "一覧": GroupCommand.LIST,
}


@dataclass(frozen=True)
class ParsedCommand:
    """A command word and what followed it (`rest` as typed, `args` split on any space)."""

    command: GroupCommand
    rest: str = ""

    @property
    def args(self) -> list[str]:
        """The arguments, separated by ASCII or full-width spaces."""
        return self.rest.split()


def parse_command(message: str) -> ParsedCommand | None:
    """The command a group message carries; None for ordinary chat. A word starting with a
    slash that is not a command is UNKNOWN."""
    parts = message.strip().split(maxsplit=1)
    if not parts:
        return None
    word = unicodedata.normalize("NFKC", parts[0]).lower()  # ／ＨＥＬＰ is /help
    rest = parts[1].strip() if len(parts) > 1 else ""
    command = COMMAND_WORDS.get(word)
    if command is None:
        return ParsedCommand(GroupCommand.UNKNOWN) if word.startswith("/") else None
    return ParsedCommand(command, rest)


def parse_group_postback(data: str) -> tuple[str, str] | None:
    """(action, token) of a 実行/取消 button, or None for any other postback."""
    values = parse_qs(data or "")
    action = values.get("action", [""])[0]
    if action not in (group_messages.CONFIRM_ACTION, group_messages.CANCEL_ACTION):
        return None
    return action, values.get("token", [""])[0]


def _alert_number(args: list[str], example: str) -> int | None:
    """The alert number of /status and /close (None: the latest open one)."""
    if not args:
        return None
    number = admin_groups.alert_number(args[0]) if len(args) == 1 else None
    if number is None:
        raise Invalid(f"連絡の番号を数字で指定してください(例: {example} 12)。")
    return number


def _group_source(event: Any) -> GroupSource | None:
    source = getattr(event, "source", None)
    return source if isinstance(source, GroupSource) else None


class GroupHandlers:
    """The bot's reactions to events whose source is a group."""

    def __init__(self, line: LineApi, config: Config) -> None:
        self.line = line
        self.config = config
        self.commands: dict[
            GroupCommand, Callable[[ParsedCommand, GroupSource, Employee], Awaitable[Outcome]]
        ] = {
            GroupCommand.HELP: self._help,
            GroupCommand.DRILL: self._drill,
            GroupCommand.ALERT: self._alert,
            GroupCommand.STATUS: self._status,
            GroupCommand.REMIND: self._remind,
            GroupCommand.CLOSE: self._close,
            GroupCommand.LIST: self._list,
            GroupCommand.UNKNOWN: self._unknown,
        }

    async def on_join(self, event: Any) -> None:
        """The bot was invited to a group: say once how to bind it (nothing is stored)."""
        if _group_source(event) is not None:
            await self.line.reply(event.reply_token, group_messages.joined())

    async def on_leave(self, event: Any) -> None:
        """The bot was removed from a group: an admin group is unbound."""
        source = _group_source(event)
        if source is not None and await admin_groups.unbind_group(source.group_id):
            await audit.record(
                "line", "不明", "group_unbind", target=source.group_id, detail={"by": "leave"}
            )

    async def on_member_joined(self, event: Any) -> None:
        """Someone joined: an admin group greets them; nothing is stored."""
        source = _group_source(event)
        if source is not None and await admin_groups.is_bound(source.group_id):
            await self.line.reply(event.reply_token, group_messages.welcome_member())

    async def on_message(self, event: Any) -> None:
        """A message posted in a group: a command, or chat (ignored)."""
        source = _group_source(event)
        if source is None or not isinstance(event.message, TextMessageContent):
            return
        parsed = parse_command(event.message.text)
        if parsed is None:
            return
        if parsed.command is GroupCommand.BIND:
            await self._answer(event, "group_bind", lambda: self._bind(parsed, source))
            return
        if not await admin_groups.is_bound(source.group_id):
            if parsed.command is GroupCommand.HELP:  # how to bind; stores nothing
                await self.line.reply(event.reply_token, group_messages.help_text(bound=False))
            return
        run = self.commands[parsed.command]

        async def work() -> Outcome:
            employee = await admin_groups.authorize(source.user_id)
            return await run(parsed, source, employee)

        await self._answer(event, f"group_{parsed.command.value}", work)

    async def on_postback(self, event: Any) -> None:
        """実行 / 取消 tapped on a confirmation card in an admin group."""
        if jma_group.is_jma_postback(event.postback.data):  # a JMA notice's button
            await jma_group.on_postback(self.line, event)
            return
        source = _group_source(event)
        tapped = parse_group_postback(event.postback.data)
        if source is None or tapped is None:
            return
        if not await admin_groups.is_bound(source.group_id):
            return
        action, token = tapped

        async def work() -> Outcome:
            employee = await admin_groups.authorize(source.user_id)
            pending = await admin_groups.consume_pending(
                token, source.group_id, source.user_id or ""
            )
            if action == group_messages.CANCEL_ACTION:
                return group_messages.cancelled(), {"command": pending.command}
            result = await admin_groups.start_pending(pending, employee)
            detail = {
                "command": pending.command,
                "alert": result.alert.id,
                "recipients": result.recipients,
                "line": result.line_deliveries,
            }
            return group_messages.started(result), detail

        await self._answer(event, action, work)

    async def _answer(
        self, event: Any, action: str, work: Callable[[], Awaitable[Outcome]]
    ) -> None:
        """Run a command, write its audit row (ok, refused or failed), reply with its outcome
        or with the rule's words for why not."""
        source = event.source
        result = "ok"
        try:
            messages, detail = await work()
        except (Forbidden, Throttled) as exc:
            result, messages, detail = "refused", group_messages.refused(exc.message), None
        except DomainError as exc:
            result, messages, detail = "failed", group_messages.refused(exc.message), None
        except Exception:
            actor = await admin_groups.actor_of(source.user_id)
            await audit.record("line", actor, action, target=source.group_id, result="failed")
            raise
        actor = await admin_groups.actor_of(source.user_id)
        await audit.record(
            "line", actor, action, target=source.group_id, result=result, detail=detail
        )
        await self.line.reply(event.reply_token, messages)

    async def _bind(self, parsed: ParsedCommand, source: GroupSource) -> Outcome:
        group = await admin_groups.bind_group(source.group_id, source.user_id, parsed.rest)
        return group_messages.bound(), {"admin_group": group.id}

    async def _help(self, parsed: ParsedCommand, source: GroupSource, _: Employee) -> Outcome:
        return group_messages.help_text(bound=True), None

    async def _unknown(self, parsed: ParsedCommand, source: GroupSource, _: Employee) -> Outcome:
        raise Invalid(group_messages.UNKNOWN_COMMAND)

    async def _drill(
        self, parsed: ParsedCommand, source: GroupSource, employee: Employee
    ) -> Outcome:
        return await self._confirm(parsed, source, employee, drill=True)

    async def _alert(
        self, parsed: ParsedCommand, source: GroupSource, employee: Employee
    ) -> Outcome:
        return await self._confirm(parsed, source, employee, drill=False)

    async def _confirm(
        self, parsed: ParsedCommand, source: GroupSource, employee: Employee, *, drill: bool
    ) -> Outcome:
        """Reply a confirmation card; the alert starts only when its asker taps 実行."""
        template, departments = await admin_groups.command_targets(parsed.args)
        preview = await preview_alert(template, drill=drill, departments=departments)
        if not preview.recipients:
            raise Invalid("対象の社員がいません。部署の指定を確認してください。")
        payload = {
            "template": template.id,
            "departments": [d.id for d in departments],
            "drill": drill,
        }
        token = await admin_groups.create_pending(
            source.group_id, source.user_id or "", employee, parsed.command.value, payload
        )
        detail = {**payload, "recipients": preview.recipients, "stage": "confirmation"}
        return group_messages.confirmation(preview, token), detail

    async def _status(self, parsed: ParsedCommand, source: GroupSource, _: Employee) -> Outcome:
        alert = await admin_groups.alert_for_command(_alert_number(parsed.args, "/status"))
        result = await tally(alert.id, Scope.everything())
        deliveries = await delivery_problems(alert.id, Scope.everything())
        detail = {"alert": alert.id, "answered": result.answered, "total": result.total}
        return group_messages.status(result, alert.is_closed, deliveries), detail

    async def _remind(
        self, parsed: ParsedCommand, source: GroupSource, employee: Employee
    ) -> Outcome:
        """`/remind [alert] [message]`: a first argument that is a number names the alert."""
        number, message = None, parsed.rest
        if parsed.args and admin_groups.alert_number(parsed.args[0]) is not None:
            number = admin_groups.alert_number(parsed.args[0])
            message = parsed.rest.split(maxsplit=1)[1] if len(parsed.args) > 1 else ""
        alert = await admin_groups.alert_for_command(number, open_only=True)
        reminder = await remind_unanswered(
            alert.id, message=message, sender_name=await admin_groups.sender_name(employee)
        )
        detail = {
            "alert": alert.id,
            "round": reminder.round,
            "unanswered": reminder.unanswered,
            "line": reminder.line_deliveries,
            **({"email": reminder.email_deliveries} if reminder.email_deliveries else {}),
        }
        return group_messages.reminded(reminder), detail

    async def _close(self, parsed: ParsedCommand, source: GroupSource, _: Employee) -> Outcome:
        number = _alert_number(parsed.args, "/close")
        alert = await admin_groups.alert_for_command(number, open_only=True)
        alert = await close_alert(alert.id)
        result = await tally(alert.id, Scope.everything())
        return group_messages.closed(alert, result), {"alert": alert.id}

    async def _list(self, parsed: ParsedCommand, source: GroupSource, _: Employee) -> Outcome:
        summaries, count = await admin_groups.open_alerts()
        return group_messages.open_list(summaries, count), {"count": count}
