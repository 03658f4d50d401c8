"""The board (掲示板) of an alert: senders and supervisors post follow-up messages to the people
the alert reached (or to departments within their scope); employees read them (in LINE by the
free reply to 掲示板, or by a billable push when the poster chose one, and in LIFF) and reply
where the post allows it. Employees see the posts that reach them and only their own replies;
posters see the replies of the people in their scope. Every post and reply is audited; live
views hear of them through `Topic.BOARD` (payload: the alert ID).

A post's push is a round of the alert (`DeliveryKind.BOARD`) written through the same outbox
as a reminder, so the delivery engine sends it and counts it billable; it is never a round of
the alert where answering is concerned (the unanswered list and delivery problems skip it)."""

import logging
from dataclasses import dataclass
from datetime import datetime

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

from domain.actors import Actor
from domain.alerts import (
    EVERYONE,
    department_paths,
    display_title,
    find_alert,
    within_scope,
    write_round,
)
from domain.audit import audited, log_action
from domain.errors import Forbidden, Invalid, NotFound
from domain.i18n import gettext as _
from domain.linking import linked_employee
from domain.notify import Topic, notifier
from domain.scope import Scope
from domain.tally import visible_alert
from domain.usage import usage_report
from models import (
    Alert,
    AlertRecipient,
    BoardPost,
    BoardReply,
    DeliveryKind,
    Department,
    Employee,
    LineAccount,
)
from models.organization import department_subtree_ids

log = logging.getLogger(__name__)

MAX_POST_LENGTH = 2000
MAX_REPLY_LENGTH = 1000
LATEST_SHOWN = 5  # posts the 掲示板 word replies with


def _text(body: object, limit: int) -> str:
    """A post's or reply's text, trimmed; empty or too long is Invalid."""
    text = body.strip() if isinstance(body, str) else ""
    if not text:
        raise Invalid(_("本文を入力してください。"), code="empty_body")
    if len(text) > limit:
        raise Invalid(
            _("本文は%(limit)s文字以内にしてください。", limit=limit), code="body_too_long"
        )
    return text


async def _audience_ids(departments: list[int]) -> set[int] | None:
    """The departments a post to `departments` reaches (those below them too); None: all."""
    return await department_subtree_ids(departments) if departments else None


def _reaches(audience: set[int] | None, department_id: int | None) -> bool:
    return audience is None or department_id in audience


def _readers(alert: Alert, audience: set[int] | None) -> QuerySet[AlertRecipient]:
    """The roster rows a post with this audience reaches."""
    roster = AlertRecipient.filter(alert_id=alert.id)
    if audience is not None:
        roster = roster.filter(department_id__in=sorted(audience))
    return roster


def _push_accounts(alert: Alert, audience: set[int] | None) -> QuerySet[LineAccount]:
    """The LINE accounts a push of the post reaches: linked, following, not blocked, of
    active employees on the roster (callers push nothing once LINE halted for the alert)."""
    readers = _readers(alert, audience).values("employee_id")
    return LineAccount.filter(
        employee_id__in=Subquery(readers), employee__active=True, followed=True, blocked=False
    ).order_by("employee_id")


@dataclass(frozen=True)
class PostPreview:
    """What posting would do, for the confirm step: whom it reaches and what a push bills."""

    alert: Alert
    body: str
    departments: list[Department]
    readers: int
    pushes: int  # billable LINE messages when pushed (0 when not)
    push: bool
    replies_allowed: bool
    month_messages: int  # billable messages counted so far this month
    pack: int  # the monthly pack they count against


async def preview_post(
    alert_id: int,
    body: str,
    *,
    departments: list[Department] | None = None,
    push: bool = False,
    replies_allowed: bool = False,
    scope: Scope = EVERYONE,
) -> PostPreview:
    """How many people a post would reach and how many billable pushes it would send, only
    within the poster's scope; nothing is written."""
    alert = await visible_alert(alert_id, scope)
    text = _text(body, MAX_POST_LENGTH)
    chosen = await within_scope(departments, scope)
    audience = await _audience_ids([d.id for d in chosen])
    readers = await _readers(alert, audience).count()
    if not readers:
        raise Invalid(_("この投稿が届く人がいません。部署の指定を確認してください。"))
    pushing = push and alert.line_halted_at is None
    pushes = await _push_accounts(alert, audience).count() if pushing else 0
    usage = await usage_report(None)
    return PostPreview(
        alert, text, chosen, readers, pushes, push, replies_allowed, usage.total, usage.current.pack
    )


