"""The answer page reached from an e-mail: the LIFF form's fields and look as a plain
server-rendered page (no LIFF, no script) at `/answer/{token}`. The signed token alone says
who answers which alert; the form carries only the choices, the message and the CSRF token.
Answers are stored with channel e-mail."""

import logging
from http import HTTPStatus
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from domain import family
from domain.alerts import display_sender, display_title, shown_wording
from domain.answer_links import LinkedAlert, linked_alert
from domain.answers import submit_answer as submit
from domain.errors import Conflict, DomainError, Invalid
from domain.i18n import current_language, speaking
from domain.i18n import gettext as _
from models import AnswerChannel
from web.csrf import csrf_token
from web.errors import status_for
from web.keys import WEB
from web.timefmt import jst

log = logging.getLogger(__name__)


def _page(
    request: web.Request, context: dict[str, Any], status: int = HTTPStatus.OK
) -> web.Response:
    response = aiohttp_jinja2.render_template(
        "mail_answer.html", request, {"csrf_token": csrf_token(request), **context}, status=status
    )
    # The page shows a person's answer: no cache keeps it.
    response.headers["Cache-Control"] = "no-store"
    return response


def _refused(request: web.Request, exc: DomainError) -> web.Response:
    return _page(request, {"refusal": exc.message}, status_for(exc))


def _context(
    linked: LinkedAlert,
    *,
    chosen: dict[str, str] | None = None,
    message: str | None = None,
    error: DomainError | None = None,
    done: bool = False,
) -> dict[str, Any]:
    """The page's values in the current language (the employee's): items carry the stored
    (Japanese) choices as values, shown in the reader's language."""
    alert, answer = linked.view.alert, linked.view.answer
    language = current_language()
    if chosen is None:
        chosen = dict(answer.choices) if answer else {}
    if message is None:
        message = answer.message if answer else ""
    title, alert_message = shown_wording(alert, language)
    stored = answer.choices if answer else {}
    submit_label = _("確認しました") if linked.view.confirm_only else _("回答")
    done_text = (
        _("確認を受け付けました。")
        if linked.view.confirm_only
        else _(
            "回答を受け付けました。内容を変更する場合は、選び直して再度「%(button)s」を"
            "押してください。",
            button=submit_label,
        )
    )
    return {
        "alert": alert,
        "title": title,
        "alert_message": alert_message,
        "started_at": jst(alert.started_at),
        "sender": display_sender(alert.sender_name),
        "items": [item.shown(language) for item in linked.view.items],
        "answer": answer,
        "answered_choices": [
            (item.shown_label(language), item.shown_choice(stored[item.label], language))
            if item.label in stored
            else (item.shown_label(language), "-")
            for item in linked.view.items
        ],
        "answered_at": jst(answer.answered_at) if answer else "",
        "status": _("回答済") if answer else _("未回答"),
        "chosen": chosen,
        "message": message,
        "closed": alert.is_closed,
        "error": error.message if error else None,
        "invalid": set(error.fields) if error else set(),
        "done": done_text if done else None,
        "confirm_only": linked.view.confirm_only,
        "submit_label": submit_label,
        "employee_name": linked.employee.name,
    }


async def answer_page(request: web.Request) -> web.Response:
    """The alert the link names, its answer status and the form (or the stored answer)."""
    try:
        linked = await linked_alert(
            request.config_dict[WEB].secret_key, request.match_info["token"]
        )
    except DomainError as exc:
        return _refused(request, exc)
    with speaking(linked.employee.language):
        return _page(request, _context(linked, done=request.query.get("done") == "1"))


async def submit_answer(request: web.Request) -> web.Response:
    """Store the answer (replacing an earlier one, kept as a revision), then show it."""
    token = request.match_info["token"]
    try:
        linked = await linked_alert(request.config_dict[WEB].secret_key, token)
    except DomainError as exc:
        return _refused(request, exc)
    with speaking(linked.employee.language):
        return await _submit(request, token, linked)


