"""The bot face's application keys, declared once with exact types (the keys every face
shares live in `web.keys`)."""

import asyncio

from aiohttp import web

from bot.config import Config
from bot.line_api import LineApi
from bot.workers import Worker

CONFIG = web.AppKey("config", Config)
LINE = web.AppKey("line", LineApi)
WORKERS = web.AppKey("workers", list[Worker])
WORKER_TASKS = web.AppKey("worker_tasks", dict[str, asyncio.Task[None]])  # by worker name
STOPPING = web.AppKey("stopping", asyncio.Event)  # set once a stop begins (bot/lifecycle.py)