@dataclass(frozen=True)
class Posted:
    """A post just written, with how many it reaches and how many pushes it queued."""

    post: BoardPost
    readers: int
    pushes: int


async def post_to_board(
    actor: Actor,
    alert_id: int,
    body: str,
    *,
    author: str,
    departments: list[Department] | None = None,
    push: bool = False,
    replies_allowed: bool = False,
    scope: Scope = EVERYONE,
) -> Posted:
    """Post to an alert's board within the poster's scope, with its audit row; a push is a
    board round of the alert in the outbox. Then live views and the delivery engine are told."""
    async with audited(actor, "board_posted", target=f"alert:{alert_id}") as audit:
        posted = await write_post(
            alert_id,
            body,
            author=author,
            departments=departments,
            push=push,
            replies_allowed=replies_allowed,
            scope=scope,
        )
        audit.detail = post_detail(posted)
    await announce_post(posted)
    return posted


def post_detail(posted: Posted) -> dict[str, object]:
    """What an audit row keeps of a post (never what it says)."""
    return {
        "post": posted.post.id,
        "departments": list(posted.post.departments),
        "recipients": posted.readers,
        "line": posted.pushes,
        "replies": posted.post.replies_allowed,
    }


async def write_post(
    alert_id: int,
    body: str,
    *,
    author: str,
    departments: list[Department] | None = None,
    push: bool = False,
    replies_allowed: bool = False,
    scope: Scope = EVERYONE,
) -> Posted:
    """Write a post (and its push round) within the caller's audited transaction (the
    console's `post_to_board`, or an admin group's confirmation); wakes nobody."""
    preview = await preview_post(
        alert_id,
        body,
        departments=departments,
        push=push,
        replies_allowed=replies_allowed,
        scope=scope,
    )
    alert = preview.alert
    author = author.strip()[:100] or alert.sender_name
    post = await BoardPost.create(
        alert=alert,
        author=author,
        body=preview.body,
        departments=[d.id for d in preview.departments],
        replies_allowed=replies_allowed,
    )
    pushes = 0
    if push and alert.line_halted_at is None:
        accounts = await _push_accounts(alert, await _audience_ids(post.departments))
        if accounts:
            for attempt in range(2):  # a second try covers two rounds racing for one number
                try:
                    number = await write_round(
                        alert, DeliveryKind.BOARD, preview.body, author, len(accounts), accounts, {}
                    )
                    break
                except IntegrityError:
                    if attempt:
                        raise
            post.pushed, post.round, pushes = True, number, len(accounts)
            await post.save(update_fields=["pushed", "round"])
    log.info("alert %s: board post %s, %d readers, %d pushes", alert.id, post.id, preview.readers,
             pushes)  # fmt: skip
    return Posted(post, preview.readers, pushes)


async def announce_post(posted: Posted) -> None:
    """Tell live boards, and the delivery engines when the post was pushed; call after the
    transaction that wrote it has committed."""
    await notifier.publish(Topic.BOARD, str(posted.post.alert_id))
    if posted.pushes:
        await notifier.publish(Topic.DELIVERY, str(posted.post.alert_id))


# What an employee sees


@dataclass(frozen=True)
class ReaderPost:
    """A post as the employee it reaches sees it, with only their own replies."""

    id: int
    alert_id: int
    alert_title: str  # with the drill marking
    author: str
    body: str
    created_at: datetime
    replies_allowed: bool
    my_replies: list[BoardReply]


