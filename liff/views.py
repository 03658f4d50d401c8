"""LIFF views: the answer page and its JSON API. Each parses its input, calls one domain
function and renders the result."""

import json
import logging
from http import HTTPStatus
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from domain import answers, family, linking
from domain.actors import Actor
from domain.alerts import display_sender, display_title
from domain.check_items import items_to_json
from domain.errors import DomainError, Invalid
from domain.i18n import gettext as _
from models import AnswerChannel
from web.csrf import exempt
from web.errors import domain_error_response, json_error
from web.keys import ID_TOKENS, LIFF
from web.line_login import InvalidIdToken, LineUnavailable
from web.timefmt import jst

log = logging.getLogger(__name__)

UNANSWERED, ANSWERED = "未回答", "回答済"
# An answer is a few short choices and a message of at most 1,000 characters; a body far
# larger than that is not an answer.
MAX_BODY = 64 * 1024
BAD_JSON = "送信内容を読み取れませんでした。"


class _Refused(Exception):
    """The request cannot go on; `response` says why."""

    def __init__(self, response: web.Response) -> None:
        self.response = response


async def answer_page(request: web.Request) -> web.Response:
    """The LIFF endpoint: a page shell whose script fetches the alert with the ID token."""
    settings = request.config_dict[LIFF]
    return aiohttp_jinja2.render_template(
        "answer.html",
        request,
        {
            "liff_id": settings.liff_id,
            "liff_sdk_url": settings.sdk_url,
            "answer_button": answers.ANSWER_BUTTON,
        },
    )


async def _line_user(request: web.Request) -> str:
    """The LINE user ID LINE verified the request's ID token for."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.startswith("Bearer ") else ""
    try:
        verified = await request.config_dict[ID_TOKENS].verify(token)
    except LineUnavailable as exc:
        log.warning("LINE could not verify an ID token: %s", exc)
        raise _Refused(
            json_error(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "line_unavailable",
                "LINEとの通信ができないため、本人確認ができませんでした。"
                "時間をおいて再度お試しください。",
                headers={"Retry-After": str(exc.retry_after)},
            )
        ) from None
    except InvalidIdToken as exc:
        log.info("ID token refused: %s", exc)
        raise _Refused(
            json_error(
                HTTPStatus.UNAUTHORIZED,
                "invalid_id_token",
                "LINEの認証に失敗しました。LINEのトークから回答画面を開き直してください。",
            )
        ) from None
    return verified.user_id


def _too_large() -> _Refused:
    return _Refused(
        json_error(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body_too_large", "送信内容が大きすぎます。"
        )
    )


def _check_declared_size(request: web.Request) -> None:
    """Refuse a body announced as too large before doing any work for it."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise _too_large()


async def _json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, read no further than MAX_BODY."""
    raw = bytearray()
    async for chunk in request.content.iter_any():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise _too_large()
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise _Refused(json_error(HTTPStatus.BAD_REQUEST, "bad_json", BAD_JSON)) from None
    if not isinstance(body, dict):
        raise _Refused(json_error(HTTPStatus.BAD_REQUEST, "bad_json", BAD_JSON))
    return body


def _alert_id(request: web.Request) -> int:
    return int(request.match_info["alert_id"])  # the domain finds no alert past its range


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
            "confirm_only": view.confirm_only,
            "submit_label": view.submit_label,
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
        user_id = await _line_user(request)
        view = await answers.alert_for_line_user(user_id, _alert_id(request))
    except _Refused as exc:
        return exc.response
    except DomainError as exc:
        return domain_error_response(exc)
    return web.json_response(_view_json(view))


@exempt  # authenticated by the ID token in the Authorization header, not by a cookie
async def api_answer(request: web.Request) -> web.Response:
    """Record the caller's answer (replacing an earlier one, which is kept as a revision)."""
    try:
        _check_declared_size(request)
        user_id = await _line_user(request)
    except _Refused as exc:
        return exc.response
    try:
        body = await _json_object(request)
    except _Refused as exc:
        # Telling an unlinked user to link comes first, as for any other request.
        if await linking.linked_employee(user_id) is None:
            return json_error(HTTPStatus.FORBIDDEN, "not_linked", answers.NOT_LINKED)
        return exc.response
    try:
        view = await answers.answer_as_line_user(
            user_id,
            _alert_id(request),
            body.get("choices"),
            body.get("message"),
            AnswerChannel.LIFF,
        )
    except DomainError as exc:
        return domain_error_response(exc)
    return web.json_response(_view_json(view))


# The employee's family, after their own answer (alerts with family on): each member's answer,
# and the employee answering for one of them. Only their own family; the ID token says who.


def _family_json(statuses: tuple[family.MemberStatus, ...]) -> dict[str, Any]:
    return {
        "members": [
            {
                "id": m.member_id,
                "name": m.name,
                "relation": m.relation,
                "status": m.status.value if m.status else None,
                "status_label": m.status_name,
                "message": m.message,
                "answered_at": jst(m.answered_at) if m.answered_at else "",
                "by_employee": m.by_employee,
            }
            for m in statuses
        ],
        "statuses": [
            {"value": s.value, "label": family.status_label(s)} for s in family.STATUS_ORDER
        ],
    }


async def api_family(request: web.Request) -> web.Response:
    """The caller's family and their answers to the alert (empty without family)."""
    try:
        user_id = await _line_user(request)
        statuses = await family.family_for_line_user(user_id, _alert_id(request))
    except _Refused as exc:
        return exc.response
    except DomainError as exc:
        return domain_error_response(exc)
    return web.json_response(_family_json(statuses))


def _member_id(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 < raw < 2**31:
        raise Invalid(_("家族を指定してください。"))
    return raw


@exempt  # authenticated by the ID token in the Authorization header, not by a cookie
async def api_family_answer(request: web.Request) -> web.Response:
    """Record the caller's answer for one of their own family members."""
    try:
        _check_declared_size(request)
        user_id = await _line_user(request)
        body = await _json_object(request)
    except _Refused as exc:
        return exc.response
    message = body.get("message")
    try:
        statuses = await family.answer_for_family_as_line_user(
            user_id,
            _alert_id(request),
            _member_id(body.get("member_id")),
            family.parse_status(str(body.get("status") or "")),
            message[: family.MAX_MESSAGE] if isinstance(message, str) else "",
            Actor.line(user_id),
        )
    except DomainError as exc:
        return domain_error_response(exc)
    return web.json_response(_family_json(statuses))
