"""LIFF views: the answer page and its JSON API."""

import logging
from http import HTTPStatus
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from bot import answers, linking
from bot.csrf import exempt
from bot.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from bot.keys import CONFIG, HTTP
from bot.line_login import InvalidIdToken, verify_id_token
from bot.messages import jst
from models import AnswerChannel, Employee

log = logging.getLogger(__name__)

STATUS_FOR = {
    NotFound: HTTPStatus.NOT_FOUND,
    Forbidden: HTTPStatus.FORBIDDEN,
    Conflict: HTTPStatus.CONFLICT,
    Invalid: HTTPStatus.UNPROCESSABLE_ENTITY,
}
UNANSWERED, ANSWERED = "未回答", "回答済"


def json_error(status: int, code: str, message: str, fields: dict | None = None) -> web.Response:
    """A 4xx JSON body naming the problem for the script and the person."""
    body: dict[str, Any] = {"error": code, "message": message}
    if fields:
        body["fields"] = fields
    return web.json_response(body, status=status)


def _domain_error(exc: DomainError) -> web.Response:
    status = next((s for cls, s in STATUS_FOR.items() if isinstance(exc, cls)), 400)
    return json_error(status, exc.code, exc.message, exc.fields)


async def answer_page(request: web.Request) -> web.Response:
    """The LIFF endpoint: a page shell whose script fetches the alert with the ID token."""
    config = request.app[CONFIG]
    return aiohttp_jinja2.render_template(
        "liff/answer.html",
        request,
        {"liff_id": config.liff_id, "liff_sdk_url": config.liff_sdk_url},
    )


async def _employee(request: web.Request) -> Employee:
    """The linked employee behind the request's ID token."""
    config = request.app[CONFIG]
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.startswith("Bearer ") else ""
    try:
        verified = await verify_id_token(
            request.app[HTTP], config.line_api_base_url, config.line_login_channel_id, token
        )
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


class _AuthError(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


def _alert_id(request: web.Request) -> int:
    return int(request.match_info["alert_id"])


def _view_json(view: answers.AlertView) -> dict[str, Any]:
    alert, answer = view.alert, view.answer
    return {
        "alert": {
            "id": alert.id,
            "title": f"【訓練】{alert.title}" if alert.drill else alert.title,
            "drill": alert.drill,
            "started_at": jst(alert.started_at),
            "sender": f"【{alert.sender_name}】",
            "message": alert.message,
            "items": alert.items,
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
        return _domain_error(exc)
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
    alert_id = _alert_id(request)
    try:
        await answers.submit_answer(
            alert_id, employee, body.get("choices"), body.get("message"), AnswerChannel.LIFF
        )
        view = await answers.alert_for(alert_id, employee)
    except DomainError as exc:
        return _domain_error(exc)
    return web.json_response(_view_json(view))
