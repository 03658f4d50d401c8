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
from domain.alerts import display_sender, shown_wording
from domain.errors import DomainError, Invalid
from domain.i18n import LANGUAGES, current_language, language_of, speaking
from domain.i18n import gettext as _
from models import AnswerChannel
from web.csrf import exempt
from web.errors import domain_error_response, json_error
from web.keys import ID_TOKENS, LIFF
from web.line_login import InvalidIdToken, LineUnavailable
from web.timefmt import jst

log = logging.getLogger(__name__)

# An answer is a few short choices and a message of at most 1,000 characters; a body far
# larger than that is not an answer.
MAX_BODY = 64 * 1024
# The language LIFF reports (`liff.getLanguage()`): the page's language until the employee's
# own is known, and theirs from then on if they have none.
LANGUAGE_HEADER = "X-Liff-Language"


def page_texts() -> dict[str, str]:
    """Every text the answer page's script shows, in the current language."""
    return {
        "page_title": _("安否確認 回答"),
        "heading": _("連絡確認"),
        "heading_sub": _("-安否-"),
        "loading": _("読み込み中…"),
        "started_at": _("■ 開始日時"),
        "title": _("■ タイトル"),
        "status": _("■ 確認状態"),
        "sender": _("■ 連絡者"),
        "message": _("■ 連絡メッセージ"),
        "closed": _("この安否確認は終了しています。回答の受付・変更はできません。"),
        "your_answer": _("■ あなたの回答"),
        "close": _("閉じる"),
        "edit": _("回答を修正する"),
        "form": _("・安否回答・"),
        "required_note": _("・必須入力"),
        "items": _("■ 確認項目"),
        "answer_message": _("■ 安否回答メッセージ"),
        "required": _("必須"),
        "choose": _("「%(label)s」を選択してください。", label="{label}"),
        "sent_confirm": _("確認を送信しました。"),
        "sent_answer": _(
            "回答を送信しました。内容を変更する場合は「回答を修正する」を押してください。"
        ),
        "no_alert": _(
            "安否確認が指定されていません。LINEのメッセージの「%(button)s」から開いてください。",
            button=_("回答"),
        ),
        "error": _("エラーが発生しました (%(status)s)", status="{status}"),
        "open_failed": _("回答画面を開けませんでした。"),
        "submit": _("回答"),
    }


def _reported(request: web.Request) -> str | None:
    """The language LIFF reported for the phone, if any (a short tag such as `en-US`)."""
    value = request.headers.get(LANGUAGE_HEADER, "").strip()
    return value[:16] or None


async def caller_language(request: web.Request, user_id: str) -> str:
    """The caller's language: their linked employee's own, else what LIFF reports."""
    employee = await linking.linked_employee(user_id)
    if employee is not None and employee.language:
        return employee.language
    return language_of(_reported(request))


class _Refused(Exception):
    """The request cannot go on; `response` says why."""

    def __init__(self, response: web.Response) -> None:
        self.response = response


async def answer_page(request: web.Request) -> web.Response:
    """The LIFF endpoint: a page shell whose script fetches the alert with the ID token."""
    settings = request.config_dict[LIFF]
    texts = {}
    for language in LANGUAGES:
        with speaking(language):
            texts[language] = page_texts()
    return aiohttp_jinja2.render_template(
        "answer.html",
        request,
        {
            "liff_id": settings.liff_id,
            "liff_sdk_url": settings.sdk_url,
            "texts": texts,
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
                _(
                    "LINEとの通信ができないため、本人確認ができませんでした。"
                    "時間をおいて再度お試しください。"
                ),
                headers={"Retry-After": str(exc.retry_after)},
            )
        ) from None
    except InvalidIdToken as exc:
        log.info("ID token refused: %s", exc)
        raise _Refused(
            json_error(
                HTTPStatus.UNAUTHORIZED,
                "invalid_id_token",
                _("LINEの認証に失敗しました。LINEのトークから回答画面を開き直してください。"),
            )
        ) from None
    return verified.user_id


