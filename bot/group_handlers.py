"""The admin group: binding a LINE group with a one-time code, and the commands a sender
(発信権限者) runs from it. Handlers are thin: parse, call one domain function, reply."""

from typing import Any

from bot.config import Config
from bot.line_api import LineApi


class GroupHandlers:
    """The bot's reactions to events whose source is a group."""

    def __init__(self, line: LineApi, config: Config) -> None:
        self.line = line
        self.config = config

    async def on_join(self, event: Any) -> None:
        """The bot was invited to a group."""

    async def on_leave(self, event: Any) -> None:
        """The bot was removed from a group."""

    async def on_member_joined(self, event: Any) -> None:
        """Someone joined a group the bot is in."""

    async def on_message(self, event: Any) -> None:
        """A message posted in a group."""

    async def on_postback(self, event: Any) -> None:
        """A postback button tapped in a group."""
