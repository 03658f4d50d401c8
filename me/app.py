"""The employee page's sub-application: templates, its own encrypted cookie sessions, routes.
Settings and clients come from the app that mounts it (`request.config_dict`)."""

from aiohttp import web

from me import routes
from me.keys import LINE_EVENTS, LOGIN, SIGN_IN_ATTEMPTS, LineEvents, LoginSettings
from me.render import error_page
from web.errors import error_pages
from web.pages import setup_page_app
from web.ratelimit import RateLimiter
from web.settings import WebSettings

COOKIE = "anpi_me"
# Sign-in attempts per client address, in this process: each costs two Argon2 checks (the
# per-employee pause is in the domain).
ADDRESS_BURST = 30
ADDRESS_PER_SECOND = 0.5


def create_app(
    settings: WebSettings, login: LoginSettings, line_events: LineEvents
) -> web.Application:
    """The employee page, to be mounted with `add_subapp("/me", ...)`."""
    app = web.Application(middlewares=[error_pages(error_page)])
    setup_page_app(app, settings, package="me", cookie=COOKIE, path="/me")
    app[LOGIN] = login
    app[LINE_EVENTS] = line_events
    app[SIGN_IN_ATTEMPTS] = RateLimiter(ADDRESS_BURST, ADDRESS_PER_SECOND)
    routes.setup_routes(app)
    return app
