"""Every application key the faces share, declared once with its exact type. The composition
root (`bot.app`) sets them; a face reads them through `request.config_dict`."""

import aiohttp
from aiohttp import web

from domain.admin_groups import GroupLeaver
from domain.usage import QuotaReader
from web.line_login import IdTokenVerifier
from web.ratelimit import RateLimiter
from web.settings import LiffSettings, LinkSettings, WebSettings

WEB = web.AppKey("web_settings", WebSettings)
LIFF = web.AppKey("liff_settings", LiffSettings)
LINK = web.AppKey("link_settings", LinkSettings)
HTTP = web.AppKey("http", aiohttp.ClientSession)
ID_TOKENS = web.AppKey("id_tokens", IdTokenVerifier)
LINK_ATTEMPTS = web.AppKey("link_attempts", RateLimiter)  # sign-ins per client address
QUOTA = web.AppKey("line_quota", QuotaReader)  # LINE's quota figures for the usage page
GROUPS = web.AppKey("line_groups", GroupLeaver)  # the bot leaving an unbound admin group
