"""LINE ID連携 from the page: LINE Login (authorization code flow with PKCE, `state` and
`nonce` kept in the session, each used once), the callback that links the LINE user LINE
vouched for, the confirm step before replacing another LINE account, and 連携解除."""

import hmac
import logging
import time
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp_session import Session, get_session

from domain import employee_page, linking
from domain.actors import Actor
from domain.errors import Conflict, NotFound
from domain.i18n import gettext as _
from me.auth import signed_in
from me.keys import EMPLOYEE, LINE_EVENTS, LOGIN
from me.render import render, url
from web.keys import HTTP
from web.line_login import (
    InvalidIdToken,
    LineUnavailable,
    LoginClient,
    LoginRefused,
    LoginRequest,
    authorize_url,
    new_login_request,
)
from web.sessions import end_session

log = logging.getLogger(__name__)

PENDING_SECONDS = 10 * 60  # a sign-in with LINE, or a relink waiting for its confirmation
LOGIN_KEY = "line_login"
RELINK_KEY = "line_relink"


def state_refused() -> str:
    """The LINE Login round trip does not match one this browser started."""
    return _(
        "LINE連携の手続きを確認できませんでした(有効期限切れか、すでに使われた手続きです)。"
        "もう一度「LINE ID連携」からやり直してください。"
    )


def code_refused() -> str:
    """LINE did not confirm who signed in."""
    return _("LINEでの本人確認ができませんでした。もう一度「LINE ID連携」からやり直してください。")


def line_down() -> str:
    """LINE could not be reached."""
    return _("LINEとの通信ができないため、連携できませんでした。時間をおいて再度お試しください。")


def login_off() -> str:
    """No LINE Login channel secret: link in chat."""
    return _("LINE ID連携は現在ご利用いただけません。LINEのトークで「連携」と送信してください。")


def notices() -> dict[str, str]:
    """What the LINE page says after a change (`?done=`), in the current language."""
    return {
        "linked": _("LINE連携が完了しました。LINEに完了のメッセージが届きます。"),
        "unlinked": _("LINE連携を解除しました。安否確認はLINEに届かなくなります。"),
        "cancelled": _("LINE連携を中止しました。"),
        "kept": _("LINE連携は変更していません。"),
    }


async def _line_page(request: web.Request, status: int = 200, **extra: Any) -> web.Response:
    view = await employee_page.my_page(request[EMPLOYEE].id)
    return render(
        request,
        "line.html",
        {
            "page": view,
            "login_enabled": request.config_dict[LOGIN].enabled,
            "notice": notices().get(request.query.get("done", "")),
            **extra,
        },
        status=status,
    )


@signed_in()
async def line_page(request: web.Request) -> web.Response:
    """The LINEアプリ medium: registered or not, LINE ID連携, 連携解除 (after a confirm)."""
    return await _line_page(request, confirm_unlink=request.query.get("unlink") == "confirm")


@signed_in()
async def start(request: web.Request) -> web.Response:
    """LINE ID連携: remember a fresh state, nonce and PKCE verifier; go to LINE's page."""
    login = request.config_dict[LOGIN]
    if not login.enabled:
        return await _line_page(request, HTTPStatus.NOT_FOUND, error=login_off())
    pending = new_login_request()
    linking.login_started(pending.state)
    session = await get_session(request)
    session[LOGIN_KEY] = {
        "state": pending.state,
        "nonce": pending.nonce,
        "verifier": pending.code_verifier,
        "at": int(time.time()),
    }
    raise web.HTTPSeeOther(
        authorize_url(login.access_base_url, login.channel_id, login.callback_url, pending)
    )


def _take(session: Session, key: str) -> dict[str, Any] | None:
    """Remove a pending value from the session (single use); None unless fresh."""
    value = session.pop(key, None)
    if not isinstance(value, dict) or not isinstance(value.get("at"), int):
        return None
    if time.time() - value["at"] > PENDING_SECONDS:
        return None
    return value


def _login_request(value: dict[str, Any] | None) -> LoginRequest | None:
    if value is None:
        return None
    parts = (value.get("state"), value.get("nonce"), value.get("verifier"))
    if not all(isinstance(p, str) and p for p in parts):
        return None
    return LoginRequest(*parts)  # type: ignore[arg-type]


