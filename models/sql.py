"""Hand-written SQL for the hot paths (every LIFF request), on whichever database is configured.

Building a query through the ORM costs 0.2-0.5 ms of Python per query here, several times the
query itself; a handful of statements written out, with `?` placeholders (numbered `$n` for
PostgreSQL), keeps an answer's work to a fraction of a millisecond. Rows come back as dicts, or
as model instances built the way the ORM builds them from a row.

On SQLite every statement is a hop to the connection's thread and back, holding the ORM's lock
on the one connection until this event loop gets round to the result: a transaction of several
statements holds the database for several turns of a busy loop. `sqlite_transaction` runs a
whole short transaction in that thread instead, in one hop. On PostgreSQL `postgres_batch`
sends one statement for the callers that arrive together: one round trip and one commit."""

import asyncio
import contextlib
import contextvars
import functools
import json
import logging
import sqlite3
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.fields import DatetimeField
from tortoise.models import Model

from models.sqlite_backend import BEGIN

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Model)
T = TypeVar("T")


def is_postgres(connection: BaseDBAsyncClient | None = None) -> bool:
    """Whether the (default) connection is PostgreSQL."""
    return (connection or connections.get("default")).capabilities.dialect == "postgres"


def postgres_client() -> BaseDBAsyncClient | None:
    """The default connection if it is PostgreSQL, else None: one look-up where a hot path
    both asks which database it is and then uses it (`postgres_statements(client)`)."""
    client = connections.get("default")
    return client if client.capabilities.dialect == "postgres" else None


