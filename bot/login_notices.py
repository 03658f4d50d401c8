"""The LINE side of linking from the employee page (LINE Login): the rich menu that fits, and
the completion message, which reaches the user once: by reply to the follow event when they
have just added the account on LINE's page, otherwise by one push (billable)."""

import asyncio
import logging
import uuid
from collections.abc import Callable

from bot import messages, richmenus
from bot.line_api import LineApi
from domain import linking
from domain.delivery import SendOutcome
from domain.i18n import speaking
from domain.linking import LineProfile
from domain.usage import add_billable, japan_today, prepare_day

log = logging.getLogger(__name__)

# How long the page waits for a follow event LINE announced (friendship_status_changed) but
# has not delivered yet, so that its free reply can carry the message.
FOLLOW_GRACE = 5.0
FOLLOW_POLL = 0.1
PUSH_ATTEMPTS = 3
PUSH_BACKOFF = 0.5


async def push_link_done(line: LineApi, user_id: str, employee_name: str) -> bool:
    """Push the completion message under one retry key, retried on 5xx/429/timeouts; count
    it as billable once LINE accepted it. Never raises."""
    retry_key = str(uuid.uuid4())
    for attempt in range(PUSH_ATTEMPTS):
        result = await line.push(user_id, messages.login_link_done(employee_name), retry_key)
        if result.outcome in (SendOutcome.ACCEPTED, SendOutcome.ALREADY_ACCEPTED):
            # 409: an earlier attempt of ours was accepted but its answer was lost, so it was
            # not counted yet.
            day = japan_today()
            await prepare_day(day)
            await add_billable(day, 1)
            return True
        if result.outcome is not SendOutcome.RETRY:
            break
        await asyncio.sleep(PUSH_BACKOFF * (attempt + 1))
    log.warning("completion message not pushed: %s %s", result.status, result.detail)
    return False


class LoginNotices:
    """What the employee page asks of LINE when it links or unlinks (me.keys.LineEvents)."""

    def __init__(self, line: Callable[[], LineApi], *, follow_grace: float = FOLLOW_GRACE):
        self._line = line  # the client exists only once the app has started
        self.follow_grace = follow_grace

    async def linked(
        self, user_id: str, employee_name: str, *, follow_pending: bool, language: str = ""
    ) -> None:
        """Show the linked menu; send the completion message unless the follow event's reply
        did (or, for a user who is not a friend, will when they add the account)."""
        try:
            line = self._line()
            await richmenus.show_menu(line, user_id, linked=True, language=language)
            if follow_pending:
                await self._wait_for_follow(user_id)
            if not await linking.line_reachable(user_id):
                return  # LINE would drop it; their follow event will carry it instead
            if await linking.claim_link_notice(user_id):
                with speaking(language):
                    await push_link_done(line, user_id, employee_name)
        except Exception as exc:  # the link is committed: the page must still say so
            log.warning("completion message of a LINE Login link failed: %s", type(exc).__name__)

    async def _wait_for_follow(self, user_id: str) -> None:
        # Polled in the database: the follow event may be handled by another process.
        for _ in range(round(self.follow_grace / FOLLOW_POLL)):
            if not await linking.link_notice_owed(user_id):
                return
            await asyncio.sleep(FOLLOW_POLL)

    async def unlinked(self, user_id: str, language: str = "") -> None:
        """Give the user the unlinked menu (of their language) again."""
        await richmenus.show_menu(self._line(), user_id, linked=False, language=language)

    async def language_changed(self, user_id: str, language: str) -> None:
        """Re-link the linked menu of the employee's new language."""
        await richmenus.show_menu(self._line(), user_id, linked=True, language=language)

    async def profile(self, user_id: str) -> LineProfile | None:
        """The user's profile as the bot reads it (display name, language)."""
        return await self._line().profile(user_id)
