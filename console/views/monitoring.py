"""Watching one alert: its tally (charts, departments, live over server-sent events), who has
not answered, the CSV of answers; and, for senders, starting, reminding and closing."""

import asyncio
import contextlib
import io
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from console.auth import requires
from console.keys import VIEWER
from console.render import render
from domain import spreadsheet
from domain.alerts import (
    AlertPreview,
    close_alert,
    ensure_closable,
    find_departments,
    find_template,
    preview_alert,
    remind_unanswered,
    sending_options,
    start_alert,
)
from domain.answers import enter_answer_for
from domain.check_items import parse_items
from domain.errors import DomainError, Forbidden
from domain.i18n import current_language
from domain.i18n import gettext as _
from domain.notify import Topic, notifier
from domain.scope import Scope
from domain.tally import (
    AnswerFilter,
    AnswerList,
    Tally,
    TimelinePoint,
    alert_page,
    answer_list,
    answer_timeline,
    export_answers,
    tally,
    unanswered,
    visible_alert,
    with_subtotals,
)
from models import Alert, ConsoleRole
from web.timefmt import jst

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0  # a comment line keeps proxies from closing an idle stream
COALESCE_SECONDS = 0.2  # answers arriving within this window after an update make one update
READING_PACE = 1.0  # after an update, a stream waits at least this many times its reading's time
STREAM_SECONDS = 10 * 60  # a stream ends after this; EventSource reconnects (and re-checks auth)
MAX_STREAMS = 500  # open live streams per process
MAX_STREAMS_PER_USER = 5  # so that one console user cannot take every slot
DISCONNECT_CHECK_SECONDS = 1.0  # aiohttp does not wake a handler when its client goes

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _alert_id(request: web.Request) -> int:
    return int(request.match_info["alert_id"])


async def _visible(request: web.Request) -> Alert:
    """The alert of the URL if the viewer may see it; 404 unknown, 403 out of scope."""
    return await visible_alert(_alert_id(request), request[VIEWER].scope)


def _worrying_columns(result: Tally) -> list[tuple[str, str]]:
    return [(item.label, choice) for item in result.items for choice in item.worrying_choices]


PEOPLE_SHOWN = 100  # worrying answers on the alert page (newest first)


def _people_filter(query: Any) -> AnswerFilter:
    """The alert page's filter of who needs help: worrying answers, by item, or by one
    choice (`item:choice`, as the page's choice list sends it)."""
    item, choice = str(query.get("item", ""))[:50], str(query.get("choice", ""))[:101]
    if ":" in choice:
        item, choice = choice.split(":", 1)
    return AnswerFilter(worrying_only=True, item=item, choice=choice[:50], per_page=PEOPLE_SHOWN)


async def live_data(alert_id: int, scope: Scope, people: AnswerFilter) -> dict[str, Any]:
    """The fresh tally, timeline and people needing help as the page's script draws them."""
    return live_data_of(
        await tally(alert_id, scope),
        await answer_timeline(alert_id, scope),
        await answer_list(alert_id, scope, people),
    )


def _people(found: AnswerList) -> dict[str, Any]:
    return {
        "matched": found.matched,
        "rows": [
            {
                "code": e.code,
                "name": e.name,
                "department": e.department,
                "choices": [[label, choice, worrying] for label, choice, worrying in e.choices],
                "message": e.message,
                "at": jst(e.answered_at),
                "entered_by": e.entered_by or "",
            }
            for e in found.entries
        ],
    }