@functools.lru_cache(maxsize=512)
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
async def postgres_statements(client: BaseDBAsyncClient | None = None) -> AsyncIterator[Run]:
    """On PostgreSQL, a `fetch` for several statements on one pool connection (of `client`,
    else the default connection's pool).

    Each query of the ORM takes a connection from the pool and gives it back, and asyncpg
    resets a connection as it comes back: a second round trip per query. Statements run
    through this share one connection (and one reset)."""
    async with (client or connections.get("default")).acquire_connection() as connection:

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
    when it raises (the exception reaches the caller), nested in an open ORM transaction.

    Outside an ORM transaction, work arriving while earlier work is in the thread waits for
    it and then goes in one batch: one hop and one commit for all of it, each piece still in
    its own savepoint (a piece that raises is undone alone). A hop holds the ORM's lock on
    the one connection until this event loop gets round to the result; under a burst of
    answers the loop is slow to, and one hop per piece made the answers queue on that lock
    (half the answers a second of one hop per batch, measured in benchmarks/answers.py)."""
    client = connections.get("default")
    context = contextvars.copy_context()  # a refusal raised there speaks the caller's language
    if isinstance(client, TransactionalDBClient):  # in the ORM's transaction: part of it, now
        async with client.acquire_connection() as connection:
            outcome = await _in_sqlite_thread(connection, [(context, work)])
        return _result(outcome[0])
    return _result(await _batched(client, "", (context, work), _in_sqlite_thread))


async def postgres_batch(
    client: BaseDBAsyncClient, sql: str, piece: Sequence[Any]
) -> list[dict[str, Any]]:
    """Run the PostgreSQL statement `sql` for `piece` together with the pieces other callers
    hand it meanwhile; this piece's rows.

    `sql` takes every piece as one parameter, `$1`, a JSON array of the pieces (each a list of
    JSON values), read with `jsonb_array_elements($1::jsonb) WITH ORDINALITY AS p(d, n)`; each
    row it returns names its piece's ordinal (from 1) as `piece`.

    Pieces arriving while a statement of the same `sql` is on its way wait for it, then go
    together: one round trip and one commit for all of them. Under a burst of answers that is
    a fraction of PostgreSQL's CPU per answer (0.26 ms for one, 0.07 ms each for eight).
    One JSON parameter, not arrays: PostgreSQL estimates it at the same rows whatever its
    length, so it keeps one generic plan; with arrays (`unnest`) it planned the statement
    again for every call (0.86 ms of its CPU for one answer).

    A statement PostgreSQL refuses (a broken constraint, two pieces writing one row) is run
    again a piece at a time: a piece fails alone, as the ORM reports it. In an ORM
    transaction the piece runs at once, alone, as part of it."""
    if isinstance(client, TransactionalDBClient):
        async with client.acquire_connection() as connection:
            outcome = await _in_postgres(connection, [piece], sql)
        return _result(outcome[0])
    return _result(await _batched(client, sql, piece, functools.partial(_in_postgres, sql=sql)))


async def _in_postgres(
    connection: asyncpg.Connection, pieces: list[Sequence[Any]], sql: str
) -> list[tuple[bool, Any]]:
    """Each piece's rows from one statement of `sql`, or (refused) each piece's alone."""
    try:
        rows = await connection.fetch(sql, json.dumps(pieces, ensure_ascii=False))
    except asyncpg.PostgresError as exc:  # refused: nothing of it was written
        if len(pieces) == 1:
            return [(False, exc)]
        return [(await _in_postgres(connection, [piece], sql))[0] for piece in pieces]
    outcomes: list[tuple[bool, Any]] = [(True, []) for _ in pieces]
    for row in rows:
        found = dict(row)
        outcomes[found.pop("piece") - 1][1].append(found)
    return outcomes


async def _in_sqlite_thread(
    connection: Any, pieces: list[tuple[contextvars.Context, Callable[..., Any]]]
) -> list[tuple[bool, Any]]:
    # aiosqlite's way to run a function in its thread (the one its own methods use).
    return await connection._execute(_run_batch, connection._conn, pieces)


class _Queue:
    """Work waiting for one connection (SQLite's thread) or statement (PostgreSQL's), with
    the future of the caller of each, and the task taking it there."""

    def __init__(self) -> None:
        self.pending: list[tuple[Any, asyncio.Future[tuple[bool, Any]]]] = []
        self.drainer: asyncio.Task[None] | None = None


Batch = Callable[[Any, list[Any]], Awaitable[list[tuple[bool, Any]]]]
_QUEUES: weakref.WeakKeyDictionary[BaseDBAsyncClient, dict[str, _Queue]] = (
    weakref.WeakKeyDictionary()
)
# Pieces of work per batch at most: the ORM's own queries wait no longer than this many.
MAX_BATCH = 256


async def _batched(client: BaseDBAsyncClient, key: str, work: Any, run: Batch) -> tuple[bool, Any]:
    """Queue `work` for `run` (a batch of work on one connection of `client`, each piece's
    outcome in order) with the work of the same `key`; its outcome."""
    future: asyncio.Future[tuple[bool, Any]] = asyncio.get_running_loop().create_future()
    queues = _QUEUES.get(client)
    if queues is None:
        queues = _QUEUES[client] = {}
    queue = queues.get(key)
    if queue is None:
        queue = queues[key] = _Queue()
    queue.pending.append((work, future))
    if queue.drainer is None:
        queue.drainer = asyncio.create_task(_drain(client, queue, run))
    return await future


async def _drain(client: BaseDBAsyncClient, queue: _Queue, run: Batch) -> None:
    """Take the waiting work to a connection, a batch at a time, until none waits."""
    batch: list = []
    try:
        while queue.pending:
            async with client.acquire_connection() as connection:  # SQLite: the ORM's lock
                # Work whose caller gave up while waiting (cancelled) is not done.
                waiting = [piece for piece in queue.pending if not piece[1].done()]
                batch, queue.pending = waiting[:MAX_BATCH], waiting[MAX_BATCH:]
                if not batch:
                    break
                outcomes = await run(connection, [work for work, _ in batch])
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)
            batch = []
    except BaseException as exc:  # the batch itself failed (or this task was cancelled)
        for _, future in batch + queue.pending:
            if not future.done():
                future.set_result((False, exc))
        queue.pending = []
        if not isinstance(exc, Exception):
            raise
        log.exception("Work failed as a batch")
    finally:
        queue.drainer = None


def _run_batch(
    db: sqlite3.Connection, pieces: list[tuple[contextvars.Context, Callable[..., Any]]]
) -> list[tuple[bool, Any]]:
    """In the connection's thread: each piece in its own savepoint, all in one transaction;
    each piece's result or exception, in order."""
    outcomes: list[tuple[bool, Any]] = []
    own = not db.in_transaction  # else part of the ORM's transaction, which holds the lock
    if own:  # the write lock at once, as models.sqlite_backend takes it (and why)
        db.execute(BEGIN)
    try:
        db.execute("SAVEPOINT anpi_batch")
        for context, work in pieces:
            db.execute("SAVEPOINT anpi_work")
            try:
                outcomes.append((True, context.run(work, db)))
            except Exception as exc:
                db.execute("ROLLBACK TO anpi_work")
                outcomes.append((False, exc))
            db.execute("RELEASE anpi_work")
        db.execute("RELEASE anpi_batch")
        if own:
            db.execute("COMMIT")
    except BaseException:
        if own:
            if db.in_transaction:
                db.execute("ROLLBACK")
        elif db.in_transaction:
            db.execute("ROLLBACK TO anpi_batch")
            db.execute("RELEASE anpi_batch")
        raise
    return outcomes


def _result(outcome: tuple[bool, Any]) -> Any:
    """A piece's result, or its exception raised as the ORM reports it."""
    ok, value = outcome
    if ok:
        return value
    if isinstance(value, sqlite3.IntegrityError | asyncpg.IntegrityConstraintViolationError):
        raise IntegrityError(value) from value
    if isinstance(value, sqlite3.OperationalError):
        raise OperationalError(value) from value
    raise value
