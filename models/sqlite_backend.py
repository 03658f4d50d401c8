"""Tortoise's SQLite client, with transactions that take the write lock as they begin.

Tortoise begins a transaction with a plain `BEGIN`: SQLite takes the write lock only at the
transaction's first write. A transaction that reads first (start an alert: read the template
and the people, then write) and finds that another process wrote meanwhile (`serve`'s delivery
engine, beside a command) cannot upgrade its now stale snapshot: SQLite fails the write at once
with "database is locked", busy_timeout or not. `BEGIN IMMEDIATE` takes the lock at the start
instead, waiting for it up to busy_timeout like any other write.

Only one process writes at a time either way, and within a process every query already goes
through the one connection in turn, so nothing that worked before waits longer."""

import sqlite3

from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.exceptions import OperationalError, TransactionManagementError

BEGIN = "BEGIN IMMEDIATE"


class _ImmediateTransaction(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            await self._connection.commit()
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc
        try:
            await self._connection.execute(BEGIN)
        except sqlite3.OperationalError as exc:  # another process held the lock past busy_timeout
            raise OperationalError(exc) from exc


class AnpiSqliteClient(SqliteClient):
    def _in_transaction(self) -> SqliteTransactionContext:
        return SqliteTransactionContext(_ImmediateTransaction(self), self._lock)


client_class = AnpiSqliteClient
