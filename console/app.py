"""The console sub-application: templates, encrypted cookie sessions, routes."""

from aiohttp import web

from console import routes
from console.auth import language
from console.keys import SIGN_IN_ATTEMPTS
from console.render import error_page
from web.errors import error_pages
from web.pages import setup_page_app
from web.ratelimit import RateLimiter
from web.settings import WebSettings

COOKIE = "anpi_console"
# Sign-in attempts per client address, in this process: every attempt costs an Argon2 check,
# so one address must not keep the hashers busy (the per-login pause is in the domain).
ADDRESS_BURST = 30
ADDRESS_PER_SECOND = 0.5


def create_app(settings: WebSettings) -> web.Application:
    """The console, to be mounted with `add_subapp("/console", ...)`."""
    app = web.Application(middlewares=[language, error_pages(error_page)])
    setup_page_app(app, settings, package="console", cookie=COOKIE, path="/console")
    app[SIGN_IN_ATTEMPTS] = RateLimiter(ADDRESS_BURST, ADDRESS_PER_SECOND)
    routes.setup_routes(app)
    return app
