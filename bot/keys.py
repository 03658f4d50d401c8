"""Every application key, declared once with its exact type."""

import asyncio

import aiohttp
from aiohttp import web

from bot.config import Config
from bot.line_api import LineApi

CONFIG = web.AppKey("config", Config)
LINE = web.AppKey("line", LineApi)
HTTP = web.AppKey("http", aiohttp.ClientSession)
INBOX_WAKE = web.AppKey("inbox_wake", asyncio.Event)
DELIVERY_WAKE = web.AppKey("delivery_wake", asyncio.Event)