@signed_in()
async def callback(request: web.Request) -> web.StreamResponse:
    """LINE sends the browser back: check `state`, exchange the code, have LINE verify the ID
    token with our nonce, and link the LINE user it names."""
    employee = request[EMPLOYEE]
    session = await get_session(request)
    pending = _login_request(_take(session, LOGIN_KEY))  # spent whatever happens next
    state = request.query.get("state", "")
    if (
        pending is None
        or not state
        or not hmac.compare_digest(state.encode(), pending.state.encode())
    ):
        await linking.login_link_refused(Actor.me(employee.code), "state")
        return await _line_page(request, HTTPStatus.BAD_REQUEST, error=state_refused())
    if request.query.get("error"):  # the employee cancelled on LINE's page
        raise web.HTTPSeeOther(url(request, "line", done="cancelled"))
    code = request.query.get("code", "")
    if not code or len(code) > 512:
        return await _line_page(request, HTTPStatus.BAD_REQUEST, error=code_refused())
    login = request.config_dict[LOGIN]
    client = LoginClient(
        request.config_dict[HTTP], login.api_base_url, login.channel_id, login.channel_secret
    )
    try:
        identity = await client.identify(code, login.callback_url, pending)
    except LineUnavailable as exc:
        log.warning("LINE Login unavailable: %s", exc)
        response = await _line_page(request, HTTPStatus.SERVICE_UNAVAILABLE, error=line_down())
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except (LoginRefused, InvalidIdToken) as exc:
        log.info("LINE Login refused: %s", exc)
        await linking.login_link_refused(Actor.me(employee.code), "token")
        return await _line_page(request, HTTPStatus.BAD_REQUEST, error=code_refused())
    # LINE adds this when bot_prompt was sent: the user has just added (or unblocked) the
    # official account on LINE's page, so its follow event is on its way.
    just_followed = request.query.get("friendship_status_changed") == "true"
    try:
        return await _link(request, identity.user_id, identity.display_name, just_followed)
    finally:
        linking.login_returned(pending.state)


async def _link(
    request: web.Request,
    user_id: str,
    display_name: str,
    just_followed: bool,
    *,
    replace: bool = False,
) -> web.StreamResponse:
    employee = request[EMPLOYEE]
    try:
        done = await linking.link_by_login(
            employee.id,
            user_id,
            display_name,
            Actor.me(employee.code),
            replace=replace,
            just_followed=just_followed,
            profile=request.config_dict[LINE_EVENTS].profile,
        )
    except Conflict as exc:
        if exc.code == "confirm_replace":
            session = await get_session(request)
            session[RELINK_KEY] = {
                "user_id": user_id,
                "name": display_name,
                "followed": just_followed,
                "at": int(time.time()),
            }
            view = await employee_page.my_page(employee.id)
            return render(request, "line_confirm.html", {"page": view, "new_name": display_name})
        return await _line_page(request, HTTPStatus.CONFLICT, error=exc.message)
    except NotFound:
        await end_session(request)
        raise web.HTTPSeeOther(url(request, "login")) from None
    await request.config_dict[LINE_EVENTS].linked(
        user_id, employee.name, follow_pending=done.follow_pending, language=done.employee.language
    )
    raise web.HTTPSeeOther(url(request, "line", done="linked"))


@signed_in()
async def replace(request: web.Request) -> web.StreamResponse:
    """The employee confirmed: the new LINE account replaces the one linked before."""
    pending = _take(await get_session(request), RELINK_KEY)
    if pending is None or not isinstance(pending.get("user_id"), str):
        return await _line_page(request, HTTPStatus.BAD_REQUEST, error=state_refused())
    return await _link(
        request,
        pending["user_id"],
        str(pending.get("name", "")),
        bool(pending.get("followed")),
        replace=True,
    )


@signed_in()
async def replace_cancel(request: web.Request) -> web.Response:
    """The employee kept the LINE account linked before."""
    (await get_session(request)).pop(RELINK_KEY, None)
    raise web.HTTPSeeOther(url(request, "line", done="kept"))


@signed_in()
async def unlink(request: web.Request) -> web.Response:
    """連携解除, as the chat's: LINE alerts stop; the unlinked menu shows again."""
    employee = request[EMPLOYEE]
    user_id = await employee_page.unlink_line(employee.id, Actor.me(employee.code))
    if user_id is not None:
        await request.config_dict[LINE_EVENTS].unlinked(user_id, employee.language)
    raise web.HTTPSeeOther(url(request, "line", done="unlinked"))
