"""POST /callback: check the signature, store the events, answer 200, handle later."""

import json
import logging
import re
from http import HTTPStatus

from aiohttp import web
from linebot.v3.webhook import SignatureValidator

from bot.keys import CONFIG, STOPPING
from domain.inbox import store_events
from web.csrf import exempt

log = logging.getLogger(__name__)

# LINE's webhook bodies nest a handful of levels. A signed body nested deeper is refused before
# json.loads, whose RecursionError on a very deep one can leave CPython 3.11's parser stack
# accounting broken for the rest of the process.
MAX_DEPTH = 64
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


def too_deep(body: str, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON text nests arrays and objects deeper than `limit` (strings skipped)."""
    depth = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub("", body)):
        depth += 1 if bracket in "[{" else -1
        if depth > limit:
            return True
    return False


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
        if too_deep(body):
            raise ValueError("nested too deep")
        payload = json.loads(body)
        events = payload["events"]
        if not isinstance(events, list):
            raise TypeError
    # A signed body nested past Python's recursion limit is malformed, not a crash.
    except (ValueError, KeyError, TypeError, RecursionError):
        raise web.HTTPBadRequest(text="malformed body") from None
    await store_events([e for e in events if isinstance(e, dict)])
    return web.Response(status=HTTPStatus.OK, text="OK")