@dataclass(frozen=True)
class ReaderBoard:
    """An alert's board as one employee on its roster sees it (oldest post first)."""

    alert: Alert
    posts: list[ReaderPost]

    @property
    def title(self) -> str:
        """The alert's title with the drill marking."""
        return display_title(self.alert.title, self.alert.drill)


async def _recipient(employee: Employee, alert_id: int) -> AlertRecipient:
    found = await AlertRecipient.get_or_none(alert_id=alert_id, employee_id=employee.id)
    if found is None:
        raise NotFound(_("この連絡の掲示板はありません。"), code="board_not_found")
    return found


async def _reader_posts(employee: Employee, posts: list[BoardPost], rosters: dict[int, int | None]
                        ) -> list[ReaderPost]:  # fmt: skip
    """The posts (of alerts in `rosters`: alert -> the employee's department on its roster)
    that reach the employee, each with their own replies."""
    audiences: dict[tuple[int, ...], set[int] | None] = {}
    shown = []
    for post in posts:
        key = tuple(sorted(post.departments or []))
        if key not in audiences:
            audiences[key] = await _audience_ids(list(key))
        if _reaches(audiences[key], rosters.get(post.alert_id)):
            shown.append(post)
    replies: dict[int, list[BoardReply]] = {}
    for reply in await BoardReply.filter(
        post_id__in=[p.id for p in shown], employee_id=employee.id
    ).order_by("id"):
        replies.setdefault(reply.post_id, []).append(reply)
    titles = {
        alert_id: display_title(title, drill)
        for alert_id, title, drill in await Alert.filter(
            id__in=sorted({p.alert_id for p in shown})
        ).values_list("id", "title", "drill")
    }
    return [
        ReaderPost(
            p.id, p.alert_id, titles.get(p.alert_id, ""), p.author, p.body, p.created_at,
            p.replies_allowed, replies.get(p.id, []),
        )
        for p in shown
    ]  # fmt: skip


async def board_for_employee(employee: Employee, alert_id: int) -> ReaderBoard:
    """The posts of an alert's board that reach the employee, with their own replies;
    NotFound unless they are on its roster."""
    alert = await find_alert(alert_id)
    recipient = await _recipient(employee, alert.id)
    posts = await BoardPost.filter(alert_id=alert.id).order_by("id")
    rosters = {alert.id: recipient.department_id}
    return ReaderBoard(alert, await _reader_posts(employee, posts, rosters))


async def _line_employee(user_id: str) -> Employee:
    employee = await linked_employee(user_id)
    if employee is None:
        raise Forbidden(_("このLINEアカウントは社員情報と連携されていません。"), code="not_linked")
    return employee


async def board_for_line_user(user_id: str, alert_id: int) -> ReaderBoard:
    """`board_for_employee` of the active employee this (verified) LINE user is linked to."""
    return await board_for_employee(await _line_employee(user_id), alert_id)


async def latest_posts_for(employee: Employee, limit: int = LATEST_SHOWN) -> list[ReaderPost]:
    """The newest posts reaching the employee across the alerts they were sent, newest
    first (what the 掲示板 word replies with)."""
    mine = AlertRecipient.filter(employee_id=employee.id)
    rosters = dict(await mine.values_list("alert_id", "department_id"))
    if not rosters:
        return []
    found: list[ReaderPost] = []
    offset = 0
    while len(found) < limit:
        page = await (
            BoardPost.filter(alert_id__in=sorted(rosters)).order_by("-id").offset(offset).limit(50)
        )
        if not page:
            break
        found += await _reader_posts(employee, page, rosters)
        offset += len(page)
    return found[:limit]


