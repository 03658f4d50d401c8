"""The LIFF sub-application: its templates and route table. Settings and clients come from
the app that mounts it (`request.config_dict`, keys in `web.keys`)."""

import aiohttp_jinja2
import jinja2
from aiohttp import web

from liff import routes
from web import i18n


def create_app() -> web.Application:
    """The answer app, to be mounted with `add_subapp("/liff", ...)`."""
    app = web.Application()
    i18n.install(
        aiohttp_jinja2.setup(
            app,
            loader=jinja2.PackageLoader("liff"),
            autoescape=jinja2.select_autoescape(default=True),
        )
    )
    routes.setup_routes(app)
    return app
