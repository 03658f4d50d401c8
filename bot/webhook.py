"""POST /callback: check the signature, store the events, answer 200, handle later."""

import json
import logging
from http import HTTPStatus

from aiohttp import web
from linebot.v3.webhook import SignatureValidator

from bot.keys import CONFIG, STOPPING
from domain.inbox import store_events
from web.csrf import exempt

log = logging.getLogger(__name__)


@exempt
async def callback(request: web.Request) -> web.Response:
    """LINE's webhook: a missing or wrong signature is a 400 and nothing is stored; while
    the process stops, 503 (LINE redelivers it, to a process that runs)."""
    if request.app[STOPPING].is_set():
        raise web.HTTPServiceUnavailable(text="stopping")
    signature = request.headers.get("X-Line-Signature", "")
    try:
        body = (await request.read()).decode("utf-8")
    except UnicodeDecodeError:
        body = None  # LINE always sends UTF-8 JSON: treat anything else as forged
    validator = SignatureValidator(request.app[CONFIG].line_channel_secret)
    if not signature or body is None or not validator.validate(body, signature):
        log.warning("webhook with a bad or missing signature refused")
        raise web.HTTPBadRequest(text="invalid signature")
    try:
        payload = json.loads(body)
        events = payload["events"]
        if not isinstance(events, list):
            raise TypeError
    # A signed body nested past Python's recursion limit is malformed, not a crash.
    except (ValueError, KeyError, TypeError, RecursionError):
        raise web.HTTPBadRequest(text="malformed body") from None
    await store_events([e for e in events if isinstance(e, dict)])
    return web.Response(status=HTTPStatus.OK, text="OK")
