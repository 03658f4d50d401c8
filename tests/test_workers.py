"""Background workers wake when work appears (the notifier), not at their next poll; on
PostgreSQL the notification crosses processes through LISTEN/NOTIFY; WORKERS picks them."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from bot.app import create_app
from bot.config import WORKER_NAMES, Config, ConfigError, parse_workers
from bot.keys import WORKERS
from bot.workers import Worker
from domain.actors import Actor
from domain.alerts import find_template, start_alert
from domain.notify import Topic, notifier, postgres_dsn
from tests.conftest import (
    FAST_ENGINE,
    bot_config,
    free_port_socket,
    held_port_server,
    make_company,
    quick_link,
    start_bot,
    until,
)

LONG_POLL = 600.0  # far longer than any test waits: only a wake-up can deliver in time


def worker(server: TestServer, name: str) -> Worker:
    return next(w for w in server.app[WORKERS] if w.name == name)


def multicasts(sim) -> list:
    return [r for r in sim.sent if r.kind == "multicast"]


@pytest.fixture
async def sleepy_bot(sim, database_url, monkeypatch):
    """The real app whose workers poll only every LONG_POLL seconds."""
    monkeypatch.setattr("bot.app.INBOX_POLL", LONG_POLL)
    server = await start_bot(sim, database_url, replace(FAST_ENGINE, idle_poll=LONG_POLL))
    yield server
    await server.close()


async def test_an_alert_started_while_the_engine_sleeps_is_sent_at_once(sim, sleepy_bot):
    company = await make_company({"総務部": [("E1", "山田"), ("E2", "佐藤")]})
    await quick_link(sim, company.employees["E1"])
    await quick_link(sim, company.employees["E2"])
    template = await find_template("earthquake")
    await start_alert(Actor.cli(), template, drill=True)
    await until(lambda: len(multicasts(sim)) == 1)
    # The engine has sent everything and gone back to sleep for LONG_POLL seconds.
    await until(lambda: worker(sleepy_bot, "delivery").idle.is_set())
    second = await start_alert(Actor.cli(), template, drill=False)
    sent = await until(lambda: len(multicasts(sim)) == 2 and multicasts(sim)[1], within=15)
    assert f"alert={second.alert.id}" in json.dumps(sent.messages)


async def test_a_stored_webhook_event_wakes_the_inbox_worker(sim, sleepy_bot):
    user = sim.add_user("太郎")
    # The worker looked once at start-up and sleeps; only the notifier can make it look again.
    await until(lambda: worker(sleepy_bot, "inbox").idle.is_set())
    assert await sim.follow(user.user_id) == 200
    await until(lambda: sim.messages_for(user.user_id), within=15)


@pytest.fixture
def postgres_url(database_url):
    if postgres_dsn(database_url) is None:
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's: nothing crosses processes on SQLite")
    return database_url


async def test_on_postgres_another_process_notification_reaches_this_one(postgres_url, sleepy_bot):
    received: list[str] = []
    unsubscribe = notifier.subscribe(Topic.ANSWER, received.append)
    other = await asyncpg.connect(postgres_dsn(postgres_url))  # plays a second process
    try:
        await other.execute("SELECT pg_notify('anpi_answer', '42')")
        await until(lambda: received == ["42"])
    finally:
        unsubscribe()
        await other.close()


async def test_on_postgres_an_alert_started_here_wakes_other_processes(
    sim, postgres_url, sleepy_bot
):
    company = await make_company({"総務部": [("E1", "山田")]})
    await quick_link(sim, company.employees["E1"])
    heard: list[str] = []
    other = await asyncpg.connect(postgres_dsn(postgres_url))  # plays a worker process
    try:
        await other.add_listener("anpi_delivery", lambda *args: heard.append(args[3]))
        started = await start_alert(Actor.cli(), await find_template("earthquake"), drill=True)
        await until(lambda: heard == [str(started.alert.id)])
    finally:
        await other.close()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("all", WORKER_NAMES),
        ("none", ()),
        ("inbox", ("inbox",)),
        (" delivery , inbox ", ("delivery", "inbox")),
    ],
)
def test_workers_setting_names_which_workers_run(raw, expected):
    assert parse_workers(raw) == expected
    assert Config.from_env({"WORKERS": raw}).workers == expected


@pytest.mark.parametrize("raw", ["mailer", "inbox,nope", ","])
def test_an_unknown_worker_name_is_a_configuration_error(raw):
    with pytest.raises(ConfigError, match=r"^WORKERS must name"):
        Config.from_env({"WORKERS": raw})


async def test_an_app_without_workers_leaves_events_in_the_inbox(sim, database_url):
    from models import InboxEvent, InboxStatus

    listening = free_port_socket()
    port = listening.getsockname()[1]
    config = replace(bot_config(sim, database_url, port), workers=())
    server = held_port_server(create_app(config), listening)
    await server.start_server()
    sim.config.webhook_url = f"{config.public_base_url}/callback"
    try:
        user = sim.add_user("花子")
        assert await sim.follow(user.user_id) == 200
        assert await InboxEvent.filter(status=InboxStatus.PENDING).count() == 1
        assert sim.messages_for(user.user_id) == []
    finally:
        await server.close()


def test_postgres_dsn_is_only_for_postgres():
    assert postgres_dsn("postgres://u@h:5432/db") == "postgresql://u@h:5432/db"
    assert postgres_dsn("sqlite://anpi.sqlite3") is None


async def test_stopping_the_app_right_after_an_alert_cancels_every_worker(sim, database_url):
    server = await start_bot(sim, database_url, FAST_ENGINE)
    company = await make_company({"総務部": [(f"E{i}", f"社員{i}") for i in range(20)]})
    for employee in company.employees.values():
        await quick_link(sim, employee)
    workers = list(server.app[WORKERS])
    await start_alert(Actor.cli(), await find_template("earthquake"), drill=True)
    # A guard against a hang, not a speed test: the old loop never stopped at all.
    async with asyncio.timeout(30):
        await server.close()
    assert workers and all(not w.idle.is_set() for w in workers)
