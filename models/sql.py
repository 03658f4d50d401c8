"""Hand-written SQL for the hot paths (every LIFF request), on whichever database is configured.

Building a query through the ORM costs 0.2-0.5 ms of Python per query here, several times the
query itself; a handful of statements written out, with `?` placeholders (numbered `$n` for
PostgreSQL), keeps an answer's work to a fraction of a millisecond. Rows come back as dicts, or
as model instances built the way the ORM builds them from a row.

On SQLite every statement is a hop to the connection's thread and back, holding the ORM's lock
on the one connection until this event loop gets round to the result: a transaction of several
statements holds the database for several turns of a busy loop. `sqlite_transaction` runs a
whole short transaction in that thread instead, in one hop."""

import contextlib
import contextvars
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.fields import DatetimeField
from tortoise.models import Model

M = TypeVar("M", bound=Model)
T = TypeVar("T")


def is_postgres(connection: BaseDBAsyncClient | None = None) -> bool:
    """Whether the (default) connection is PostgreSQL."""
    return (connection or connections.get("default")).capabilities.dialect == "postgres"


def _numbered(sql: str) -> str:
    parts = sql.split("?")
    return parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))


def positional(connection: BaseDBAsyncClient, sql: str) -> str:
    """`sql` written with `?` placeholders as this connection takes it (`$1, $2 …` for
    PostgreSQL)."""
    return _numbered(sql) if is_postgres(connection) else sql


async def fetch(
    sql: str, params: Sequence[Any], connection: BaseDBAsyncClient | None = None
) -> list[dict[str, Any]]:
    """Run one statement written with `?` placeholders; return its rows."""
    connection = connection or connections.get("default")
    return await connection.execute_query_dict(positional(connection, sql), list(params))


Run = Callable[[str, Sequence[Any]], Awaitable[list[dict[str, Any]]]]


@contextlib.asynccontextmanager
async def postgres_statements() -> AsyncIterator[Run]:
    """On PostgreSQL, a `fetch` for several statements on one pool connection.

    Each query of the ORM takes a connection from the pool and gives it back, and asyncpg
    resets a connection as it comes back: a second round trip per query. Statements run
    through this share one connection (and one reset)."""
    async with connections.get("default").acquire_connection() as connection:

        async def run(sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
            try:
                return [dict(row) for row in await connection.fetch(_numbered(sql), *params)]
            except asyncpg.IntegrityConstraintViolationError as exc:  # as the ORM reports them
                raise IntegrityError(exc) from exc

        yield run


def _datetime_columns(model: type[Model]) -> tuple[str, ...]:
    columns = _DATETIME_COLUMNS.get(model)
    if columns is None:
        columns = _DATETIME_COLUMNS[model] = tuple(
            field.source_field or name
            for name, field in model._meta.fields_map.items()
            if isinstance(field, DatetimeField)
        )
    return columns


_DATETIME_COLUMNS: dict[type[Model], tuple[str, ...]] = {}


def as_model(model: type[M], row: Mapping[str, Any]) -> M:
    """A model instance from a row of all its columns, as the ORM builds one."""
    row = dict(row)
    for column in _datetime_columns(model):
        value = row.get(column)
        if isinstance(value, str):  # SQLite's text: the C parser is 20 times the ORM's
            with contextlib.suppress(ValueError):
                row[column] = datetime.fromisoformat(value)
    return model._init_from_db(**row)


async def fetch_models(
    model: type[M],
    sql: str,
    params: Sequence[Any],
    connection: BaseDBAsyncClient | None = None,
) -> list[M]:
    """Run a SELECT of all of `model`'s columns; return the rows as instances."""
    return [as_model(model, row) for row in await fetch(sql, params, connection)]


async def sqlite_transaction(work: Callable[[sqlite3.Connection], T]) -> T:
    """Run `work(connection)` as one transaction in the SQLite connection's own thread.

    Keep `work` short, its statements and the checks that decide them: every query of this
    process waits for it. It runs inside a savepoint: committed when it returns, rolled back
    when it raises (the exception reaches the caller), nested in an open ORM transaction."""

    def transaction(db: sqlite3.Connection) -> T:
        db.execute("SAVEPOINT anpi_work")
        try:
            result = work(db)
        except BaseException:
            db.execute("ROLLBACK TO anpi_work")
            db.execute("RELEASE anpi_work")
            raise
        db.execute("RELEASE anpi_work")
        return result

    async with connections.get("default").acquire_connection() as connection:  # the ORM's lock
        try:
            # aiosqlite's way to run a function in its thread (the one its own methods use),
            # in a copy of this task's context: a refusal raised there speaks its language.
            context = contextvars.copy_context()
            return await connection._execute(context.run, transaction, connection._conn)
        except sqlite3.IntegrityError as exc:  # as the ORM reports them
            raise IntegrityError(exc) from exc
        except sqlite3.OperationalError as exc:
            raise OperationalError(exc) from exc
