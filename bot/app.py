"""The application factory: one aiohttp app with every face, resources in cleanup contexts."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot import routes
from bot.config import Config
from bot.csrf import csrf_middleware
from bot.delivery import DeliveryEngine, EngineSettings
from bot.handlers import EventHandlers
from bot.inbox import InboxWorker
from bot.keys import CONFIG, DELIVERY_WAKE, HTTP, INBOX_WAKE, LINE
from bot.line_api import LineApi
from liff import routes as liff_routes
from models.db import close_database, open_database

log = logging.getLogger(__name__)


def create_app(
    config: Config,
    *,
    background: bool = True,
    delivery_engine: bool = True,
    engine_settings: EngineSettings | None = None,
) -> web.Application:
    """Build the app; `background=False` leaves the inbox worker and delivery engine off,
    `delivery_engine=False` only the engine (for tests that drive deliveries themselves)."""
    app = web.Application(middlewares=[csrf_middleware])
    app[CONFIG] = config
    app[INBOX_WAKE] = asyncio.Event()
    app[DELIVERY_WAKE] = asyncio.Event()
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PrefixLoader(
            {"bot": jinja2.PackageLoader("bot"), "liff": jinja2.PackageLoader("liff")}
        ),
        autoescape=jinja2.select_autoescape(default=True),
    )
    env.globals["app_name"] = "安否確認"
    routes.setup_routes(app)
    liff_routes.setup_routes(app)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_clients)
    if background:
        app.cleanup_ctx.append(_background(delivery_engine, engine_settings))
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    await open_database(app[CONFIG].database_url)
    yield
    await close_database()


async def _clients(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    app[LINE] = LineApi(config.line_api_base_url, config.line_channel_access_token)
    app[HTTP] = aiohttp.ClientSession()
    yield
    await app[HTTP].close()
    await app[LINE].close()


def _background(delivery_engine: bool, engine_settings: EngineSettings | None):
    async def background(app: web.Application) -> AsyncIterator[None]:
        config = app[CONFIG]
        handlers = EventHandlers(app[LINE], config.public_base_url)
        tasks = [asyncio.create_task(InboxWorker(handlers.dispatch).run_forever(app[INBOX_WAKE]))]
        if delivery_engine:
            engine = DeliveryEngine(app[LINE], config.liff_url, engine_settings)
            tasks.append(asyncio.create_task(engine.run_forever(app[DELIVERY_WAKE])))
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return background
