"""The admin group's side of JMA notices: a sender taps 連絡を開始する (an aftershock the
suppression window held back) or 自動発信を取りやめる (a delayed alert); the reply is free."""

from typing import Any

from linebot.v3.webhooks import GroupSource

from bot import jma_messages
from bot.jma_watch import push_notices
from bot.line_api import LineApi
from domain import admin_groups
from domain.errors import DomainError
from domain.jma import events, notices


def is_jma_postback(data: str) -> bool:
    """Whether a postback is a JMA notice's button."""
    return notices.parse_postback(data) is not None


async def on_postback(line: LineApi, event: Any) -> None:
    """Run the tapped action for a bound group and reply with what happened or why not."""
    source = event.source
    tapped = notices.parse_postback(event.postback.data)
    if not isinstance(source, GroupSource) or tapped is None:
        return
    if not await admin_groups.is_bound(source.group_id):
        return
    action, event_id = tapped
    try:
        text = await events.tap_from_group(source.user_id, action, event_id)
    except DomainError as exc:
        await line.reply(event.reply_token, jma_messages.text(exc.message))
        return
    await line.reply(event.reply_token, jma_messages.text(text))
    # The other admin groups hear of it now, not at the JMA worker's next round (each push
    # has its own retry key, so a worker pushing the same notice at once sends no copy).
    await push_notices(line)