async def reply_to_post(actor: Actor, employee: Employee, post_id: int, body: object) -> BoardReply:
    """The employee's reply to a post that reaches them and allows replies, with its audit row
    (never what it says); then live boards are told."""
    async with audited(actor, "board_replied", target=f"board_post:{post_id}") as audit:
        post = await BoardPost.get_or_none(id=post_id) if 0 < post_id < 2**31 else None
        if post is None:
            raise NotFound(_("投稿が見つかりません。"), code="post_not_found")
        recipient = await _recipient(employee, post.alert_id)
        audience = await _audience_ids(post.departments or [])
        if not _reaches(audience, recipient.department_id):
            raise NotFound(_("投稿が見つかりません。"), code="post_not_found")
        if not post.replies_allowed:
            raise Forbidden(_("この投稿には返信できません。"), code="replies_not_allowed")
        reply = await BoardReply.create(
            post=post, employee=employee, body=_text(body, MAX_REPLY_LENGTH)
        )
        audit.detail = {"alert": post.alert_id, "reply": reply.id}
    await notifier.publish(Topic.BOARD, str(post.alert_id))
    return reply


async def reply_as_line_user(user_id: str, post_id: int, body: object) -> ReaderBoard:
    """`reply_to_post` as the active employee this (verified) LINE user is linked to; the
    board of the post's alert as they now see it."""
    employee = await linked_employee(user_id)
    if employee is None:
        await log_action(Actor.line(user_id), "board_replied", f"board_post:{post_id}", "refused")
        raise Forbidden(_("このLINEアカウントは社員情報と連携されていません。"), code="not_linked")
    reply = await reply_to_post(Actor.line(employee.code), employee, post_id, body)
    alert_id = await BoardPost.filter(id=reply.post_id).values_list("alert_id", flat=True)
    return await board_for_employee(employee, alert_id[0])


# What posters see


@dataclass(frozen=True)
class ThreadReply:
    """A reply as a poster in scope sees it (never a LINE display name)."""

    code: str
    name: str
    department: str
    body: str
    created_at: datetime


@dataclass(frozen=True)
class ThreadPost:
    """A post with the replies of the people in the viewer's scope, oldest first."""

    post: BoardPost
    departments: list[str]  # whom it was addressed to (empty: everyone the alert reached)
    replies: list[ThreadReply]


async def board_thread(alert_id: int, scope: Scope) -> list[ThreadPost]:
    """An alert's board as a viewer in `scope` sees it: the posts that reach someone in their
    scope (every post for the whole organisation), each with the replies of people in it."""
    alert = await visible_alert(alert_id, scope)
    posts = await BoardPost.filter(alert_id=alert.id).order_by("id")
    paths = await department_paths()
    roster = dict(
        await scope.filter(AlertRecipient.filter(alert_id=alert.id)).values_list(
            "employee_id", "department_id"
        )
    )
    visible: list[BoardPost] = []
    for post in posts:
        audience = await _audience_ids(post.departments or [])
        if scope.is_everything or audience is None or audience & (scope.department_ids or set()):
            visible.append(post)
    replies: dict[int, list[ThreadReply]] = {}
    rows = await (
        BoardReply.filter(post_id__in=[p.id for p in visible], employee_id__in=sorted(roster))
        .order_by("id")
        .values_list("post_id", "employee__code", "employee__name", "employee_id", "body",
                     "created_at")
    )  # fmt: skip
    for post_id, code, name, employee_id, body, at in rows:
        department = paths.get(roster.get(employee_id) or 0, _("(部署なし)"))
        replies.setdefault(post_id, []).append(ThreadReply(code, name, department, body, at))
    return [
        ThreadPost(p, [paths.get(d, str(d)) for d in p.departments or []], replies.get(p.id, []))
        for p in visible
    ]


async def export_board(actor: Actor, alert_id: int, scope: Scope) -> list[ThreadPost]:
    """The thread for a CSV download, recorded in the audit log as an export."""
    thread = await board_thread(alert_id, scope)
    await log_action(
        actor, "board_exported", f"alert:{alert_id}",
        detail={"posts": len(thread), "replies": sum(len(p.replies) for p in thread)},
    )  # fmt: skip
    return thread


async def purge_board(alert_ids: list[int]) -> int:
    """Delete the posts (with their replies) of these alerts, inside the caller's
    transaction (retention); how many rows went."""
    posts = BoardPost.filter(alert_id__in=alert_ids)
    replies = await BoardReply.filter(post_id__in=Subquery(posts.values("id"))).delete()
    return replies + await BoardPost.filter(alert_id__in=alert_ids).delete()
