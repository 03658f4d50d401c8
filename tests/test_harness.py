"""The test harness itself: a PostgreSQL database handed on from one test to the next holds
what a new copy of the run's template holds, whatever the test before left in it."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import asyncpg
import pytest

from domain.actors import Actor
from domain.alerts import start_alert
from domain.answers import submit_answer
from domain.check_items import parse_items
from models import AnswerChannel, Template
from models.db import close_database, open_database
from tests.conftest import _admin, _Recycler, _with_database, make_company, until


@pytest.fixture
def base() -> str:
    """The PostgreSQL server the suite runs on."""
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        pytest.skip("TEST_POSTGRES_URL is not set: the PostgreSQL half of the suite is skipped")
    return url


async def _contents(url: str) -> dict[str, Any]:
    """Every row of every table, in order, and where each sequence stands."""
    connection = await asyncpg.connect(url)
    try:
        tables = [
            r[0]
            for r in await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        contents: dict[str, Any] = {
            table: sorted(map(repr, await connection.fetch(f'SELECT * FROM "{table}"')))
            for table in tables
        }
        contents["sequences"] = sorted(
            map(tuple, await connection.fetch("SELECT sequencename, last_value FROM pg_sequences"))
        )
        return contents
    finally:
        await connection.close()


async def _databases(base: str) -> set[str]:
    connection = await asyncpg.connect(base)
    try:
        return {r[0] for r in await connection.fetch("SELECT datname FROM pg_database")}
    finally:
        await connection.close()


async def test_a_used_postgres_database_is_put_back_as_a_new_copy_and_dropped_at_the_end(base):
    recycler = _Recycler()
    name = await recycler.take(base)
    url = _with_database(base, name)
    new = await _contents(url)
    assert len(new["tortoise_migrations"]) > 1 and len(new["template"]) >= 1

    # A test's writes: a company, a sent alert, an answer, the audit rows, a used sequence.
    await open_database(url)
    try:
        company = await make_company({"総務部": [("E1", "山田太郎"), ("E2", "佐藤花子")]})
        started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
        items = parse_items(started.alert.items)
        choices = {item.label: item.choices[0] for item in items}
        await submit_answer(
            started.alert.id, company.employees["E1"], choices, "無事です", AnswerChannel.LIFF
        )
    finally:
        await close_database()
    used = await _contents(url)
    assert used != new and used["answer"] and used["alert_recipient"]
    # A process the test started and killed can leave a connection holding a lock.
    leftover = await asyncpg.connect(url)
    await leftover.execute("BEGIN; LOCK TABLE employee IN ACCESS EXCLUSIVE MODE")

    recycler.give_back(base, name)
    await until(lambda: not recycler._ready.empty())

    assert await recycler.take(base) == name
    assert await _contents(url) == new
    assert leftover.is_closed() or not await _still_open(leftover)
    leftover.terminate()  # its end, said here rather than when the process exits
    recycler.give_back(base, name)
    await asyncio.to_thread(recycler.finish)
    assert name not in await _databases(base)


async def test_a_postgres_database_whose_schema_a_test_changed_is_dropped_not_handed_on(base):
    recycler = _Recycler()
    name = await recycler.take(base)
    await _admin(
        _with_database(base, name),
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'refused'; END $$;"
        " CREATE TRIGGER refuse BEFORE INSERT ON audit_entry"
        " FOR EACH ROW EXECUTE FUNCTION refuse()",
    )

    recycler.give_back(base, name)
    await until(lambda: (base, name) not in recycler._made)

    assert recycler._ready.empty()
    assert name not in await _databases(base)
    other = await recycler.take(base)
    assert other != name
    recycler.give_back(base, other)
    await asyncio.to_thread(recycler.finish)
    assert other not in await _databases(base)


async def _still_open(connection: asyncpg.Connection) -> bool:
    try:
        await connection.fetchval("SELECT 1")
    except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
        return False
    return True
