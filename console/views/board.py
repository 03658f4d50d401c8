"""An alert's board (掲示板) on the console: the thread (posts with the replies of people in
the viewer's scope), live over server-sent events; posting (any console role, within their
departments) after a confirm step that says how many billable pushes it sends; the CSV."""

import asyncio
import contextlib
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from console.auth import requires
from console.keys import VIEWER
from console.render import render
from console.views.monitoring import (
    DISCONNECT_CHECK_SECONDS,
    HEARTBEAT_SECONDS,
    MAX_STREAMS_PER_USER,
    STREAM_SECONDS,
    _csv,
)
from domain import board
from domain.alerts import find_departments, sending_options
from domain.errors import DomainError
from domain.i18n import gettext as _
from domain.notify import Topic, notifier
from domain.tally import visible_alert
from web.timefmt import jst

MAX_STREAMS = 500  # open board streams per process


def _alert_id(request: web.Request) -> int:
    return int(request.match_info["alert_id"])


def _chosen(form: Any) -> dict[str, Any]:
    """The post form's fields."""
    return {
        "body": str(form.get("body", "")),
        "departments": [str(d) for d in form.getall("departments", [])],
        "push": form.get("push") == "1",
        "replies_allowed": form.get("replies_allowed") == "1",
    }


async def _page(
    request: web.Request, form: dict[str, Any] | None = None, error: str = "", status: int = 200
) -> web.Response:
    viewer = request[VIEWER]
    alert = await visible_alert(_alert_id(request), viewer.scope)
    thread = await board.board_thread(alert.id, viewer.scope)
    options = await sending_options(viewer.scope)
    notice = request.query.get("notice", "")
    return render(
        request,
        "board.html",
        {
            "alert": alert,
            "thread": thread,
            "departments": options.departments,
            "form": form or {"push": True, "replies_allowed": True},
            "error": error,
            "posted": notice == "posted",
            "events_url": str(request.app.router["board_events"].url_for(alert_id=str(alert.id))),
        },
        status=status,
    )


@requires()
async def board_page(request: web.Request) -> web.Response:
    """The thread and the post form."""
    return await _page(request)


@requires()
async def board_thread_part(request: web.Request) -> web.Response:
    """The thread alone, which the page fetches when the live stream says it changed."""
    viewer = request[VIEWER]
    alert = await visible_alert(_alert_id(request), viewer.scope)
    thread = await board.board_thread(alert.id, viewer.scope)
    return render(request, "board_thread.html", {"alert": alert, "thread": thread})


async def _preview(request: web.Request, chosen: dict[str, Any]) -> board.PostPreview:
    viewer = request[VIEWER]
    return await board.preview_post(
        _alert_id(request),
        chosen["body"],
        departments=await find_departments(chosen["departments"]),
        push=chosen["push"],
        replies_allowed=chosen["replies_allowed"],
        scope=viewer.scope,
    )


@requires()
async def board_confirm(request: web.Request) -> web.Response:
    """The confirm step: the post, whom it reaches and how many billable pushes it sends."""
    chosen = _chosen(await request.post())
    try:
        preview = await _preview(request, chosen)
    except DomainError as exc:
        return await _page(request, chosen, exc.message, status=422)
    return render(request, "board_confirm.html", {"preview": preview, "form": chosen})


@requires()
async def board_post(request: web.Request) -> web.Response:
    """Post what the confirm step showed."""
    viewer = request[VIEWER]
    chosen = _chosen(await request.post())
    try:
        await board.post_to_board(
            viewer.actor,
            _alert_id(request),
            chosen["body"],
            author=viewer.name,
            departments=await find_departments(chosen["departments"]),
            push=chosen["push"],
            replies_allowed=chosen["replies_allowed"],
            scope=viewer.scope,
        )
    except DomainError as exc:
        return await _page(request, chosen, exc.message, status=422)
    url = request.app.router["board"].url_for(alert_id=str(_alert_id(request)))
    raise web.HTTPSeeOther(f"{url}?{urlencode({'notice': 'posted'})}")


