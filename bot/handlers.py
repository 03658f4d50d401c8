"""Webhook event handlers, dispatched through one {event type: coroutine} map.

Handlers are thin: they read the event, call one domain function and reply."""

import asyncio
import enum
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlencode

from linebot.v3.webhooks import (
    AccountLinkEvent,
    Event,
    FollowEvent,
    GroupSource,
    JoinEvent,
    LeaveEvent,
    MemberJoinedEvent,
    MessageEvent,
    PostbackEvent,
    TextMessageContent,
    UnfollowEvent,
    UserSource,
)

from bot import board_messages, messages, richmenus
from bot.config import Config
from bot.group_handlers import GroupHandlers
from bot.line_api import LineApi
from bot.login_notices import FOLLOW_GRACE, FOLLOW_POLL, push_link_done
from domain import answers, board, family, linking, organization
from domain.actors import Actor
from domain.errors import Conflict, Invalid, NotFound, Throttled
from domain.i18n import in_all_languages, speaking
from domain.inbox import UnreadableEvent
from models import Employee, FamilyStatus

log = logging.getLogger(__name__)


class PostbackAction(enum.Enum):
    """What a postback button (a rich menu area or a button in chat) asks for."""

    LINK = "link"
    HELP = "help"
    ANSWER = "answer"
    MY_ANSWER = "my_answer"
    LINK_INFO = "link_info"
    BOARD = "board"
    UNLINK = "unlink"
    UNLINK_CONFIRM = "unlink_confirm"
    UNLINK_CANCEL = "unlink_cancel"
    FAMILY_ANSWER = "family_answer"
    UNKNOWN = "unknown"


def parse_postback(data: str) -> PostbackAction:
    """Parse postback data such as `action=link` into an action."""
    values = parse_qs(data or "").get("action", [""])
    try:
        return PostbackAction(values[0])
    except ValueError:
        return PostbackAction.UNKNOWN


def parse_family_answer(data: str) -> tuple[int, FamilyStatus] | None:
    """The alert and status of a family answer button (`action=family_answer&alert=…`)."""
    values = parse_qs(data or "")
    alert = values.get("alert", [""])[0]
    try:
        status = FamilyStatus(values.get("status", [""])[0])
    except ValueError:
        return None
    if not alert.isdigit() or len(alert) > 9:
        return None
    return int(alert), status


# The same words typed in chat do what the rich menu's areas do, in every language (an
# English word is matched whatever its case).
_WORDS = {
    messages.LINK_WORD: PostbackAction.LINK,
    "LINE連携": PostbackAction.LINK,
    "LINE連携する": PostbackAction.LINK,
    messages.UNLINK_WORD: PostbackAction.UNLINK,
    messages.ANSWER_WORD: PostbackAction.ANSWER,
    "最新の安否確認に回答": PostbackAction.ANSWER,
    messages.MY_ANSWER_WORD: PostbackAction.MY_ANSWER,
    messages.LINK_INFO_WORD: PostbackAction.LINK_INFO,
    messages.HELP_WORD: PostbackAction.HELP,
    "ヘルプ": PostbackAction.HELP,
    board_messages.BOARD_WORD: PostbackAction.BOARD,
}


@functools.cache
def text_commands() -> dict[str, PostbackAction]:
    """Every typed word (casefolded) in every language, and what it does (built on first
    use: it reads the catalogues)."""
    return {
        typed.casefold(): action
        for word, action in _WORDS.items()
        for typed in in_all_languages(word)
    }


# What an unlinked user may do; anything else tells them to link first.
OPEN_TO_UNLINKED = {PostbackAction.LINK, PostbackAction.HELP, PostbackAction.UNLINK_CANCEL}


def _language(employee: Employee | None) -> str | None:
    """The language to speak to this (perhaps unknown) person in."""
    return employee.language if employee is not None else None


def _user_id(event: Any) -> str | None:
    source = getattr(event, "source", None)
    if isinstance(source, UserSource):
        return source.user_id
    return None


