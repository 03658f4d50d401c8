"""Tortoise configuration and migration helpers shared by the app, the CLI and the tests."""

from typing import Any

import asyncpg
from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.connection import get_connection
from tortoise.migrations.api import migrate as run_migrations
from tortoise.migrations.executor import MigrationExecutor

from models.alert_templates import ensure_default_template

MODEL_MODULES = [
    "models.organization",
    "models.line_accounts",
    "models.registration",
    "models.alert_templates",
    "models.alerts",
    "models.deliveries",
    "models.answers",
    "models.inbox",
    "models.throttle",
    "models.console",
    "models.audit",
    "models.usage",
    "models.rich_menus",
    "models.admin_groups",
    "models.rate_buckets",
    "models.channel_tokens",
    "models.jma",
    "models.family",
    "models.board",
]
APP_LABEL = "models"


# Tortoise opens SQLite in WAL mode (readers never wait for the writer). In WAL mode
# synchronous=NORMAL syncs at checkpoints instead of at every commit (a commit here costs 20 µs
# instead of 170 µs, and all queries share one connection): a crash of the process loses
# nothing, a power cut may lose the last commits but never corrupts the file. busy_timeout
# makes a write from another process (the CLI beside `serve`) wait its turn, not fail.
# A pragma given in the URL (`sqlite://anpi.sqlite3?synchronous=FULL`) wins.
SQLITE_PRAGMAS: dict[str, Any] = {
    "journal_mode": "WAL",
    "synchronous": "NORMAL",
    "busy_timeout": 5000,
}


# Tortoise's SQLite client whose transactions take the write lock as they begin.
SQLITE_ENGINE = "models.sqlite_backend"


async def keep_session(connection: asyncpg.Connection) -> None:
    """What the ORM's PostgreSQL pool does to a connection given back: nothing more than
    asyncpg always does (roll back an open transaction, drop its listeners).

    asyncpg's default also sends a reset query (advisory locks, cursors, LISTEN, settings):
    a round trip on every statement run outside a transaction, a third of an answer's
    trips. Nothing here leaves any of that on a pooled connection (LISTEN has a connection of
    its own, `domain.notify`; nothing sets a session setting or takes a session lock)."""


def _connection(database_url: str) -> dict[str, Any]:
    config = expand_db_url(database_url)
    if database_url.startswith("sqlite://"):
        config["engine"] = SQLITE_ENGINE
        for pragma, value in SQLITE_PRAGMAS.items():
            config["credentials"].setdefault(pragma, value)
    elif config["engine"] == "tortoise.backends.asyncpg":
        config["credentials"]["reset"] = keep_session  # asyncpg's create_pool(reset=...)
    return config


def tortoise_config(database_url: str) -> dict[str, Any]:
    """The Tortoise config for one database URL."""
    return {
        "connections": {"default": _connection(database_url)},
        "apps": {
            APP_LABEL: {
                "models": MODEL_MODULES,
                "migrations": "models.migrations",
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


async def open_database(database_url: str) -> None:
    """Initialise Tortoise for this process (queries from any task find it)."""
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)


async def close_database() -> None:
    """Close every connection Tortoise opened and forget the model bindings.

    Tortoise caches each table's insert SQL by connection name, not by backend: without the
    reset, a process that opens SQLite and then PostgreSQL (the test suite) would send SQLite
    SQL to PostgreSQL."""
    await Tortoise.close_connections()
    EXECUTOR_CACHE.clear()


async def pending_migrations(database_url: str) -> list[str]:
    """Names of the committed migrations not yet applied to the database."""
    config = tortoise_config(database_url)
    executor = MigrationExecutor(get_connection("default"), config["apps"])
    steps = await executor.plan(None)
    return [f"{step.migration.app_label}.{step.migration.name}" for step in steps]


def migration_config(database_url: str) -> dict[str, Any]:
    """The Tortoise config to apply migrations with (on SQLite: foreign keys off)."""
    config = tortoise_config(database_url)
    connection = config["connections"]["default"]
    if connection["engine"] == SQLITE_ENGINE:
        # SQLite alters a table by remaking it, and dropping the old table with foreign keys
        # on first deletes its rows, cascading into every table that references it (an
        # upgrade would empty them). SQLite's own procedure: keys off during the change,
        # checked after.
        connection["credentials"]["foreign_keys"] = "OFF"
    return config


async def migrate(database_url: str) -> None:
    """Apply the committed migrations, then make sure the default template exists."""
    try:
        await run_migrations(config=migration_config(database_url))
        if database_url.startswith("sqlite://"):
            _, broken = await get_connection("default").execute_query("PRAGMA foreign_key_check")
            if broken:
                raise RuntimeError(f"migrating left {len(broken)} rows with a broken reference")
    finally:
        await close_database()
    await open_database(database_url)
    try:
        await ensure_default_template()
    finally:
        await close_database()


# For Tortoise's own command (`tortoise -c models.db.TORTOISE_ORM makemigrations`): the
# autodetector compares the models with the committed migrations, not with a database.
TORTOISE_ORM = tortoise_config("sqlite://:memory:")
