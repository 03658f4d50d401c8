"""Sessions of the server-rendered faces (console, employee page): a fresh cookie at sign-in,
and a session left unused for IDLE_SECONDS ends at the next request."""

import time
from typing import Any

from aiohttp import web
from aiohttp_session import Session, get_session, new_session

IDLE_SECONDS = 30 * 60  # a session unused this long is signed out


async def start_session(request: web.Request, **values: Any) -> Session:
    """A fresh session holding `values` (a new cookie, so no fixation)."""
    session = await new_session(request)
    session.update(values)
    session["seen"] = int(time.time())
    return session


async def end_session(request: web.Request) -> None:
    """Sign out."""
    (await get_session(request)).invalidate()


async def live_session(request: web.Request) -> Session | None:
    """The request's session, marked as seen now; None (and the session ended) when it was
    idle too long, None when nobody signed in."""
    session = await get_session(request)
    seen = session.get("seen")
    if not isinstance(seen, int):
        return None
    now = int(time.time())
    if now - seen > IDLE_SECONDS:
        session.invalidate()
        return None
    session["seen"] = now
    return session
