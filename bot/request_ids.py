"""Request IDs: every web request gets one (the caller's well-formed `X-Request-ID`, else a
new one), stamped on every line it logs (`bot/logs.py`) and sent back as `X-Request-ID`."""

import itertools
import re
import secrets
from typing import Any

from aiohttp import web

from bot.logs import request_id

REQUEST_ID_HEADER = "X-Request-ID"
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")
# A new ID is this process's random prefix and a counter: unique across processes and
# restarts like a UUID4, at a fraction of its cost on every request (it is not a secret).
_PREFIX = secrets.token_hex(8)
_counter = itertools.count(1)


@web.middleware
async def request_ids(request: web.Request, handler: Any) -> web.StreamResponse:
    """Give the request an ID (the caller's, when well formed) for every line it logs, and
    send it back as `X-Request-ID`."""
    given = request.headers.get(REQUEST_ID_HEADER, "")
    current = given if SAFE_REQUEST_ID.fullmatch(given) else f"{_PREFIX}{next(_counter):016x}"
    # Not reset afterwards: the access log line is written after the handler, in this task.
    request_id.set(current)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers[REQUEST_ID_HEADER] = current
        raise
    response.headers[REQUEST_ID_HEADER] = current
    return response