class EventHandlers:
    """The bot's reactions to webhook events."""

    def __init__(self, line: LineApi, config: Config) -> None:
        self.line = line
        self.config = config
        self.public_base_url = config.public_base_url
        self.groups = GroupHandlers(line)
        self.table: dict[type, Callable[[Any], Awaitable[None]]] = {
            FollowEvent: self.on_follow,
            UnfollowEvent: self.on_unfollow,
            MessageEvent: self.on_message,
            PostbackEvent: self.on_postback,
            AccountLinkEvent: self.on_account_link,
            JoinEvent: self.groups.on_join,
            LeaveEvent: self.groups.on_leave,
            MemberJoinedEvent: self.groups.on_member_joined,
        }
        # Messages and postbacks whose source is a group go to the admin-group handlers;
        # those from a multi-person chat (room) are ignored.
        self.group_table: dict[type, Callable[[Any], Awaitable[None]]] = {
            MessageEvent: self.groups.on_message,
            PostbackEvent: self.groups.on_postback,
        }

    async def dispatch(self, payload: dict[str, Any]) -> None:
        """Parse one stored event and run its handler. A type newer than our SDK is ignored;
        an event that cannot be parsed raises UnreadableEvent (retrying cannot help)."""
        if payload.get("mode") == "standby":
            return  # another channel is answering this chat; we must not send
        kind = payload.get("type")
        if not isinstance(kind, str) or not kind:
            raise UnreadableEvent("no usable type")
        if Event.get_discriminator_value(payload) is None:
            log.info("ignoring webhook event of type %r", kind[:32])
            return
        try:
            event = Event.from_dict(payload)
        except Exception as exc:  # the SDK raises KeyError, TypeError, ValidationError...
            raise UnreadableEvent(type(exc).__name__) from None
        if isinstance(event.source, GroupSource):
            handler = self.group_table.get(type(event)) or self.table.get(type(event))
        else:
            handler = self.table.get(type(event))
        if handler is not None:
            await handler(event)

    async def on_follow(self, event: FollowEvent) -> None:
        """A new (or returning) friend: record it, greet, and show the menu that fits."""
        user_id = _user_id(event)
        if user_id is None:
            return
        employee = await linking.record_follow(user_id)
        awaited = False
        if employee is None and linking.login_in_flight():
            employee = await self._login_link(user_id)
            awaited = employee is not None
        with speaking(_language(employee)):
            await self._greet(event, user_id, employee, awaited)

    async def _greet(
        self, event: FollowEvent, user_id: str, employee: Employee | None, awaited: bool
    ) -> None:
        # Added on LINE Login's page while linking from the employee page: this reply carries
        # the completion message the link owes (once: whoever claims it sends it).
        if employee is not None and await linking.claim_link_notice(user_id):
            if not await self.line.reply(
                event.reply_token, messages.login_link_done(employee.name)
            ):
                await push_link_done(self.line, user_id, employee.name)
        elif not awaited:  # a link that came meanwhile sent its own message: no second one
            if employee is not None:
                reply = messages.welcome_back()
            else:
                member = await family.family_member_of_line_user(user_id)
                reply = messages.family_greeting(member.relation) if member else messages.greeting()
            await self.line.reply(event.reply_token, reply)
        await richmenus.show_menu(
            self.line, user_id, linked=employee is not None, language=_language(employee)
        )

    async def _login_link(self, user_id: str) -> Employee | None:
        """The employee a LINE Login link in flight binds this user to, waited for a while
        (the follow event of 友だち追加 on LINE's page comes before the link)."""
        with linking.follow_awaiting_link(user_id):
            for _ in range(round(FOLLOW_GRACE / FOLLOW_POLL)):
                employee = await linking.linked_employee(user_id)
                if employee is not None:
                    return employee
                await asyncio.sleep(FOLLOW_POLL)
        return await linking.linked_employee(user_id)

    async def on_unfollow(self, event: UnfollowEvent) -> None:
        """Blocked: LINE will silently drop our messages, so stop counting them as reach."""
        user_id = _user_id(event)
        if user_id is not None:
            await linking.record_unfollow(user_id)

    async def on_message(self, event: MessageEvent) -> None:
        """Chat text is never an answer: run a menu word, or say how to answer."""
        user_id = _user_id(event)
        if user_id is None:
            return
        message = event.message
        word = message.text.strip() if isinstance(message, TextMessageContent) else ""
        action = text_commands().get(word.casefold())
        if action is not None:
            await self._run(action, user_id, event.reply_token)
            return
        if family.looks_like_family_code(word):
            await self._family_link(user_id, word, event.reply_token)
            return
        employee = await linking.linked_employee(user_id)
        if employee is None:
            member = await family.family_member_of_line_user(user_id)
            if member is not None:
                await self._family_message(user_id, word, member.relation, event.reply_token)
                return
        latest = None
        if employee is not None:
            open_alerts = await answers.open_alerts_for(employee, limit=1)
            latest = open_alerts[0].alert if open_alerts else None
        with speaking(_language(employee)):
            reply = messages.how_to_answer(employee is not None, latest, self.config.liff_url)
        await self.line.reply(event.reply_token, reply)

    async def on_postback(self, event: PostbackEvent) -> None:
        """A rich menu area or a button in chat was tapped."""
        user_id = _user_id(event)
        if user_id is None:
            return
        action = parse_postback(event.postback.data)
        if action is PostbackAction.FAMILY_ANSWER:
            await self._family_answer(user_id, event.postback.data, event.reply_token)
            return
        await self._run(action, user_id, event.reply_token)

    async def _family_link(self, user_id: str, code: str, reply_token: str | None) -> None:
        """A family member sent the code their employee got on the employee page."""
        try:
            member = await family.link_by_code(user_id, code, Actor.line(user_id))
        except (Invalid, Conflict, Throttled) as exc:
            await self.line.reply(reply_token, messages.family_refused(exc.message))
            return
        await self.line.reply(reply_token, messages.family_linked(member.relation))

    async def _family_message(
        self, user_id: str, word: str, relation: str, reply_token: str | None
    ) -> None:
        """A family member's chat text: the message of their latest answer to an open alert;
        without one (or without text), what the bot is for them."""
        if not word:
            await self.line.reply(reply_token, messages.family_greeting(relation))
            return
        try:
            status = await family.add_message_as_family_line_user(
                user_id, word, Actor.line(user_id)
            )
        except (NotFound, Conflict) as exc:
            reply = messages.family_refused(exc.message) + messages.family_greeting(relation)
            await self.line.reply(reply_token, reply)
            return
        await self.line.reply(reply_token, messages.family_message_added(status))

    async def _family_answer(self, user_id: str, data: str, reply_token: str | None) -> None:
        """A family member tapped 無事 / 負傷 / 不明 on the family question."""
        parsed = parse_family_answer(data)
        if parsed is None:
            await self.line.reply(reply_token, messages.usage(linked=False))
            return
        alert_id, status = parsed
        try:
            await family.answer_as_family_line_user(user_id, alert_id, status, Actor.line(user_id))
        except (NotFound, Conflict) as exc:
            await self.line.reply(reply_token, messages.family_refused(exc.message))
            return
        await self.line.reply(reply_token, messages.family_answered(status))

    async def _run(self, action: PostbackAction, user_id: str, reply_token: str | None) -> None:
        """Do what a menu word or area asks, replying in the employee's language."""
        employee = await linking.linked_employee(user_id)
        if employee is None and action is not PostbackAction.LINK:
            # A family member has nothing to link: they are told what the bot is for them.
            member = await family.family_member_of_line_user(user_id)
            if member is not None:
                await self.line.reply(reply_token, messages.family_greeting(member.relation))
                return
        with speaking(_language(employee)):
            await self._act(action, employee, user_id, reply_token)

    async def _act(
        self,
        action: PostbackAction,
        employee: Employee | None,
        user_id: str,
        reply_token: str | None,
    ) -> None:
        if employee is None and action not in OPEN_TO_UNLINKED:
            await self.line.reply(reply_token, messages.link_first())
            return
        if action is PostbackAction.LINK:
            await self._link(employee, user_id, reply_token)
            return
        if action is PostbackAction.HELP:
            await self.line.reply(reply_token, messages.usage(employee is not None))
            return
        if action is PostbackAction.UNLINK_CANCEL:
            await self.line.reply(reply_token, messages.unlink_cancelled())
            return
        assert employee is not None
        liff_url = self.config.liff_url
        if action is PostbackAction.ANSWER:
            reply = messages.open_alerts(await answers.open_alerts_for(employee), liff_url)
        elif action is PostbackAction.MY_ANSWER:
            reply = messages.my_answer(await answers.latest_alert_for(employee), liff_url)
        elif action is PostbackAction.BOARD:  # by the reply token: free
            reply = board_messages.latest_posts(await board.latest_posts_for(employee), liff_url)
        elif action is PostbackAction.LINK_INFO:
            department = await organization.department_name(employee.department_id)
            reply = messages.link_info(employee, department)
        elif action is PostbackAction.UNLINK:
            reply = messages.unlink_confirm(employee.name)
        elif action is PostbackAction.UNLINK_CONFIRM:
            unlinked = await linking.unlink(user_id, Actor.line(employee.code))
            name = unlinked.name if unlinked is not None else None
            await self.line.reply(reply_token, messages.unlinked(name))
            await richmenus.show_menu(
                self.line, user_id, linked=False, language=_language(unlinked)
            )
            return
        else:  # an unknown or outdated button
            reply = messages.usage(linked=True)
        await self.line.reply(reply_token, reply)

    async def _link(self, employee: Employee | None, user_id: str, reply_token: str | None) -> None:
        if employee is not None:
            await self.line.reply(reply_token, messages.already_linked(employee.name))
            return
        token = await self.line.issue_link_token(user_id)
        await linking.record_link_token(user_id, token)  # the link page accepts only these
        url = f"{self.public_base_url}/link?{urlencode({'linkToken': token})}"
        await self.line.reply(reply_token, messages.link_button(url))

    async def on_account_link(self, event: AccountLinkEvent) -> None:
        """LINE finished the account-link dialog: bind on `ok` with a valid nonce."""
        user_id = _user_id(event)
        if event.link.result != "ok" or user_id is None:
            log.info("account link reported as failed")
            return
        try:
            employee = await linking.complete_link(
                user_id, event.link.nonce, self.line.profile, Actor.line(user_id)
            )
        except NotFound as exc:
            await self.line.reply(event.reply_token, messages.link_failed(exc.message))
            return
        with speaking(employee.language):
            await self.line.reply(event.reply_token, messages.link_done(employee.name))
        await richmenus.show_menu(self.line, user_id, linked=True, language=employee.language)
