"""The admin group: binding a LINE group with a one-time code, and the commands a sender
(発信権限者) runs from it. Handlers are thin: parse the event, call
`admin_groups.run_command` (which authorises, acts and audits), render its outcome, reply.

In a group that is not bound the bot answers only /bind and /help and stores nothing about
the group; every command in a bound group (and every bind attempt) writes an audit row."""

import logging
from typing import Any
from urllib.parse import parse_qs

from linebot.v3.webhooks import GroupSource, TextMessageContent

from bot import group_messages, jma_group
from bot.line_api import LineApi
from domain import admin_groups
from domain.admin_groups import ParsedCommand, Tap, parse_command

log = logging.getLogger(__name__)


def parse_group_postback(data: str) -> Tap | None:
    """The 実行/取消 a button carries, or None for any other postback."""
    values = parse_qs(data or "")
    action = values.get("action", [""])[0]
    if action not in (group_messages.CONFIRM_ACTION, group_messages.CANCEL_ACTION):
        return None
    return Tap(action == group_messages.CONFIRM_ACTION, values.get("token", [""])[0])


def _group_source(event: Any) -> GroupSource | None:
    source = getattr(event, "source", None)
    return source if isinstance(source, GroupSource) else None


class GroupHandlers:
    """The bot's reactions to events whose source is a group."""

    def __init__(self, line: LineApi) -> None:
        self.line = line

    async def on_join(self, event: Any) -> None:
        """The bot was invited to a group: say once how to bind it (nothing is stored)."""
        if _group_source(event) is not None:
            await self.line.reply(event.reply_token, group_messages.joined())

    async def on_leave(self, event: Any) -> None:
        """The bot was removed from a group: an admin group is unbound."""
        source = _group_source(event)
        if source is not None:
            await admin_groups.group_left(source.group_id)

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
        if parsed is not None:
            await self._run(event, source, parsed)

    async def on_postback(self, event: Any) -> None:
        """実行 / 取消 tapped on a confirmation card in an admin group."""
        if jma_group.is_jma_postback(event.postback.data):  # a JMA notice's button
            await jma_group.on_postback(self.line, event)
            return
        source = _group_source(event)
        tap = parse_group_postback(event.postback.data)
        if source is not None and tap is not None:
            await self._run(event, source, tap)

    async def _run(self, event: Any, source: GroupSource, command: ParsedCommand | Tap) -> None:
        outcome = await admin_groups.run_command(
            source.group_id, source.user_id, command, names=self.line
        )
        if outcome is not None:
            await self.line.reply(event.reply_token, group_messages.outcome(outcome))
