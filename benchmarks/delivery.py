"""How fast an alert reaches everyone, exactly once even under LINE's faults, and how fast the
webhook takes events in.

The real `start_alert`, delivery engine and LINE client (with the deployment's rate limiter)
against the local LINE platform with LINE's rate limits on. The platform runs in a process of
its own, so this process's memory and CPU are the bot's; the platform counts what each user
received (lost and duplicated copies) and reports its own cost. A lean baseline in a third
process does the least the same work needs (one INSERT … SELECT of the outbox, then 500
recipients per multicast posted with plain aiohttp, paced to the same limit) against the same
platform. A fresh SQLite database, or a fresh PostgreSQL database created next to
--database-url (and dropped after). Prints its figures; nothing here is asserted.

Usage: python -m benchmarks.delivery [--employees 100000] [--faults] [--events 2000]
       [--database-url postgres://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from aiohttp.test_utils import unused_port
from tortoise import connections

from benchmarks.databases import drop_postgres, fresh_postgres
from benchmarks.processes import process_cpu
from bot.app import create_app
from bot.config import Config
from bot.lifecycle import freeze_startup_heap
from bot.line_api import LineApi
from bot.messages import delivery_message
from domain.actors import Actor
from domain.alerts import start_alert
from domain.delivery import MULTICAST_LIMIT, DeliveryEngine, SendOutcome
from domain.line_rate import LIMITS, open_rate_limiter
from line_simulator import Simulator, SimulatorConfig
from models import (
    Alert,
    BatchStatus,
    Delivery,
    DeliveryBatch,
    DeliveryKind,
    DeliveryStatus,
    Department,
    InboxEvent,
    InboxStatus,
    Template,
)
from models.db import close_database, open_database

SECRET, TOKEN, LOGIN = "bench-secret", "bench-token", "1000000000"
FAULTS = {"rate_429": 0.3, "rate_5xx": 0.05, "drop_after_accept": 0.05}
LEAN_CONCURRENCY = 16
MODULE = (sys.executable, "-m", "benchmarks.delivery")
MIGRATE = "import asyncio, sys; from models.db import migrate; asyncio.run(migrate(sys.argv[1]))"


def user_id(n: int) -> str:
    """The LINE user ID of benchmark employee n (the platform and the seed agree on it)."""
    return f"U{n:032x}"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# The local LINE platform, in its own process


def serve_platform(port: int, employees: int) -> None:
    """The platform with `employees` befriended users and two benchmark-only routes: set
    fault rates, and report what users received and what the platform cost."""
    sim = Simulator(
        SimulatorConfig(
            channel_secret=SECRET,
            channel_access_token=TOKEN,
            login_channel_id=LOGIN,
            public_base_url=f"http://127.0.0.1:{port}",
        )
    )
    for n in range(1, employees + 1):
        sim.add_user("x", user_id(n)).friend = True
    # LINE's platform pauses for no garbage collector on our timeline. With its users in
    # view, a full collection here stopped the platform for 110-150 ms mid-delivery, and the
    # multicast waiting on it (once the 185th of 200) made the whole alert that much later.
    freeze_startup_heap()

    async def faults(request: web.Request) -> web.Response:
        sim.set_fault_rates("multicast", **(await request.json()))
        return web.json_response({})

    async def report(request: web.Request) -> web.Response:
        counts = sim.delivery_counts(request.query["marker"]) if "marker" in request.query else {}
        sent = [s for s in sim.sent[int(request.query.get("since", 0)) :] if s.kind == "multicast"]
        return web.json_response(
            {
                "reached": len(counts),
                "duplicated": sum(1 for c in counts.values() if c > 1),
                "statuses": Counter(str(s.status) for s in sent),
                "dropped": sum(s.dropped for s in sent),
                "sent": len(sim.sent),
                "cpu": cpu_seconds(),
                "rss_mib": peak_rss_mib(),
            }
        )

    sim.app.router.add_post("/_bench/faults", faults)
    sim.app.router.add_get("/_bench/report", report)

    async def run() -> None:
        runner = web.AppRunner(sim.app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


class Platform:
    """The platform's process, driven over HTTP."""

    def __init__(self, employees: int) -> None:
        self.port = unused_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [*MODULE, "--serve-platform", str(self.port), "--employees", str(employees)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the LINE platform did not start")

    async def report(self, **query: Any) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.url}/_bench/report", params=query) as response,
        ):
            return await response.json()

    async def set_faults(self, rates: dict[str, float], seed: int = 1) -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{self.url}/_bench/faults", json={**rates, "seed": seed}) as response,
        ):
            response.raise_for_status()

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


