"""The employee page's sub-application: templates, its own encrypted cookie sessions, routes.
Settings and clients come from the app that mounts it (`request.config_dict`)."""

import hashlib

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import setup as setup_sessions
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from me import routes
from me.keys import LINE_EVENTS, LOGIN, SIGN_IN_ATTEMPTS, LineEvents, LoginSettings
from web.ratelimit import RateLimiter
from web.settings import WebSettings
from web.timefmt import jst

COOKIE = "anpi_me"
# Sign-in attempts per client address, in this process: each costs two Argon2 checks (the
# per-employee pause is in the domain).
ADDRESS_BURST = 30
ADDRESS_PER_SECOND = 0.5


def session_key(secret_key: str) -> bytes:
    """The 32-byte key of the page's session cookies, derived from SECRET_KEY (not the
    console's: a cookie of one is never a session of the other)."""
    return hashlib.sha256(f"anpi-me-session:{secret_key}".encode()).digest()


def create_app(
    settings: WebSettings, login: LoginSettings, line_events: LineEvents
) -> web.Application:
    """The employee page, to be mounted with `add_subapp("/me", ...)`."""
    app = web.Application()
    setup_sessions(
        app,
        EncryptedCookieStorage(
            session_key(settings.secret_key),
            cookie_name=COOKIE,
            httponly=True,
            # Lax: the cookie comes back when LINE sends the browser to the callback.
            samesite="Lax",
            secure=settings.secure_cookies,
            path="/me",
        ),
    )
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("me"),
        autoescape=jinja2.select_autoescape(default=True),
    )
    env.filters["jst"] = jst
    app[LOGIN] = login
    app[LINE_EVENTS] = line_events
    app[SIGN_IN_ATTEMPTS] = RateLimiter(ADDRESS_BURST, ADDRESS_PER_SECOND)
    routes.setup_routes(app)
    return app
