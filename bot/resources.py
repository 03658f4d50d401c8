"""The resources every process opens, built one way for the server (`bot/app.py` wraps each in a
cleanup context) and the CLI (`bot/cli.py` opens the ones a command needs): the database, the
notifier's PostgreSQL bridge, the LINE client under the shared rate limits, the delivery engine.

Imports neither the LINE SDK nor the web server at module level, so a CLI command that needs
neither (`tally`, `migrate`) starts fast."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from bot.config import Config
from domain.notify import PostgresBridge, notifier, postgres_dsn
from models.db import close_database, open_database

if TYPE_CHECKING:
    from bot.line_api import LineApi
    from domain.delivery import DeliveryEngine, EngineSettings


@contextlib.asynccontextmanager
async def database(config: Config) -> AsyncIterator[None]:
    """The ORM's connection to `DATABASE_URL`, closed on exit."""
    await open_database(config.database_url)
    try:
        yield
    finally:
        await close_database()


@contextlib.asynccontextmanager
async def notifier_bridge(config: Config) -> AsyncIterator[None]:
    """On PostgreSQL, what this process publishes (an alert started) wakes the workers of every
    other process through LISTEN/NOTIFY, and theirs wake ours; elsewhere nothing to open."""
    dsn = postgres_dsn(config.database_url)
    if dsn is None:
        yield
        return
    bridge = PostgresBridge(notifier, dsn)
    await bridge.start()
    notifier.attach(bridge)
    try:
        yield
    finally:
        notifier.attach(None)
        await bridge.stop()


@contextlib.asynccontextmanager
async def line_api(config: Config) -> AsyncIterator["LineApi"]:
    """The LINE client, under the rate limits every process on this database shares
    (domain/line_rate.py), with short-lived channel access tokens where LINE_CHANNEL_ID is set."""
    from bot.channel_token import StatelessTokens
    from bot.line_api import LineApi
    from domain.line_rate import open_rate_limiter

    async with open_rate_limiter(config.database_url) as limiter:
        line = LineApi(
            config.line_api_base_url,
            config.line_channel_access_token,
            config.line_data_api_base_url,
            limiter=limiter,
            token=StatelessTokens(
                config.line_api_base_url, config.line_channel_id, config.line_channel_secret
            )
            if config.issues_channel_tokens
            else None,
        )
        try:
            yield line
        finally:
            await line.close()


def delivery_engine(
    config: Config, line: "LineApi", settings: "EngineSettings | None" = None
) -> "DeliveryEngine":
    """The delivery engine of this deployment: LINE messages rendered with its LIFF URL, stale
    claims and idle polls as the config says (or `settings`, for tests)."""
    from bot import messages
    from domain.delivery import DeliveryEngine, EngineSettings

    if settings is None:
        settings = replace(
            EngineSettings(),
            stale_after=timedelta(seconds=config.delivery_stale_seconds),
            idle_poll=config.delivery_poll_seconds,
        )
    render = partial(messages.delivery_message, liff_url=config.liff_url)
    return DeliveryEngine(line, render, settings)