# The lean baseline, in its own process


async def lean_baseline(database_url: str, platform_url: str, message: dict[str, Any]) -> None:
    """The least the work needs: the outbox in one INSERT … SELECT, read back 500 at a time,
    posted as multicasts under retry keys, paced to the product's limit and retried on 429,
    5xx and dropped connections. Prints its timings as JSON."""
    limit = LIMITS["multicast"]
    t0 = time.perf_counter()
    if database_url.startswith("sqlite"):
        import sqlite3

        db = sqlite3.connect(database_url.removeprefix("sqlite://"))
        db.execute("CREATE TABLE lean_outbox (id INTEGER PRIMARY KEY, address TEXT NOT NULL)")
        db.execute("INSERT INTO lean_outbox SELECT id, user_id FROM line_account")
        db.commit()
        written = time.perf_counter() - t0
        rows = db.execute("SELECT address FROM lean_outbox ORDER BY id")
        chunks = iter(lambda: [r[0] for r in rows.fetchmany(MULTICAST_LIMIT)], [])
    else:
        db = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
        await db.execute("CREATE TABLE lean_outbox (id INTEGER PRIMARY KEY, address TEXT)")
        await db.execute("INSERT INTO lean_outbox SELECT id, user_id FROM line_account")
        written = time.perf_counter() - t0
        addresses = [r[0] for r in await db.fetch("SELECT address FROM lean_outbox ORDER BY id")]
        chunks = iter(
            addresses[i : i + MULTICAST_LIMIT] for i in range(0, len(addresses), MULTICAST_LIMIT)
        )
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = f"{platform_url}/v2/bot/message/multicast"
    started = time.perf_counter()
    slots = asyncio.Semaphore(LEAN_CONCURRENCY)

    async def post(session: aiohttp.ClientSession, n: int, to: list[str]) -> None:
        key = str(uuid.uuid4())
        # Paced like the product: a burst, then `rate` a second.
        await asyncio.sleep(
            max(0.0, started + (n - limit.burst) / limit.rate - time.perf_counter())
        )
        async with slots:
            while True:
                try:
                    async with session.post(
                        url,
                        json={"to": to, "messages": [message]},
                        headers={**headers, "X-Line-Retry-Key": key},
                    ) as response:
                        if response.status in (200, 409):
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(post(session, n, to) for n, to in enumerate(chunks)))
    sent = time.perf_counter() - started
    print(json.dumps({"written": written, "sent": sent}))