@requires()
async def board_csv(request: web.Request) -> web.Response:
    """The posts and the replies in the viewer's scope as CSV (formula-safe, Excel-readable)."""
    viewer = request[VIEWER]
    alert_id = _alert_id(request)
    thread = await board.export_board(viewer.actor, alert_id, viewer.scope)
    rows: list[list[Any]] = [
        [
            _("種別"), _("投稿番号"), _("日時"), _("投稿者・社員番号"), _("氏名"), _("部署"),
            _("本文"),
        ]
    ]  # fmt: skip
    for item in thread:
        post = item.post
        shown_to = "、".join(item.departments) or _("全員")
        rows.append([_("投稿"), post.id, jst(post.created_at), post.author, "", shown_to,
                     post.body])  # fmt: skip
        for reply in item.replies:
            rows.append([_("返信"), post.id, jst(reply.created_at), reply.code, reply.name,
                         reply.department, reply.body])  # fmt: skip
    return _csv(rows, f"alert-{alert_id}-board.csv")


def live_board(streams: set[asyncio.Event]) -> Any:
    """The server-sent events view: `event: board` whenever a post or reply to the alert is
    stored (the page then fetches the thread it may see)."""
    per_user: dict[int, int] = {}

    @requires()
    async def board_events(request: web.Request) -> web.StreamResponse:
        viewer = request[VIEWER]
        alert_id = (await visible_alert(_alert_id(request), viewer.scope)).id
        if per_user.get(viewer.user_id, 0) >= MAX_STREAMS_PER_USER:
            raise web.HTTPTooManyRequests(headers={"Retry-After": "5"})
        if len(streams) >= MAX_STREAMS:
            raise web.HTTPServiceUnavailable(headers={"Retry-After": "5"})
        wake = asyncio.Event()
        changed = False

        def on_board(payload: str) -> None:
            nonlocal changed
            if payload == str(alert_id):
                changed = True
                wake.set()

        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        streams.add(wake)
        per_user[viewer.user_id] = per_user.get(viewer.user_id, 0) + 1
        unsubscribe = notifier.subscribe(Topic.BOARD, on_board)
        loop = asyncio.get_running_loop()
        ends = loop.time() + STREAM_SECONDS
        try:
            await response.prepare(request)
            await response.write(b"retry: 3000\n\n")
            beat = loop.time() + HEARTBEAT_SECONDS
            while loop.time() < ends and wake in streams:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(
                        min(DISCONNECT_CHECK_SECONDS, beat - loop.time(), ends - loop.time())
                    ):
                        await wake.wait()
                wake.clear()
                if request.transport is None or wake not in streams:
                    break
                if changed:
                    changed = False
                    await response.write(b"event: board\ndata: changed\n\n")
                elif loop.time() >= beat:
                    beat = loop.time() + HEARTBEAT_SECONDS
                    await response.write(b": keep-alive\n\n")
        except (ConnectionResetError, OSError):
            pass  # the browser went away
        finally:
            unsubscribe()
            streams.discard(wake)
            per_user[viewer.user_id] -= 1
        return response

    return board_events


def setup_routes(app: web.Application) -> None:
    """Register the board's named routes."""
    streams: set[asyncio.Event] = set()

    async def end_streams(_app: web.Application) -> None:
        for wake in list(streams):
            streams.discard(wake)
            wake.set()

    app.on_shutdown.append(end_streams)
    one = "/alerts/{alert_id:[0-9]{1,9}}/board"
    app.router.add_get(one, board_page, name="board")
    app.router.add_post(one, board_confirm, name="board_confirm")
    app.router.add_post(f"{one}/post", board_post, name="board_post")
    app.router.add_get(f"{one}/thread", board_thread_part, name="board_thread")
    app.router.add_get(f"{one}/events", live_board(streams), name="board_events")
    app.router.add_get(f"{one}.csv", board_csv, name="board_csv")
