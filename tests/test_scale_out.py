"""`python -m bot worker` runs the background workers without the web face; on PostgreSQL a
`serve` and two workers share one alert's 30,000 recipients without overlap (SKIP LOCKED),
woken by LISTEN/NOTIFY from the process that started it, and LINE sees everyone once."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import Counter

import pytest
from aiohttp import web

from domain.actors import Actor
from domain.alerts import find_template, start_alert
from domain.notify import postgres_dsn
from models import Delivery, DeliveryStatus
from models.db import close_database, open_database
from tests.conftest import until
from tests.processes import (
    SERVE_READY,
    WORKER_READY,
    BotProcess,
    line_env,
    linked_staff,
    local_port,
    process_port,
    simulator_on_ports,
    spawn_bot,
)

MULTICAST = "/v2/bot/message/multicast"
# 60 multicasts of 500: more than one process can hold at once (EngineSettings.concurrency +
# claim_ahead = 40), so while the first to wake waits in the rendezvous, batches remain for the
# others however late a loaded machine wakes them.
STAFF = 30_000
LONG_POLL = "600"  # seconds: no process looks for work on its own while the test runs
PATIENCE = 12.0  # seconds a multicast is held waiting for the others (the bot's timeout: 15)


async def all_sent() -> bool:
    """Whether every delivery is marked sent."""
    return not await Delivery.exclude(status=DeliveryStatus.SENT).exists()


# `python -m bot worker`, on either database


@pytest.fixture
async def platform():
    async with simulator_on_ports(1) as (simulator, urls):
        yield simulator, urls[0]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_worker_process_delivers_an_alert_and_stops_cleanly(tmp_path, db, platform, sig):
    sim, sim_url = platform
    staff = await linked_staff(sim, 3)
    worker = await BotProcess.start(
        "worker", cwd=tmp_path, env=line_env(sim_url, db), ready=WORKER_READY
    )
    try:
        assert "workers running: inbox, delivery, housekeeping" in worker.output  # all
        await start_alert(Actor.cli(), await find_template("earthquake"), drill=True)
        await until(all_sent, within=60)
    finally:
        code = await worker.stop(sig)
    assert code == 0, worker.output[-3000:]
    assert [len(sim.messages_for(user_id)) for user_id in staff] == [1, 1, 1]


async def run_worker(tmp_path, env: dict[str, str]) -> tuple[int, str]:
    process = await spawn_bot("worker", cwd=tmp_path, env=env)
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"WORKERS": "none"}, "error: WORKERS is none: a worker process would have nothing to do"),
        ({"LIFF_ID": ""}, "error: LIFF_ID is not set: export it (see README, configuration)"),
        (
            {"LINE_API_BASE_URL": "http://line.example"},
            "error: LINE_API_BASE_URL must be an https:// URL (http only on a loopback host), "
            "not 'http://line.example'",
        ),
        (
            {"DELIVERY_STALE_SECONDS": "0"},
            "error: DELIVERY_STALE_SECONDS must be a number of seconds > 0, not '0'",
        ),
    ],
)
async def test_a_worker_refuses_a_bad_setting_in_one_line(tmp_path, settings, message):
    env = line_env("http://127.0.0.1:9", f"sqlite://{tmp_path}/anpi.sqlite3", **settings)
    code, out = await run_worker(tmp_path, env)
    assert code == 2 and out.strip().splitlines()[-1] == message


async def test_a_worker_refuses_an_unmigrated_database(tmp_path):
    env = line_env("http://127.0.0.1:9", f"sqlite://{tmp_path}/empty.sqlite3")
    code, out = await run_worker(tmp_path, env)
    assert code == 2 and "the database is not migrated" in out


# Scale-out on PostgreSQL


@pytest.fixture
async def postgres(database_url):
    """The PostgreSQL database, opened here too (SQLite serves one process: skipped)."""
    if postgres_dsn(database_url) is None:
        pytest.skip("SKIP LOCKED and LISTEN/NOTIFY are PostgreSQL's: SQLite serves one process")
    await open_database(database_url)
    yield database_url
    await close_database()


class Rendezvous:
    """Holds every multicast until one from each of `callers` (ports) is held at once, then
    lets everything through: proof that each of those processes was sending together."""

    def __init__(self) -> None:
        self.callers: set[int] = set()
        self.held: set[int] = set()
        self.met = False
        self.released = asyncio.Event()
        self.by_caller: Counter[int] = Counter()

    def middleware(self) -> object:
        @web.middleware
        async def rendezvous(request: web.Request, handler):  # type: ignore[no-untyped-def]
            if request.path != MULTICAST:
                return await handler(request)
            caller = local_port(request)
            self.by_caller[caller] += 1
            if not self.released.is_set():
                self.held.add(caller)
                self.met = self.callers <= self.held
                if not self.met:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(PATIENCE):
                            await self.released.wait()
                self.released.set()  # met, or waited long enough: hold nothing any more
            return await handler(request)

        return rendezvous


async def test_serve_and_two_workers_share_an_alert_and_line_sees_everyone_once(tmp_path, postgres):
    rendezvous = Rendezvous()
    async with simulator_on_ports(4, rendezvous.middleware()) as (sim, urls):
        serve_url, worker_urls, send_url = urls[0], urls[1:3], urls[3]
        rendezvous.callers = {int(url.rsplit(":", 1)[1]) for url in urls[:3]}
        staff = await linked_staff(sim, STAFF)
        slow = {"DELIVERY_POLL_SECONDS": LONG_POLL}
        processes: list[BotProcess] = []
        try:
            port = process_port()
            processes.append(
                await BotProcess.start(
                    "serve",
                    cwd=tmp_path,
                    env=line_env(serve_url, postgres, port, **slow),
                    ready=SERVE_READY,
                )
            )
            for url in worker_urls:
                processes.append(
                    await BotProcess.start(
                        "worker",
                        cwd=tmp_path,
                        env=line_env(url, postgres, **slow),
                        ready=WORKER_READY,
                    )
                )
            # A fourth process starts the alert (and helps send it). Everyone else has looked
            # for work at start-up and sleeps LONG_POLL seconds: only its NOTIFY wakes them.
            send = await BotProcess.start(
                "send",
                "--drill",
                cwd=tmp_path,
                env=line_env(send_url, postgres),
                ready="alert 1 started",
            )
            processes.append(send)
            assert await send.exited() == 0, send.output[-3000:]
            await until(all_sent, within=600)
        finally:
            codes = [await process.stop() for process in processes]
        output = "".join(p.output[-1500:] for p in processes)
        assert codes == [0, 0, 0, 0], output

        assert rendezvous.met, f"not all were sending at once: {rendezvous.by_caller}"
        assert all(rendezvous.by_caller[caller] for caller in rendezvous.callers)
        multicasts = [r for r in sim.sent if r.kind == "multicast"]
        assert Counter(r.status for r in multicasts) == {200: STAFF // 500}  # no 409, no 429
        assert len({r.retry_key for r in multicasts}) == len(multicasts)  # no batch sent twice
        assert sum(len(r.to) for r in multicasts) == STAFF
        assert Counter(len(sim.messages_for(user_id)) for user_id in staff) == {1: STAFF}