def run_lean(database_url: str, platform_url: str, message: dict[str, Any]) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(message, file)
    try:
        out = subprocess.run(
            [
                *MODULE,
                *("--lean-baseline", file.name),
                *("--database-url", database_url),
                *("--platform-url", platform_url),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        Path(file.name).unlink()
    return json.loads(out.stdout.strip().splitlines()[-1])


# The bot's side


async def seed(employees: int) -> None:
    """Employees across ten departments, each linked to a befriended LINE user, set-based."""
    departments = [await Department.create(name=f"部署{n}") for n in range(10)]
    case = " ".join(f"WHEN {n} THEN {d.id}" for n, d in enumerate(departments))
    client = connections.get("default")
    if client.capabilities.dialect == "postgres":
        await client.execute_script(f"""
            INSERT INTO employee (code, name, department_id, role, active, email_enabled,
                                  language, phone, session_generation, created_at)
            SELECT 'B' || lpad(x::text, 7, '0'), '社員' || x, CASE x % 10 {case} END,
                   'member', TRUE, TRUE, 'ja', '', 0, now()
            FROM generate_series(1, {int(employees)}) AS x;
            INSERT INTO line_account (user_id, display_name, employee_id, followed, blocked,
                                      created_at, updated_at)
            SELECT 'U' || lpad(to_hex(substr(code, 2)::int), 32, '0'), '', id, TRUE, FALSE,
                   now(), now()
            FROM employee WHERE code LIKE 'B%';
            ANALYZE""")
        return
    now = datetime.now(UTC)
    await client.execute_query(
        f"""
        INSERT INTO employee (code, name, department_id, role, active, email_enabled, language,
                              phone, session_generation, created_at)
        WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?)
        SELECT printf('B%06d', x), '社員' || x, CASE x % 10 {case} END, 'member', 1, 1, 'ja',
               '', 0, ?
        FROM n""",
        [employees, now],
    )
    await client.execute_query(
        """
        INSERT INTO line_account (user_id, display_name, employee_id, followed, blocked,
                                  created_at, updated_at)
        SELECT printf('U%032x', CAST(substr(code, 2) AS INTEGER)), '', id, 1, 0, ?, ?
        FROM employee WHERE code LIKE 'B%'""",
        [now, now],
    )


@dataclass
class Run:
    """One alert sent to everyone."""

    started: float  # start_alert, seconds
    total: float  # alert start to the last multicast accepted
    recorded: float  # alert start to every row marked sent
    sent: int
    recipients: int
    report: dict[str, Any]
    cpu: float  # this process's CPU seconds over the run
    platform_cpu: float

    def describe(self, label: str) -> list[str]:
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.report["statuses"].items()))
        lost = self.recipients - self.report["reached"]
        return [
            f"{label}:",
            f"  start_alert ({self.recipients:,} recipients, roster + outbox in one "
            f"transaction): {self.started:.2f} s",
            f"  alert start to last multicast accepted: {self.total:.2f} s "
            f"= {self.recipients / self.total:,.0f} recipients/s; "
            f"every row marked sent: {self.recorded:.2f} s",
            f"  sent {self.sent:,}/{self.recipients:,}; counted by the platform: lost {lost}, "
            f"duplicated {self.report['duplicated']}",
            f"  multicasts answered {statuses}; dropped after accept: {self.report['dropped']}",
            f"  CPU: bot {self.cpu:.2f} s, platform {self.platform_cpu:.2f} s",
        ]


async def send_alert(platform: Platform, line: LineApi) -> Run:
    before = await platform.report()
    cpu = cpu_seconds()
    t0 = time.perf_counter()
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    written = time.perf_counter() - t0
    render = partial(delivery_message, liff_url=f"{platform.url}/liff/x")
    accepted = Accepted(line)
    await DeliveryEngine(accepted, render).run_until_idle(started.alert.id)
    recorded = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu
    report = await platform.report(marker=f'alert={started.alert.id}"', since=before["sent"])
    sent = await Delivery.filter(alert_id=started.alert.id, status=DeliveryStatus.SENT).count()
    return Run(
        written,
        accepted.last - t0,
        recorded,
        sent,
        started.line_deliveries,
        report,
        cpu,
        report["cpu"] - before["cpu"],
    )


class Accepted:
    """The LINE client, noting when LINE last accepted a multicast (a `perf_counter` time)."""

    def __init__(self, line: LineApi) -> None:
        self.line = line
        self.last = 0.0

    async def multicast(self, user_ids: list[str], messages: list[Any], retry_key: str) -> Any:
        result = await self.line.multicast(user_ids, messages, retry_key)
        if result.outcome in (SendOutcome.ACCEPTED, SendOutcome.ALREADY_ACCEPTED):
            self.last = time.perf_counter()
        return result