def _too_large() -> _Refused:
    return _Refused(
        json_error(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body_too_large", _("送信内容が大きすぎます。")
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
        raise _Refused(_bad_json()) from None
    if not isinstance(body, dict):
        raise _Refused(_bad_json())
    return body


def _bad_json() -> web.Response:
    return json_error(HTTPStatus.BAD_REQUEST, "bad_json", _("送信内容を読み取れませんでした。"))


def _alert_id(request: web.Request) -> int:
    return int(request.match_info["alert_id"])  # the domain finds no alert past its range


def _view_json(view: answers.AlertView) -> dict[str, Any]:
    """The alert as its recipient reads it, in the current language. Items carry their
    stored (Japanese) labels and choice values, which answers send back, with the text
    shown; the answer's choices are the stored ones, `shown_choices` as the reader sees
    them."""
    alert = view.alert
    language = current_language()
    title, message = shown_wording(alert, language)
    return {
        **_answer_json(view),
        "alert": {
            "id": alert.id,
            "title": title,
            "drill": alert.drill,
            "started_at": jst(alert.started_at),
            "sender": display_sender(alert.sender_name),
            "message": message,
            "items": [item.shown(language) for item in view.items],
            "closed": alert.is_closed,
            "confirm_only": view.confirm_only,
            "submit_label": _("確認しました") if view.confirm_only else _("回答"),
        },
    }


def _answer_json(view: answers.AlertView) -> dict[str, Any]:
    """The recipient's answer status and current answer, in the current language."""
    answer, language = view.answer, current_language()
    if answer is None:
        return {"language": language, "status": _("未回答"), "answer": None}
    chosen = answer.choices or {}
    return {
        "language": language,
        "status": _("回答済"),
        "answer": {
            "choices": answer.choices,
            "shown_choices": {
                item.label: item.shown_choice(chosen[item.label], language)
                for item in view.items
                if item.label in chosen
            },
            "message": answer.message,
            "answered_at": jst(answer.answered_at),
            "revision": answer.revision,
        },
    }


def _reply(view: answers.AlertView) -> web.Response:
    """The view as JSON in the employee's language."""
    with speaking(view.language):
        return web.json_response(_view_json(view))


def _saved(view: answers.AlertView) -> web.Response:
    """A saved answer as JSON in the employee's language: the status and the answer only
    (the page already holds the alert it was answering, and redraws from it)."""
    with speaking(view.language):
        return web.json_response(_answer_json(view))


@exempt  # a JSON API authenticated by the ID token: no form, no CSRF cookie
async def api_alert(request: web.Request) -> web.Response:
    """The alert, the caller's answer status and current answer, in the employee's
    language (LIFF's reported language becomes theirs when they have none)."""
    reported = _reported(request)
    with speaking(language_of(reported)):
        try:
            user_id = await _line_user(request)
            view = await answers.alert_for_line_user(user_id, _alert_id(request), reported)
        except _Refused as exc:
            return exc.response
        except DomainError as exc:
            return domain_error_response(exc)
    return _reply(view)


@exempt  # authenticated by the ID token in the Authorization header, not by a cookie
async def api_answer(request: web.Request) -> web.Response:
    """Record the caller's answer (replacing an earlier one, which is kept as a revision)."""
    with speaking(language_of(_reported(request))):
        return await _answer(request)


async def _answer(request: web.Request) -> web.Response:
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
            return json_error(HTTPStatus.FORBIDDEN, "not_linked", answers.not_linked_message())
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
    return _saved(view)


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
    """The caller's family and their answers to the alert (empty without family), in the
    employee's language."""
    try:
        user_id = await _line_user(request)
    except _Refused as exc:
        return exc.response
    with speaking(await caller_language(request, user_id)):
        try:
            statuses = await family.family_for_line_user(user_id, _alert_id(request))
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
    with speaking(await caller_language(request, user_id)):
        return await _family_answer(request, user_id, body)


async def _family_answer(request: web.Request, user_id: str, body: dict[str, Any]) -> web.Response:
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
