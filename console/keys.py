"""The console's request keys, declared once with exact types."""

from aiohttp import web

from domain.console_users import Viewer
from web.ratelimit import RateLimiter

VIEWER = web.RequestKey("console_viewer", Viewer)
SIGN_IN_ATTEMPTS = web.AppKey("console_sign_in_attempts", RateLimiter)