async def _submit(request: web.Request, token: str, linked: LinkedAlert) -> web.Response:
    form = await request.post()
    chosen = {}
    for index, item in enumerate(linked.view.items):
        value = form.get(f"item-{index}")
        if isinstance(value, str) and value:
            chosen[item.label] = value
    raw_message = form.get("message")
    message = raw_message if isinstance(raw_message, str) else ""
    try:
        await submit(linked.view.alert.id, linked.employee, chosen, message, AnswerChannel.EMAIL)
    except Invalid as exc:
        context = _context(linked, chosen=chosen, message=message, error=exc)
        return _page(request, context, HTTPStatus.UNPROCESSABLE_ENTITY)
    except Conflict as exc:
        linked = await linked_alert(request.config_dict[WEB].secret_key, token)
        context = _context(linked, error=exc)
        return _page(request, context, HTTPStatus.CONFLICT)
    except DomainError as exc:
        return _refused(request, exc)
    log.info("answer by e-mail link for alert %s", linked.view.alert.id)
    url = request.app.router["mail_answer"].url_for(token=token).with_query(done="1")
    raise web.HTTPSeeOther(str(url))


# The family answer page: a family member opens the link of their family e-mail and chooses
# 無事 / 負傷 / 不明 with an optional message; the token alone says who answers which alert.


def _family_page(
    request: web.Request, context: dict[str, Any], status: int = HTTPStatus.OK
) -> web.Response:
    response = aiohttp_jinja2.render_template(
        "family_answer.html",
        request,
        {"csrf_token": csrf_token(request), **context},
        status=status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _family_context(
    view: family.FamilyLinkView,
    *,
    chosen: str | None = None,
    message: str | None = None,
    error: DomainError | None = None,
    done: bool = False,
) -> dict[str, Any]:
    alert, answer = view.alert, view.answer
    return {
        "alert": alert,
        "title": display_title(alert.title, alert.drill),
        "started_at": jst(alert.started_at),
        "answer": answer,
        "answer_status": family.status_label(answer.status) if answer else "",
        "answered_at": jst(answer.answered_at) if answer else "",
        "status": _("回答済") if answer else _("未回答"),
        "statuses": [(s.value, family.status_label(s)) for s in family.STATUS_ORDER],
        "chosen": chosen if chosen is not None else (answer.status.value if answer else ""),
        "message": message if message is not None else (answer.message if answer else ""),
        "closed": alert.is_closed,
        "error": error.message if error else None,
        "done": done,
        "member_name": view.member.name,
    }


async def family_page(request: web.Request) -> web.Response:
    """The family question the link names, the member's answer and the form."""
    try:
        view = await family.family_link_view(
            request.config_dict[WEB].secret_key, request.match_info["token"]
        )
    except DomainError as exc:
        return _family_page(request, {"refusal": exc.message}, status_for(exc))
    return _family_page(request, _family_context(view, done=request.query.get("done") == "1"))


async def submit_family(request: web.Request) -> web.Response:
    """Store the family member's status and message (again: a new revision), then show it."""
    token = request.match_info["token"]
    secret = request.config_dict[WEB].secret_key
    form = await request.post()
    raw_status, raw_message = form.get("status"), form.get("message")
    chosen = raw_status if isinstance(raw_status, str) else ""
    message = raw_message[: family.MAX_MESSAGE] if isinstance(raw_message, str) else ""
    try:
        await family.answer_by_family_link(secret, token, family.parse_status(chosen), message)
    except Invalid as exc:
        try:
            view = await family.family_link_view(secret, token)
        except DomainError as refused:
            return _family_page(request, {"refusal": refused.message}, status_for(refused))
        context = _family_context(view, chosen=chosen, message=message, error=exc)
        return _family_page(request, context, HTTPStatus.UNPROCESSABLE_ENTITY)
    except Conflict as exc:
        view = await family.family_link_view(secret, token)
        return _family_page(request, _family_context(view, error=exc), HTTPStatus.CONFLICT)
    except DomainError as exc:
        return _family_page(request, {"refusal": exc.message}, status_for(exc))
    log.info("family answer by e-mail link")
    url = request.app.router["family_answer"].url_for(token=token).with_query(done="1")
    raise web.HTTPSeeOther(str(url))
