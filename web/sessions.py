"""Sessions of the server-rendered faces (console, employee page): a fresh cookie at sign-in;
a session left unused for IDLE_SECONDS, or begun more than MAX_AGE_SECONDS ago however busy,
ends at the next request. (Each face also checks the user's session generation, which ends a
session on the server.)"""

import time
from typing import Any

from aiohttp import web
from aiohttp_session import Session, get_session, new_session

IDLE_SECONDS = 30 * 60  # a session unused this long is signed out
MAX_AGE_SECONDS = 12 * 60 * 60  # a session this old is signed out, used or not


async def start_session(request: web.Request, **values: Any) -> Session:
    """A fresh session holding `values` (a new cookie, so no fixation)."""
    session = await new_session(request)
    session.update(values)
    session["seen"] = session["started"] = int(time.time())
    return session


async def end_session(request: web.Request) -> None:
    """Sign out."""
    (await get_session(request)).invalidate()


async def live_session(request: web.Request) -> Session | None:
    """The request's session, marked as seen now; None (and the session ended) when it was
    idle too long or is older than MAX_AGE_SECONDS, None when nobody signed in."""
    session = await get_session(request)
    seen, started = session.get("seen"), session.get("started")
    if not isinstance(seen, int):
        return None
    now = int(time.time())
    if not isinstance(started, int) or now - started > MAX_AGE_SECONDS or now - seen > IDLE_SECONDS:
        session.invalidate()
        return None
    session["seen"] = now
    return session