def process_memory_mib(pid: int) -> tuple[float, float]:
    """A process's resident memory now and at its peak (VmRSS, VmHWM), MiB."""
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return tuple(int(status[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


async def worker_run(platform: Platform, database_url: str) -> list[str]:
    """An alert started here and delivered by `python -m bot worker` (WORKERS=delivery), a
    process of its own started beforehand: its CPU and memory for the delivery."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINE_", "LIFF_"))}
    env.update(
        DATABASE_URL=database_url,
        LINE_CHANNEL_SECRET=SECRET,
        LINE_CHANNEL_ACCESS_TOKEN=TOKEN,
        LINE_LOGIN_CHANNEL_ID=LOGIN,
        LIFF_ID="x",
        LINE_API_BASE_URL=platform.url,
        LINE_DATA_API_BASE_URL=platform.url,
        LINE_ACCESS_BASE_URL=platform.url,
        LIFF_BASE_URL=f"{platform.url}/liff",
        WORKERS="delivery",
        DELIVERY_POLL_SECONDS="0.05",
    )
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "worker", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert worker.stdout is not None
    while b"workers running" not in (line := await worker.stdout.readline()):
        if not line:
            raise RuntimeError("the worker did not start")

    async def drain() -> None:  # its log, read so that the pipe never fills
        assert worker.stdout is not None
        while await worker.stdout.readline():
            pass

    draining = asyncio.create_task(drain())
    try:
        idle_rss, _ = process_memory_mib(worker.pid)
        before = await platform.report()
        cpu = process_cpu(worker.pid)
        t0 = time.perf_counter()
        started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
        written = time.perf_counter() - t0
        alert_id = started.alert.id
        unsent = DeliveryBatch.filter(alert_id=alert_id).exclude(status=BatchStatus.DONE)
        while await unsent.exists():  # noqa: ASYNC110 (another process does the work)
            await asyncio.sleep(0.05)
        total = time.perf_counter() - t0
        cpu = process_cpu(worker.pid) - cpu
        _, peak = process_memory_mib(worker.pid)
        report = await platform.report(marker=f'alert={alert_id}"', since=before["sent"])
    finally:
        worker.send_signal(signal.SIGTERM)
        await worker.wait()
        await draining
    per = 100_000 / max(1, started.line_deliveries)
    lost = started.line_deliveries - report["reached"]
    return [
        "delivered by `python -m bot worker` (WORKERS=delivery), started before the alert:",
        f"  start_alert here: {written:.2f} s; alert start to every row marked sent: "
        f"{total:.2f} s; lost {lost}, duplicated {report['duplicated']}",
        f"  worker CPU {cpu:.2f} s ({cpu * per:.2f} s per 100,000); worker resident memory "
        f"{idle_rss:.0f} MiB idle, peak {peak:.0f} MiB",
    ]


async def bench_delivery(args: argparse.Namespace, database_url: str) -> None:
    platform = Platform(args.employees)
    try:
        await open_database(database_url)
        t0 = time.perf_counter()
        await seed(args.employees)
        print(f"seeded {args.employees:,} linked employees in {time.perf_counter() - t0:.1f} s")
        freeze_startup_heap()  # as `python -m bot worker` does once started
        sample = Alert(id=0, title="【地震】安否確認", message="x", items=[], sender_name="x")
        sample.started_at = datetime.now(UTC)
        message = delivery_message(sample, DeliveryKind.ALERT, None, liff_url=f"{platform.url}/x")
        before = await platform.report()
        lean = await asyncio.to_thread(run_lean, database_url, platform.url, message)
        lean_cpu = (await platform.report())["cpu"] - before["cpu"]
        lean_total = lean["written"] + lean["sent"]
        print(
            f"lean baseline (INSERT … SELECT of the outbox, then raw multicasts paced to "
            f"{LIMITS['multicast'].rate:.0f}/s): {lean_total:.2f} s "
            f"(write {lean['written']:.2f} s, send {lean['sent']:.2f} s); "
            f"platform CPU {lean_cpu:.2f} s"
        )
        async with open_rate_limiter(database_url) as limiter:
            line = LineApi(platform.url, TOKEN, limiter=limiter)
            try:
                await asyncio.sleep(1.5)  # the platform's rate-limit bucket refills
                clean = await send_alert(platform, line)
                print("\n".join(clean.describe("clean")))
                print(f"  x{clean.total / lean_total:.2f} the lean baseline")
                print(
                    f"peak resident memory of the bot process: {peak_rss_mib():.0f} MiB "
                    f"(after imports, before any work: {args.imported_rss:.0f} MiB)"
                )
                if args.faults:
                    await platform.set_faults(FAULTS)
                    await asyncio.sleep(1.5)
                    faulty = await send_alert(platform, line)
                    await platform.set_faults({})
                    rates = ", ".join(f"{k} {v:.0%}" for k, v in FAULTS.items())
                    print("\n".join(faulty.describe(f"with faults ({rates})")))
                    print(f"  x{faulty.total / clean.total:.2f} the clean run")
                    print(f"peak resident memory of the bot process: {peak_rss_mib():.0f} MiB")
                if args.worker:
                    await asyncio.sleep(1.5)
                    print("\n".join(await worker_run(platform, database_url)))
            finally:
                await line.close()
        final = await platform.report()
        print(f"peak resident memory of the platform process: {final['rss_mib']:.0f} MiB")
    finally:
        await close_database()
        platform.close()


async def bench_webhook(events: int, config: Config) -> None:
    """Webhook intake against an in-process platform: stored and answered, then handled."""
    sim_port = unused_port()
    sim = Simulator(
        SimulatorConfig(
            channel_secret=SECRET,
            channel_access_token=TOKEN,
            login_channel_id=LOGIN,
            public_base_url=f"http://127.0.0.1:{sim_port}",
        )
    )
    sim_runner = web.AppRunner(sim.app, access_log=None)
    await sim_runner.setup()
    await web.TCPSite(sim_runner, "127.0.0.1", sim_port).start()
    config = replace(config, workers=("inbox",)).on_line_host(sim.config.public_base_url)
    app = create_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", config.port).start()
    sim.config.webhook_url = f"http://127.0.0.1:{config.port}/callback"
    user = sim.add_user("bench")
    user.friend = True
    payloads = [
        {
            "type": "message",
            "source": {"type": "user", "userId": user.user_id},
            "replyToken": sim.issue_reply_token(user.user_id),
            "message": {
                "id": str(n),
                "type": "text",
                "quoteToken": f"q{n}",
                "text": "こんにちは",
            },
        }
        for n in range(events)
    ]
    try:
        t0 = time.perf_counter()
        for start in range(0, events, 10):  # LINE batches a few events per request
            assert await sim.send_events(payloads[start : start + 10]) == 200
        accepted = time.perf_counter() - t0
        while await InboxEvent.filter(status=InboxStatus.PENDING).exists():  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # the inbox lives in the database: poll it
        handled = time.perf_counter() - t0
    finally:
        await runner.cleanup()
        await sim_runner.cleanup()
    print(
        f"webhook: {events} events stored and answered 200 in {accepted:.2f} s "
        f"= {events / accepted:,.0f} events/s; all handled (replies sent) after {handled:.2f} s"
    )


async def main(args: argparse.Namespace) -> None:
    created = None
    if args.database_url:
        database_url, created = await fresh_postgres(args.database_url)
    else:
        database_url = f"sqlite://{Path(tempfile.mkdtemp(prefix='anpi-bench-'))}/bench.sqlite3"
    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    print(
        f"database: {database_url.split(':')[0]}; {args.employees:,} employees; "
        f"{os.cpu_count()} cores, load average {load} at the start"
    )
    try:
        # As `python -m bot migrate` does, in a process of its own: migrating is not the
        # bot's work, and its memory would count against this process's.
        migrating = await asyncio.create_subprocess_exec(
            sys.executable, "-c", MIGRATE, database_url
        )
        if await migrating.wait():
            raise RuntimeError("migrating the benchmark's database failed")
        await bench_delivery(args, database_url)
        if args.events:
            config = Config(
                database_url=database_url,
                line_channel_secret=SECRET,
                line_channel_access_token=TOKEN,
                line_login_channel_id=LOGIN,
                liff_id="x",
                secret_key="k",
                port=unused_port(),
            )
            await bench_webhook(args.events, config)
    finally:
        if created:
            await drop_postgres(args.database_url, created)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--faults", action="store_true", help="a second alert under faults")
    parser.add_argument(
        "--worker", action="store_true", help="one more alert, delivered by `python -m bot worker`"
    )
    parser.add_argument("--events", type=int, default=2000, help="webhook events (0: none)")
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server to use")
    parser.add_argument("--serve-platform", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--lean-baseline", help=argparse.SUPPRESS)
    parser.add_argument("--platform-url", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve_platform:
        serve_platform(arguments.serve_platform, arguments.employees)
    elif arguments.lean_baseline:
        sample = json.loads(Path(arguments.lean_baseline).read_text())
        asyncio.run(lean_baseline(arguments.database_url, arguments.platform_url, sample))
    else:
        # The faults run makes the engine retry some 150 multicasts, each a warning on stderr;
        # the figures count them (the statuses LINE answered), so only errors are shown.
        logging.getLogger("domain.delivery").setLevel(logging.ERROR)
        arguments.imported_rss = peak_rss_mib()
        asyncio.run(main(arguments))
