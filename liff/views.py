"""LIFF views: the answer page and its JSON API. Each parses its input, calls one domain
function and renders the result."""

import logging
from http import HTTPStatus
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from domain import answers, linking
from domain.alerts import display_sender, display_title
from domain.check_items import items_to_json
from domain.errors import DomainError, NotFound
from models import AnswerChannel, Employee
from web.csrf import exempt
from web.errors import domain_error_response, json_error
from web.keys import ID_TOKENS, LIFF
from web.line_login import InvalidIdToken
from web.timefmt import jst

log = logging.getLogger(__name__)

UNANSWERED, ANSWERED = "未回答", "回答済"


class _AuthError(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


async def answer_page(request: web.Request) -> web.Response:
    """The LIFF endpoint: a page shell whose script fetches the alert with the ID token."""
    settings = request.config_dict[LIFF]
    return aiohttp_jinja2.render_template(
        "answer.html",
        request,
        {"liff_id": settings.liff_id, "liff_sdk_url": settings.sdk_url},
    )


async def _employee(request: web.Request) -> Employee:
    """The linked employee behind the request's ID token."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.startswith("Bearer ") else ""
    try:
        verified = await request.config_dict[ID_TOKENS].verify(token)
    except InvalidIdToken as exc:
        log.info("ID token refused: %s", exc)
        raise _AuthError(
            json_error(
                HTTPStatus.UNAUTHORIZED,
                "invalid_id_token",
                "LINEの認証に失敗しました。LINEのトークから回答画面を開き直してください。",
            )
        ) from None
    employee = await linking.linked_employee(verified.user_id)
    if employee is None:
        raise _AuthError(
            json_error(
                HTTPStatus.FORBIDDEN,
                "not_linked",
                "このLINEアカウントは社員情報と連携されていません。"
                "トークで「連携」と送信して連携してから回答してください。",
            )
        )
    return employee


def _alert_id(request: web.Request) -> int:
    alert_id = int(request.match_info["alert_id"])
    if alert_id >= 2**31:
        raise NotFound("指定された安否確認が見つかりません。", code="alert_not_found")
    return alert_id


def _view_json(view: answers.AlertView) -> dict[str, Any]:
    alert, answer = view.alert, view.answer
    return {
        "alert": {
            "id": alert.id,
            "title": display_title(alert.title, alert.drill),
            "drill": alert.drill,
            "started_at": jst(alert.started_at),
            "sender": display_sender(alert.sender_name),
            "message": alert.message,
            "items": items_to_json(view.items),
            "closed": alert.is_closed,
        },
        "status": ANSWERED if answer else UNANSWERED,
        "answer": None
        if answer is None
        else {
            "choices": answer.choices,
            "message": answer.message,
            "answered_at": jst(answer.answered_at),
            "revision": answer.revision,
        },
    }


async def api_alert(request: web.Request) -> web.Response:
    """The alert, the caller's answer status and current answer."""
    try:
        employee = await _employee(request)
        view = await answers.alert_for(_alert_id(request), employee)
    except _AuthError as exc:
        return exc.response
    except DomainError as exc:
        return domain_error_response(exc)
    return web.json_response(_view_json(view))


@exempt  # authenticated by the ID token in the Authorization header, not by a cookie
async def api_answer(request: web.Request) -> web.Response:
    """Record the caller's answer (replacing an earlier one, which is kept as a revision)."""
    try:
        employee = await _employee(request)
    except _AuthError as exc:
        return exc.response
    try:
        body = await request.json()
    except ValueError:
        return json_error(HTTPStatus.BAD_REQUEST, "bad_json", "送信内容を読み取れませんでした。")
    if not isinstance(body, dict):
        return json_error(HTTPStatus.BAD_REQUEST, "bad_json", "送信内容を読み取れませんでした。")
    try:
        alert_id = _alert_id(request)
        await answers.submit_answer(
            alert_id, employee, body.get("choices"), body.get("message"), AnswerChannel.LIFF
        )
        view = await answers.alert_for(alert_id, employee)
    except DomainError as exc:
        return domain_error_response(exc)
    return web.json_response(_view_json(view))