def live_data_of(
    result: Tally, timeline: list[TimelinePoint], people: AnswerList
) -> dict[str, Any]:
    """A tally, timeline and people needing help as the page's script draws them."""
    worrying = _worrying_columns(result)
    return {
        "closed": result.closed,
        "total": result.total,
        "answered": result.answered,
        "unanswered": result.unanswered,
        "rate": round(result.rate, 1),
        "items": [
            {
                "label": item.label,
                "choices": list(item.choices),
                "counts": [result.choice_counts[item.label][c] for c in item.choices],
                "worrying": list(item.worrying_choices),
            }
            for item in result.items
        ],
        "worrying": [f"{label}:{choice}" for label, choice in worrying],
        "departments": [
            {
                "name": d.path,
                "answered": d.answered,
                "total": d.total,
                "subtotal": d.subtotal,
                "worrying": [d.choice_counts[label][choice] for label, choice in worrying],
            }
            for d in with_subtotals(result.departments)
        ],
        "timeline": [{"at": jst(p.at), "answered": p.answered} for p in timeline],
        "people": _people(people),
    }


def _elapsed(alert: Alert) -> str:
    """Time since the alert started (to its end once closed), as 1時間23分."""
    end = alert.closed_at or datetime.now(UTC)
    minutes = max(0, int((end - alert.started_at).total_seconds() // 60))
    if minutes < 60:
        return _("%(minutes)s分", minutes=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return _("%(hours)s時間%(minutes)s分", hours=hours, minutes=minutes)
    days, hours = divmod(hours, 24)
    return _("%(days)s日%(hours)s時間", days=days, hours=hours)


def _script_texts() -> dict[str, str]:
    """What alert.js writes itself, in the viewer's language (`%(name)s` filled in there)."""
    return {
        "answers": _("回答数"),
        "separator": _("・"),
        "entered_by": _("代理回答(入力: %(name)s)"),
        "none": _("該当する回答はありません。"),
        "subtotal": _("計"),
        "minutes": _("%(minutes)s分"),
        "hours": _("%(hours)s時間%(minutes)s分"),
        "days": _("%(days)s日%(hours)s時間"),
        "since": _("開始から"),
        "closed": _("(終了しました)"),
    }


@requires()
async def alert_detail(request: web.Request) -> web.Response:
    """The tally of one alert in the viewer's scope: charts, departments, live updates."""
    viewer = request[VIEWER]
    people = _people_filter(request.query)
    page = await alert_page(_alert_id(request), viewer.scope, people)
    data = live_data_of(page.tally, page.timeline, page.people)
    events = request.app.router["alert_events"].url_for(alert_id=str(page.alert.id))
    if people.item:
        events = events.with_query({"item": people.item, "choice": people.choice})
    return render(
        request,
        "alert.html",
        {
            "alert": page.alert,
            "tally": page.tally,
            "worrying": _worrying_columns(page.tally),
            "data": data,
            "data_json": json.dumps(data, ensure_ascii=False),
            "texts_json": json.dumps(_script_texts(), ensure_ascii=False),
            "events_url": str(events),
            "people": data["people"],
            "people_filter": people,
            "elapsed": _elapsed(page.alert),
            "may_send": viewer.may(ConsoleRole.SENDER),
            "closable": page.closable,
            "deliveries": page.deliveries,
            "trigger": page.trigger,
            "family": page.family,
            "may_see_jma": viewer.may(ConsoleRole.MAINTAINER),
            "notice": _notice(request.query.get("notice", ""), request.query.get("n", "")),
        },
    )


@dataclass(eq=False)  # identity: streams live in a set
class _Stream:
    """One open live stream: woken by an answer to its alert or by shutdown. `changed_at`:
    when the first answer not yet sent arrived (None: nothing new)."""

    user_id: int
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    changed_at: float | None = None
    stopping: bool = False


# What identifies one reading of the live data: the alert, the viewer's scope, the filter
# of who needs help and the language it is written in (nothing else about the viewer
# shapes it: `live_data` takes no more).
_ReadingKey = tuple[int, Scope, AnswerFilter, str]


@dataclass(eq=False)
class _Reading:
    """One computation of the live data (its event's JSON and the seconds it took), begun at
    `started` (the loop's clock); it holds every answer that arrived before then."""

    started: float
    result: "asyncio.Future[tuple[str, float]]"


class _Readings:
    """The live data, read once for every stream that wants the same reading.

    At 100,000 answers one reading takes about half a second of the database and the event
    loop; each open page reading it for itself after every burst of answers would take the
    server from the people answering. A stream woken by answers that arrived at time t uses
    the latest reading begun at or after t (the one under way, or just done), else begins
    one; streams of another scope, filter or language never share."""

    KEEP_SECONDS = 60.0  # a finished reading is forgotten this long after it began

    def __init__(self) -> None:
        self._latest: dict[_ReadingKey, _Reading] = {}
        self._running: set[asyncio.Future[tuple[str, float]]] = set()

    async def read(
        self, alert_id: int, scope: Scope, people: AnswerFilter, since: float
    ) -> tuple[str, float]:
        """The live data's JSON holding every answer that arrived by `since`, and how many
        seconds reading it took."""
        loop = asyncio.get_running_loop()
        key = (alert_id, scope, people, current_language())
        reading = self._latest.get(key)
        if reading is None or reading.started < since:
            self._forget_old(loop.time())
            # The task inherits this context, the language included (part of the key).
            task = asyncio.ensure_future(_read_live(alert_id, scope, people))
            self._running.add(task)
            task.add_done_callback(self._finished)
            reading = self._latest[key] = _Reading(loop.time(), task)
        # A stream that goes away leaves the reading to the others.
        return await asyncio.shield(reading.result)

    def _finished(self, task: "asyncio.Future[tuple[str, float]]") -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:  # its streams have it too
            log.warning("reading the live data failed: %s", type(task.exception()).__name__)

    def _forget_old(self, now: float) -> None:
        for key, reading in list(self._latest.items()):
            if reading.result.done() and now - reading.started > self.KEEP_SECONDS:
                del self._latest[key]

    async def stop(self) -> None:
        """At shutdown: end the readings under way (their streams are ending too)."""
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        self._latest.clear()


async def _read_live(alert_id: int, scope: Scope, people: AnswerFilter) -> tuple[str, float]:
    loop = asyncio.get_running_loop()
    began = loop.time()
    data = json.dumps(await live_data(alert_id, scope, people), ensure_ascii=False)
    return data, loop.time() - began


def live_events(streams: set[_Stream], readings: _Readings) -> Handler:
    """The server-sent events view: the fresh scoped tally after each answer."""

    @requires()
    async def alert_events(request: web.Request) -> web.StreamResponse:
        """Send `event: tally` with the scoped tally whenever an answer to the alert arrives."""
        alert_id = (await _visible(request)).id
        scope = request[VIEWER].scope
        user_id = request[VIEWER].user_id
        if sum(open_.user_id == user_id for open_ in streams) >= MAX_STREAMS_PER_USER:
            raise web.HTTPTooManyRequests(headers={"Retry-After": "5"})
        people = _people_filter(request.query)
        if len(streams) >= MAX_STREAMS:
            raise web.HTTPServiceUnavailable(headers={"Retry-After": "5"})
        stream = _Stream(user_id)

        def on_answer(payload: str) -> None:
            if payload == str(alert_id):
                if stream.changed_at is None:
                    stream.changed_at = asyncio.get_running_loop().time()
                stream.wake.set()

        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        streams.add(stream)
        unsubscribe = notifier.subscribe(Topic.ANSWER, on_answer)
        loop = asyncio.get_running_loop()
        ends = loop.time() + STREAM_SECONDS
        try:
            await response.prepare(request)
            await response.write(b"retry: 3000\n\n")
            beat = loop.time() + HEARTBEAT_SECONDS
            while not stream.stopping and loop.time() < ends:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(
                        min(DISCONNECT_CHECK_SECONDS, beat - loop.time(), ends - loop.time())
                    ):
                        await stream.wake.wait()
                stream.wake.clear()
                if stream.stopping or request.transport is None:  # shutdown, or the client left
                    break
                if stream.changed_at is None:
                    if loop.time() < beat:
                        continue
                    beat = loop.time() + HEARTBEAT_SECONDS
                    await response.write(b": keep-alive\n\n")
                    continue
                since, stream.changed_at = stream.changed_at, None
                try:
                    data, took = await readings.read(alert_id, scope, people, since)
                except asyncio.CancelledError:
                    if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                        raise  # this stream's own end
                    break  # the reading was ended: the server is shutting down
                await response.write(f"event: tally\ndata: {data}\n\n".encode())
                # Let a burst of answers pile up; a reading that took long waits as long, so
                # that live pages read at most half the time however large the alert.
                await asyncio.sleep(max(COALESCE_SECONDS, READING_PACE * took))
        except (ConnectionResetError, OSError):
            pass  # the browser went away
        finally:
            unsubscribe()
            streams.discard(stream)
        return response

    return alert_events


def _end_streams(
    streams: set[_Stream], readings: _Readings
) -> Callable[[web.Application], Awaitable[None]]:
    async def end(_app: web.Application) -> None:
        for stream in list(streams):
            stream.stopping = True
            stream.wake.set()
        await readings.stop()

    return end


@requires()
async def alert_unanswered(request: web.Request) -> web.Response:
    """Who in the viewer's scope has not answered: contact columns a supervisor may see
    (e-mail, phone; never the LINE display name) and how each medium stands for them."""
    alert = await _visible(request)
    people = await unanswered(alert.id, request[VIEWER].scope)
    return render(
        request,
        "unanswered.html",
        {"alert": alert, "people": people, "may_send": request[VIEWER].may(ConsoleRole.SENDER)},
    )


def _csv(rows: list[list[Any]], filename: str) -> web.Response:
    """Rows as a CSV download (UTF-8 with BOM, so Excel reads Japanese; formula-safe)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = spreadsheet.writer(out)
    for row in rows:
        writer.writerow(row)
    return web.Response(
        body=out.getvalue().encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@requires()
async def alert_unanswered_csv(request: web.Request) -> web.Response:
    """Who in the viewer's scope has not answered, as CSV."""
    alert = await _visible(request)
    people = await unanswered(alert.id, request[VIEWER].scope)
    header = ["社員番号", "氏名", "部署", "メール", "電話", "LINE", "メール送信", "届き方"]
    rows: list[list[Any]] = [header]
    rows += [
        [p.code, p.name, p.department, p.email_address, p.phone, p.line, p.email, p.reach]
        for p in people
    ]
    return _csv(rows, f"alert-{alert.id}-unanswered.csv")


@requires()
async def alert_answers(request: web.Request) -> web.Response:
    """Everyone's answers in the viewer's scope, newest first, paged, searched by name/code."""
    alert = await _visible(request)
    search = str(request.query.get("q", ""))[:50]
    page = request.query.get("page", "1")
    query = AnswerFilter(search=search, page=int(page) if page.isdigit() else 1)
    found = await answer_list(alert.id, request[VIEWER].scope, query)
    return render(
        request,
        "answers.html",
        {"alert": alert, "found": found, "q": search, "items": parse_items(alert.items)},
    )


@requires(ConsoleRole.SENDER)
async def alert_remind_confirm(request: web.Request) -> web.Response:
    """再通知 asks first: how many people it would reach, and the follow-up message."""
    alert = await _visible(request)
    people = await unanswered(alert.id, Scope.everything())
    return render(request, "alert_act.html", {"alert": alert, "act": "remind", "people": people})


@requires(ConsoleRole.SENDER)
async def alert_close_confirm(request: web.Request) -> web.Response:
    """終了 asks first (and refuses at once a sender the alert reaches beyond)."""
    alert = await _visible(request)
    await ensure_closable(alert, request[VIEWER].scope)
    return render(request, "alert_act.html", {"alert": alert, "act": "close", "people": []})


@requires()
async def alert_proxy_form(request: web.Request) -> web.Response:
    """代理回答: the answer form a supervisor fills in for someone who phoned in."""
    alert = await _visible(request)
    return render(
        request,
        "alert_proxy.html",
        {
            "alert": alert,
            "items": parse_items(alert.items),
            "form": {"code": request.query.get("code", "")},
        },
    )


@requires()
async def alert_proxy(request: web.Request) -> web.Response:
    """Record the answer entered for someone in the viewer's scope."""
    viewer = request[VIEWER]
    alert = await _visible(request)
    form = await request.post()
    items = parse_items(alert.items)
    choices = {item.label: str(form.get(f"item-{i}", "")) for i, item in enumerate(items)}
    chosen = {label: choice for label, choice in choices.items() if choice}
    message = str(form.get("message", ""))
    code = str(form.get("code", ""))
    try:
        view = await enter_answer_for(viewer.actor, alert.id, code, chosen, message, viewer.scope)
    except DomainError as exc:
        return render(
            request,
            "alert_proxy.html",
            {
                "alert": alert,
                "items": items,
                "form": {"code": code, "message": message, "choices": choices},
                "error": exc.message,
            },
            status=403 if isinstance(exc, Forbidden) else 422,
        )
    assert view.answer is not None
    raise web.HTTPSeeOther(_detail_url(request, alert.id, "proxied", code))


@requires()
async def alert_csv(request: web.Request) -> web.Response:
    """The answers in the viewer's scope as CSV (UTF-8 with BOM, so Excel reads Japanese)."""
    alert_id = (await _visible(request)).id
    viewer = request[VIEWER]
    sheet = await export_answers(viewer.actor, alert_id, viewer.scope)
    rows: list[list[Any]] = [
        ["件名", "社員番号", "氏名", "部署", *sheet.labels, "メッセージ", "回答日時", "回答経路"]
        + ([_("家族の安否")] if sheet.family else [])
    ]
    rows += [
        [
            sheet.shown_title,
            row.code,
            row.name,
            row.department,
            *row.choices,
            row.message,
            jst(row.answered_at),
            row.channel,
            *([row.family] if sheet.family else []),
        ]
        for row in sheet.rows
    ]
    return _csv(rows, f"alert-{alert_id}-answers.csv")


# Marked here, translated where shown (`_notice`).
NOTICES = {
    "started": _("発信しました(対象 %(n)s 名)。"),
    "reminded": _("未回答者 %(n)s 名に再通知しました。"),
    "remind_none": _("LINE・e-mailで届く未回答者がいないため、再通知は送信していません。"),
    "closed": _("この安否確認を終了しました。"),
    "proxied": _("社員番号 %(n)s の回答を代理で入力しました。"),
}


def _notice(code: str, n: str) -> str | None:
    """The banner for a fixed notice code; a count other than a plain number shows none."""
    text = NOTICES.get(code)
    if text is None:
        return None
    if "%(n)s" not in text:
        return _(text)
    if not re.fullmatch(r"[0-9]{1,7}", n):
        return None
    return _(text, n=int(n))


def _detail_url(request: web.Request, alert_id: int, notice: str, n: int | str = "") -> str:
    url = request.app.router["alert_detail"].url_for(alert_id=str(alert_id))
    return f"{url}?{urlencode({'notice': notice, 'n': n})}"


@requires(ConsoleRole.SENDER)
async def alert_new(request: web.Request) -> web.Response:
    """The start form: template, departments (none: everyone), drill or real."""
    options = await sending_options(request[VIEWER].scope)
    return render(request, "alert_new.html", {"options": options, "form": {}})


def _chosen(form: Any) -> dict[str, Any]:
    """The start form's fields: template, departments, drill (the default) or real."""
    return {
        "template": str(form.get("template", "")),
        "departments": [str(d) for d in form.getall("departments", [])],
        "drill": form.get("drill", "drill") != "real",
        "title": str(form.get("title", "")),
        "message": str(form.get("message", "")),
    }


async def _preview(chosen: dict[str, Any], scope: Scope) -> AlertPreview:
    template = await find_template(chosen["template"])
    departments = await find_departments(chosen["departments"])
    return await preview_alert(
        template,
        drill=chosen["drill"],
        departments=departments,
        title=chosen["title"],
        message=chosen["message"],
        scope=scope,
    )


async def _refill(request: web.Request, error: str, chosen: dict[str, Any]) -> web.Response:
    return render(
        request,
        "alert_new.html",
        {"options": await sending_options(request[VIEWER].scope), "form": chosen, "error": error},
        status=422,
    )


@requires(ConsoleRole.SENDER)
async def alert_confirm(request: web.Request) -> web.Response:
    """The confirm step: title, message, how many it reaches, drill or real."""
    chosen = _chosen(await request.post())
    try:
        preview = await _preview(chosen, request[VIEWER].scope)
    except DomainError as exc:
        return await _refill(request, exc.message, chosen)
    return render(request, "alert_confirm.html", {"preview": preview, "form": chosen})


@requires(ConsoleRole.SENDER)
async def alert_start(request: web.Request) -> web.Response:
    """Start the alert confirmed on the previous step."""
    viewer = request[VIEWER]
    chosen = _chosen(await request.post())
    try:
        preview = await _preview(chosen, viewer.scope)
        started = await start_alert(
            viewer.actor,
            preview.template,
            drill=preview.drill,
            sender_name=viewer.name,
            departments=preview.departments,
            title=preview.plain_title,
            message=preview.message,
            scope=viewer.scope,
        )
    except DomainError as exc:
        return await _refill(request, exc.message, chosen)
    raise web.HTTPSeeOther(_detail_url(request, started.alert.id, "started", started.recipients))


@requires(ConsoleRole.SENDER)
async def alert_remind(request: web.Request) -> web.Response:
    """Remind those who have not answered, with an optional follow-up message."""
    viewer = request[VIEWER]
    alert_id = (await _visible(request)).id
    form = await request.post()
    reminder = await remind_unanswered(
        viewer.actor, alert_id, message=str(form.get("message", "")), scope=viewer.scope
    )
    if not reminder.round:
        raise web.HTTPSeeOther(_detail_url(request, alert_id, "remind_none"))
    raise web.HTTPSeeOther(_detail_url(request, alert_id, "reminded", reminder.recipients))


@requires(ConsoleRole.SENDER)
async def alert_close(request: web.Request) -> web.Response:
    """Stop accepting answers."""
    viewer = request[VIEWER]
    alert_id = (await _visible(request)).id
    await close_alert(viewer.actor, alert_id, scope=viewer.scope)  # closed: a Conflict page
    raise web.HTTPSeeOther(_detail_url(request, alert_id, "closed"))


def setup_routes(app: web.Application) -> None:
    """Register this module's named routes."""
    streams: set[_Stream] = set()
    readings = _Readings()
    app.on_shutdown.append(_end_streams(streams, readings))
    one = "/alerts/{alert_id:[0-9]{1,9}}"
    app.router.add_get("/alerts/new", alert_new, name="alert_new")
    app.router.add_post("/alerts/new", alert_confirm, name="alert_confirm")
    app.router.add_post("/alerts/start", alert_start, name="alert_start")
    app.router.add_get(one, alert_detail, name="alert_detail")
    app.router.add_get(f"{one}/events", live_events(streams, readings), name="alert_events")
    app.router.add_get(f"{one}/unanswered", alert_unanswered, name="alert_unanswered")
    app.router.add_get(f"{one}/answers.csv", alert_csv, name="alert_csv")
    app.router.add_get(f"{one}/unanswered.csv", alert_unanswered_csv, name="alert_unanswered_csv")
    app.router.add_get(f"{one}/answers", alert_answers, name="alert_answers")
    app.router.add_get(f"{one}/proxy", alert_proxy_form, name="alert_proxy_form")
    app.router.add_post(f"{one}/proxy", alert_proxy, name="alert_proxy")
    app.router.add_get(f"{one}/remind", alert_remind_confirm, name="alert_remind_confirm")
    app.router.add_post(f"{one}/remind", alert_remind, name="alert_remind")
    app.router.add_get(f"{one}/close", alert_close_confirm, name="alert_close_confirm")
    app.router.add_post(f"{one}/close", alert_close, name="alert_close")
