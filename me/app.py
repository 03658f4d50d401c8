"""The employee page's sub-application: templates, its own encrypted cookie sessions, routes.
Settings and clients come from the app that mounts it (`request.config_dict`)."""

from aiohttp import web

from domain.email_delivery import MailSender
from me import routes
from me.auth import language
from me.keys import LINE_EVENTS, LOGIN, OUTBOX, SIGN_IN_ATTEMPTS, LineEvents, LoginSettings, Outbox
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
    settings: WebSettings,
    login: LoginSettings,
    line_events: LineEvents,
    mail_sender: MailSender | None = None,
) -> web.Application:
    """The employee page, to be mounted with `add_subapp("/me", ...)`; `mail_sender` sends
    the confirmation links of added e-mail addresses (None: e-mail is off)."""
    app = web.Application(middlewares=[language, error_pages(error_page)])
    setup_page_app(app, settings, package="me", cookie=COOKIE, path="/me")
    app[LOGIN] = login
    app[LINE_EVENTS] = line_events
    app[OUTBOX] = Outbox(mail_sender)
    app[SIGN_IN_ATTEMPTS] = RateLimiter(ADDRESS_BURST, ADDRESS_PER_SECOND)
    routes.setup_routes(app)
    return app
