"""Account linking: link tokens, and the access.line.me dialog that sends `accountLink` events."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web

from line_simulator import ids
from line_simulator.config import LINK_TOKEN_TTL
from line_simulator.keys import SIMULATOR
from line_simulator.pages import notice
from line_simulator.state import LinkTokenRecord

if TYPE_CHECKING:
    from line_simulator.simulator import Simulator

log = logging.getLogger(__name__)


def issue_link_token(sim: Simulator, user_id: str) -> str:
    """Return a new single-use link token for the user, valid 10 minutes."""
    token = ids.opaque_token(32)
    sim.link_tokens[token] = LinkTokenRecord(user_id, sim.clock.now(), False)
    return token


def redeem_link_token(sim: Simulator, link_token: str) -> str | None:
    """Mark a fresh, unused token of a friend as used and return its user; else None."""
    record = sim.link_tokens.get(link_token)
    if record is None or record.used or sim.clock.now() - record.issued_at > LINK_TOKEN_TTL:
        return None
    user = sim.users.get(record.user_id)
    if user is None or not user.reachable:  # only friends can link
        return None
    sim.link_tokens[link_token] = record._replace(used=True)
    return record.user_id


def account_link_event(sim: Simulator, user_id: str | None, nonce: str) -> dict[str, Any]:
    """Return the `accountLink` event: `ok` with source and reply token, or `failed` without."""
    if user_id is None:
        return {"type": "accountLink", "link": {"result": "failed", "nonce": nonce}}
    return {
        "type": "accountLink",
        "source": {"type": "user", "userId": user_id},
        "replyToken": sim.issue_reply_token(user_id),
        "link": {"result": "ok", "nonce": nonce},
    }


async def complete_account_link(sim: Simulator, link_token: str, nonce: str) -> str | None:
    """Redeem the token, tell the bot the result and return the linked user (None if failed)."""
    user_id = redeem_link_token(sim, link_token)
    try:
        await sim.send_events([account_link_event(sim, user_id, nonce)])
    except (aiohttp.ClientError, TimeoutError, RuntimeError) as error:
        log.warning("accountLink event not delivered: %s", type(error).__name__)
    return user_id


async def account_link_dialog(request: web.Request) -> web.Response:
    """GET /dialog/bot/accountLink?linkToken=…&nonce=…, where the bot's page sends the user."""
    sim = request.app[SIMULATOR]
    link_token = request.query.get("linkToken", "")
    nonce = request.query.get("nonce", "")
    if not link_token or not nonce:
        return notice("エラー", "リンクが正しくありません。", status=400)
    user_id = await complete_account_link(sim, link_token, nonce)
    if user_id is None:
        return notice(
            "アカウント連携に失敗しました",
            "リンクの有効期限が切れたか、すでに使われています。LINEのトークからやり直してください。",
            status=400,
        )
    return notice(
        "アカウント連携",
        "アカウント連携が完了しました。LINEのトークに戻ってください。",
        link=f"/_sim/chat/{user_id}",
        link_text="トークに戻る",
    )
