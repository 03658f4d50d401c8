"""The console sub-application: templates, encrypted cookie sessions, routes."""

import hashlib

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import setup as setup_sessions
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from console import routes
from console.keys import SIGN_IN_ATTEMPTS
from web.ratelimit import RateLimiter
from web.settings import WebSettings
from web.timefmt import jst

COOKIE = "anpi_console"
# Sign-in attempts per client address, in this process: every attempt costs an Argon2 check,
# so one address must not keep the hashers busy (the per-login pause is in the domain).
ADDRESS_BURST = 30
ADDRESS_PER_SECOND = 0.5


def session_key(secret_key: str) -> bytes:
    """The 32-byte key for session cookies, derived from SECRET_KEY (aiohttp-session makes
    the Fernet key of it)."""
    return hashlib.sha256(f"anpi-console-session:{secret_key}".encode()).digest()


def create_app(settings: WebSettings) -> web.Application:
    """The console, to be mounted with `add_subapp("/console", ...)`."""
    app = web.Application()
    setup_sessions(
        app,
        EncryptedCookieStorage(
            session_key(settings.secret_key),
            cookie_name=COOKIE,
            httponly=True,
            samesite="Lax",
            secure=settings.secure_cookies,
            path="/console",
        ),
    )
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("console"),
        autoescape=jinja2.select_autoescape(default=True),
    )
    env.filters["jst"] = jst
    app[SIGN_IN_ATTEMPTS] = RateLimiter(ADDRESS_BURST, ADDRESS_PER_SECOND)
    routes.setup_routes(app)
    return app
