"""LIFF views of an alert's board (掲示板): the posts reaching the caller with their own
replies, and a reply. The caller is the LINE user LINE verified the ID token for."""

from typing import Any

from aiohttp import web

from domain import board
from domain.errors import DomainError
from domain.i18n import speaking
from liff.views import _check_declared_size, _json_object, _line_user, _Refused, caller_language
from web.csrf import exempt
from web.errors import domain_error_response
from web.timefmt import jst


def _board_json(view: board.ReaderBoard) -> dict[str, Any]:
    return {
        "alert": {"id": view.alert.id, "title": view.title},
        "posts": [
            {
                "id": post.id,
                "author": f"【{post.author}】",
                "at": jst(post.created_at),
                "body": post.body,
                "replies_allowed": post.replies_allowed,
                "my_replies": [{"body": r.body, "at": jst(r.created_at)} for r in post.my_replies],
            }
            for post in view.posts
        ],
    }


async def api_board(request: web.Request) -> web.Response:
    """The alert's board as the caller sees it."""
    try:
        user_id = await _line_user(request)
    except _Refused as exc:
        return exc.response
    with speaking(await caller_language(request, user_id)):
        try:
            view = await board.board_for_line_user(user_id, int(request.match_info["alert_id"]))
        except DomainError as exc:
            return domain_error_response(exc)
        return web.json_response(_board_json(view))


@exempt  # authenticated by the ID token in the Authorization header, not by a cookie
async def api_reply(request: web.Request) -> web.Response:
    """The caller's reply to a post; answers with the board as they now see it."""
    try:
        _check_declared_size(request)
        user_id = await _line_user(request)
        payload = await _json_object(request)
    except _Refused as exc:
        return exc.response
    with speaking(await caller_language(request, user_id)):
        try:
            view = await board.reply_as_line_user(
                user_id, int(request.match_info["post_id"]), payload.get("body")
            )
        except DomainError as exc:
            return domain_error_response(exc)
        return web.json_response(_board_json(view))
