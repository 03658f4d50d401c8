"""The console's request keys, declared once with exact types."""

from aiohttp import web

from domain.console_users import Viewer

VIEWER = web.RequestKey("console_viewer", Viewer)
