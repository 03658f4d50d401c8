"""SQLite shared by two processes (`serve` and a command beside it): a transaction that reads
and then writes does not fail with "database is locked" because the other process wrote in
between; it waits its turn (busy_timeout) like any other write."""

from __future__ import annotations

import sqlite3
import threading

from tortoise.transactions import in_transaction

from models import Department
from models.sql import sqlite_transaction


def _path(url: str) -> str:
    return url.removeprefix("sqlite://")


def _write_lock_held_elsewhere(path: str) -> bool:
    """Whether another connection holds the database's write lock (asked without waiting)."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return True
    else:
        other.execute("ROLLBACK")
        return False
    finally:
        other.close()


async def test_an_orm_transaction_holds_the_write_lock_from_its_start(sqlite_db):
    path = _path(sqlite_db)
    assert not _write_lock_held_elsewhere(path)
    async with in_transaction():
        await Department.exists()  # only a read so far
        assert _write_lock_held_elsewhere(path)
    assert not _write_lock_held_elsewhere(path)


async def test_work_in_the_connections_thread_holds_the_write_lock_from_its_start(sqlite_db):
    path = _path(sqlite_db)

    def work(db: sqlite3.Connection) -> bool:
        db.execute("SELECT count(*) FROM department").fetchall()
        return _write_lock_held_elsewhere(path)

    assert await sqlite_transaction(work)
    assert not _write_lock_held_elsewhere(path)


async def test_work_in_the_connections_thread_inside_an_orm_transaction_is_part_of_it(sqlite_db):
    def insert(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO department (name, created_at) VALUES ('営業部', '2026-01-01')")

    class Undo(Exception):
        pass

    try:
        async with in_transaction():
            await sqlite_transaction(insert)
            assert await Department.filter(name="営業部").exists()
            raise Undo
    except Undo:
        pass
    assert not await Department.exists()  # rolled back with the ORM's transaction
    await sqlite_transaction(insert)  # on its own: committed
    assert await Department.filter(name="営業部").exists()


async def test_a_transaction_that_read_before_another_process_wrote_still_writes(sqlite_db):
    """The other process's write waits for this transaction to end, then goes in too."""
    path = _path(sqlite_db)
    failures: list[BaseException] = []

    def other_process_writes() -> None:
        other = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            other.execute(
                "INSERT INTO department (name, created_at) VALUES ('総務部', '2026-01-01')"
            )
        except BaseException as exc:
            failures.append(exc)
        finally:
            other.close()

    writer = threading.Thread(target=other_process_writes)
    async with in_transaction():
        assert not await Department.exists()  # read: the snapshot this transaction sees
        writer.start()
        writer.join(0.5)  # give it the chance to write first (it waits for this transaction)
        await Department.create(name="人事部")
    writer.join(30)
    assert not writer.is_alive() and failures == []
    assert sorted(await Department.all().values_list("name", flat=True)) == ["人事部", "総務部"]
