"""The LIFF sub-application: its templates and route table. Settings and clients come from
the app that mounts it (`request.config_dict`, keys in `web.keys`)."""

from aiohttp import web

from liff import routes
from web.pages import face_templates


def create_app() -> web.Application:
    """The answer app, to be mounted with `add_subapp("/liff", ...)`."""
    app = web.Application()
    face_templates(app, "liff")
    routes.setup_routes(app)
    return app
