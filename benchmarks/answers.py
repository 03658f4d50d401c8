"""How many answers a second the LIFF API takes, against a lean handler doing the least work.

Three processes on loopback: the local LINE platform (its `/oauth2/v2.1/verify` checks every
ID token, as LINE does; in a process of its own because LINE is not on our CPU budget), the
server under test (this process), and a load generator (64 clients posting answers as fast as
the server answers, so the clients do not steal the server's event loop).

The server under test is, in turn:
- the lean baseline: a minimal aiohttp app whose handler calls the same verify endpoint, then
  writes one upsert and commits (aiosqlite, or asyncpg on PostgreSQL);
- Anpi: `bot.app.create_app` as `serve` builds it, with every worker (inbox, delivery,
  housekeeping) running, on a fresh migrated database holding an alert to --employees employees
  linked to LINE users of the simulator; the clients `POST /liff/api/alerts/{id}/answer` with
  `Authorization: Bearer <ID token>` and the JSON the LIFF page sends.
Anpi runs twice: every answer with an ID token the server has never seen (so LINE verifies each
one, as the lean handler does); then as the LIFF page works, every phone first opening the form
(`GET /liff/api/alerts/{id}` with its token, not measured: the token's first use, verified by
LINE) and then answering with the same token, again and again, for the run. Each run lasts --seconds
after one second of warm-up. Prints answers/s, p50 and p99 of each, the server process's CPU
time per request and its event loop's alone (steadier than rates when other work shares the
machine) and the ratio to the lean baseline; nothing here is asserted (targets: >= 1,500/s,
p99 <= 200 ms, >= 50 % of the lean). Under each run, the CPU every process on the machine
spent per answer: the server, the LINE platform (the lean handler's verify calls), PostgreSQL,
the load generator. --rounds N runs the three in turn N times (Anpi started afresh each
round, fresh tokens never reused) and prints the median ratios: on a shared 2-core machine one
run's ratio can move by 20 points.
With --profile, a CPU profile of the Anpi runs (cProfile; it slows them) goes to FILE.

Usage: python -m benchmarks.answers [--employees 2000] [--clients 64] [--seconds 15]
                                    [--database-url postgres://...] [--rounds 1]
                                    [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import aiosqlite
import asyncpg
from aiohttp import web
from aiohttp.test_utils import unused_port

from benchmarks.databases import drop_postgres, fresh_postgres
from benchmarks.processes import process_stat
from bot.app import create_app
from bot.config import Config
from bot.lifecycle import freeze_startup_heap, make_runner
from domain.actors import Actor
from domain.alerts import start_alert
from line_simulator import Simulator, SimulatorConfig
from models import Delivery, DeliveryStatus, Department, Employee, LineAccount, Template
from models.db import keep_session, migrate
from web.line_login import FORM_HEADERS

SECRET, TOKEN, LOGIN = "bench-secret", "bench-token", "1000000000"
LIFF_ID = "1000000000-bench"
WARM_UP = 1.0  # seconds of load before the measured window
TOKEN_RATE_CAP = 4000  # fresh ID tokens issued per second of run (the rest reuse one, said)
ROLES = ("server", "LINE platform", "PostgreSQL", "load generator", "other")
ANSWER = {
    "choices": {"本人": "無事", "家族": "全員無事", "家屋": "被害なし", "出社": "可能"},
    "message": "無事です。",
}


# The local LINE platform, in its own process


def simulator_process(port: int, users: int, fresh_tokens: int, workdir: Path, ready, stop):
    """Serve the simulator on `port`; write ID tokens to files in `workdir`, report its users;
    run until `stop`."""
    asyncio.run(_simulator(port, users, fresh_tokens, workdir, ready, stop))


async def _simulator(port: int, users: int, fresh_tokens: int, workdir: Path, ready, stop):
    sim = Simulator(
        SimulatorConfig(
            channel_secret=SECRET,
            channel_access_token=TOKEN,
            login_channel_id=LOGIN,
            public_base_url=f"http://127.0.0.1:{port}",
        )
    )
    runner = make_runner(sim.app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    user_ids = []
    for n in range(users):
        user = sim.add_user(f"社員{n}")
        user.friend = True
        user_ids.append(user.user_id)
    kept = [sim.issue_id_token(u) for u in user_ids]  # one per phone, for the whole run
    fresh = [sim.issue_id_token(user_ids[k % users]) for k in range(fresh_tokens)]
    (workdir / "kept-tokens").write_text("\n".join(kept))
    (workdir / "fresh-tokens").write_text("\n".join(fresh))
    ready.put(user_ids)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, stop.wait)
    await runner.cleanup()


# The load generator, in its own process


@dataclass
class Load:
    """What the clients post: answer k carries token k % N of the file (one a line), from
    client k % C."""

    url: str
    tokens: Path
    clients: int
    seconds: float
    open_first: bool = False  # GET the alert with every token first (the page loading)
    first: int = 0  # the token answer 0 carries (a later round starts past earlier ones)


def load_process(load: Load, posting, results) -> None:
    """Post answers from `load.clients` clients; report latencies of the measured window."""
    results.put(asyncio.run(_load(load, posting)))


async def _load(load: Load, posting) -> tuple[list[float], dict[str, int], float, int, int]:
    start = time.perf_counter()
    measure_from, stop_at = start + WARM_UP, start + WARM_UP + load.seconds
    latencies: list[float] = []
    statuses: Counter = Counter()
    body = json.dumps(ANSWER).encode()
    tokens = load.tokens.read_text().split()
    wrapped = sent = 0

    async def client(c: int, session: aiohttp.ClientSession) -> None:
        nonlocal wrapped, sent
        k = load.first + c
        while (now := time.perf_counter()) < stop_at:
            if k >= len(tokens):
                wrapped += 1
            headers = {
                "Authorization": f"Bearer {tokens[k % len(tokens)]}",
                "Content-Type": "application/json",
            }
            k += load.clients
            try:
                async with session.post(load.url, data=body, headers=headers) as response:
                    await response.read()
                    status = str(response.status)
            except aiohttp.ClientError as exc:
                status = type(exc).__name__
            done = time.perf_counter()
            sent += 1
            if now >= measure_from and done <= stop_at:
                latencies.append(done - now)
                statuses[status] += 1

    async def open_page(c: int, session: aiohttp.ClientSession) -> None:
        for token in tokens[c :: load.clients]:
            headers = {"Authorization": f"Bearer {token}"}
            async with session.get(load.url.removesuffix("/answer"), headers=headers) as r:
                assert r.status == 200, r.status

    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    jar = aiohttp.CookieJar(unsafe=True)  # keeps the CSRF cookie, as the phone's browser does
    async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as session:
        if load.open_first:
            await asyncio.gather(*(open_page(c, session) for c in range(load.clients)))
            start = time.perf_counter()
            measure_from, stop_at = start + WARM_UP, start + WARM_UP + load.seconds
        posting.set()
        await asyncio.gather(*(client(c, session) for c in range(load.clients)))
    return latencies, dict(statuses), load.seconds, wrapped, sent


def process_cpu(roles: dict[int, str]) -> Counter:
    """CPU seconds (user + system) used so far by every process on the machine, summed by
    role: the PIDs in `roles`, PostgreSQL's processes, and the rest ("other")."""
    used: Counter = Counter()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name, cpu = process_stat(int(entry.name))
        except OSError:  # gone meanwhile
            continue
        used[roles.get(int(entry.name)) or ("PostgreSQL" if name == "postgres" else "other")] += cpu
    return used


async def run_load(
    load: Load, simulator: int
) -> tuple[list[float], dict[str, int], float, int, Counter, float]:
    """Run the load generator; return its figures and the CPU seconds per request answered
    (warm-up included) of every process on the machine, by role (`process_cpu`): the server
    (this process), the LINE platform, the load generator, PostgreSQL; and of the server's
    event loop alone (this thread: the one a busy server runs out of first)."""
    spawn = multiprocessing.get_context("spawn")
    results, posting = spawn.Queue(), spawn.Event()
    process = spawn.Process(target=load_process, args=(load, posting, results))
    process.start()
    roles = {os.getpid(): "server", simulator: "LINE platform", process.pid: "load generator"}
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, posting.wait, 600)
    before, loop_before = process_cpu(roles), time.thread_time()
    latencies, statuses, seconds, wrapped, sent = await loop.run_in_executor(
        None, results.get, True, load.seconds + 120
    )
    after, loop_after = process_cpu(roles), time.thread_time()
    await loop.run_in_executor(None, process.join, 10)
    cpu = Counter({role: (after[role] - before[role]) / max(sent, 1) for role in after})
    return latencies, statuses, seconds, wrapped, cpu, (loop_after - loop_before) / max(sent, 1)


def report(name: str, outcome: tuple, baseline: float | None = None, *, fresh: bool) -> float:
    """Print one run's figures; return its answers/s."""
    latencies, statuses, seconds, wrapped, cpu, event_loop = outcome
    ok = statuses.get("200", 0)
    rate = ok / seconds
    ordered = sorted(latencies) or [0.0]
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    others = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()) if k != "200")
    line = (
        f"{name}: {ok} answers in {seconds:.0f} s = {rate:,.0f}/s, "
        f"p50 {statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
        f"server CPU {cpu['server'] * 1000:.2f} ms/answer "
        f"(its event loop {event_loop * 1000:.2f} ms)"
    )
    if baseline:
        line += f" ({rate / baseline * 100:.0f} % of the lean baseline)"
    print(line + (f"; not 200: {others}" if others else ""), flush=True)
    print(
        "  machine CPU per answer: "
        + ", ".join(
            f"{role} {cpu[role] * 1000:.2f} ms"
            for role in ROLES
            if cpu[role] >= 0.000005 or role == "server"  # idle ones left out
        )
        + f" (all {sum(cpu.values()) * 1000:.2f} ms)",
        flush=True,
    )
    if wrapped and fresh:
        print(f"  (ran out of fresh tokens: {wrapped} answers reused one)", flush=True)
    return rate


# The lean baseline: the verify call, one upsert, a commit


LEAN_TABLE = (
    "CREATE TABLE lean_answer (alert_id INT NOT NULL, user_id VARCHAR(64) NOT NULL, "
    "choices TEXT NOT NULL, message TEXT NOT NULL, revision INT NOT NULL, "
    "answered_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (alert_id, user_id))"
)
LEAN_UPSERT = (
    "INSERT INTO lean_answer (alert_id, user_id, choices, message, revision, answered_at) "
    "VALUES ({p[0]}, {p[1]}, {p[2]}, {p[3]}, 1, {p[4]}) ON CONFLICT (alert_id, user_id) "
    "DO UPDATE SET choices = excluded.choices, message = excluded.message, "
    "revision = lean_answer.revision + 1, answered_at = excluded.answered_at RETURNING revision"
)


def lean_app(sim_url: str, database_url: str | None, sqlite_path: str) -> web.Application:
    """A minimal aiohttp app: LINE's verify call, one upsert and a commit per answer."""
    app = web.Application()
    state: dict = {}

    async def answer(request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "")[7:]
        form = urlencode({"id_token": token, "client_id": LOGIN}).encode()
        async with state["http"].post(
            f"{sim_url}/oauth2/v2.1/verify", data=form, headers=FORM_HEADERS
        ) as response:
            claims = await response.json()
        if response.status != 200:
            return web.json_response({"error": "invalid_id_token"}, status=401)
        body = await request.json()
        values = [
            int(request.match_info["alert_id"]), claims["sub"], json.dumps(body["choices"]),
            body.get("message", ""), datetime.now(UTC),
        ]  # fmt: skip
        if "pool" in state:
            sql = LEAN_UPSERT.format(p=[f"${n}" for n in range(1, 6)])
            revision = await state["pool"].fetchval(sql, *values)
        else:
            # Autocommit: the statement is its own transaction, committed in the same call.
            rows = await state["sqlite"].execute_fetchall(LEAN_UPSERT.format(p="?" * 5), values)
            revision = rows[0][0]
        return web.json_response({"status": "回答済", "revision": revision})

    async def resources(app: web.Application):
        state["http"] = aiohttp.ClientSession()
        if database_url:
            # Connections go back to the pool as Anpi's do (no reset query: one trip less).
            state["pool"] = await asyncpg.create_pool(asyncpg_dsn(database_url), reset=keep_session)
            await state["pool"].execute(LEAN_TABLE)
        else:
            state["sqlite"] = db = await aiosqlite.connect(sqlite_path, isolation_level=None)
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute(LEAN_TABLE)
        yield
        await state["http"].close()
        if "pool" in state:
            await state["pool"].execute("DROP TABLE lean_answer")
            await state["pool"].close()
        else:
            await state["sqlite"].close()

    app.cleanup_ctx.append(resources)
    app.router.add_post("/liff/api/alerts/{alert_id}/answer", answer)
    return app


# Anpi


async def seed(user_ids: list[str]) -> int:
    """Employees in ten departments, each linked to a simulator user, and a drill to all."""
    departments = [await Department.create(name=f"部署{n}") for n in range(10)]
    await Employee.bulk_create(
        [
            Employee(code=f"B{n:06d}", name=f"社員{n}", department=departments[n % 10])
            for n in range(len(user_ids))
        ],
        batch_size=1000,
    )
    ids = await Employee.all().order_by("id").values_list("id", flat=True)
    await LineAccount.bulk_create(
        [LineAccount(user_id=u, employee_id=e) for u, e in zip(user_ids, ids, strict=True)],
        batch_size=1000,
    )
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    return started.alert.id


async def wait_delivered(alert_id: int) -> None:
    """Until the delivery worker has sent the drill (so it is idle during the load)."""
    while await Delivery.filter(  # noqa: ASYNC110 - the outbox lives in the database
        alert_id=alert_id, status__in=[DeliveryStatus.PENDING, DeliveryStatus.SENDING]
    ).exists():
        await asyncio.sleep(0.1)


def asyncpg_dsn(database_url: str) -> str:
    return "postgresql://" + database_url.split("://", 1)[1]


async def serve(app: web.Application, port: int) -> web.AppRunner:
    """Serve `app` on `port` as `python -m bot serve` does (the lean handler too)."""
    runner = make_runner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    freeze_startup_heap()
    return runner


async def bench(args: argparse.Namespace, workdir: Path) -> None:
    spawn = multiprocessing.get_context("spawn")
    sim_port = unused_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    ready, stop = spawn.Queue(), spawn.Event()
    per_round = int(TOKEN_RATE_CAP * (args.seconds + WARM_UP))  # fresh tokens a round may use
    simulator = spawn.Process(
        target=simulator_process,
        args=(sim_port, args.employees, per_round * args.rounds, workdir, ready, stop),
    )
    simulator.start()
    created = None
    try:
        loop = asyncio.get_running_loop()
        user_ids = await loop.run_in_executor(None, ready.get, True, 300)
        if args.database_url:
            database_url, created = await fresh_postgres(args.database_url)
        else:
            database_url = f"sqlite://{workdir}/anpi.sqlite3"
        print(
            f"database: {database_url.split(':')[0]}; {args.employees:,} employees; "
            f"{args.clients} clients for {args.seconds:.0f} s (after {WARM_UP:.0f} s warm-up); "
            "simulator and load generator in their own processes",
            flush=True,
        )
        await migrate(database_url)
        bench = Bench(args, workdir, sim_url, simulator.pid, database_url, bool(created))
        ratios = []
        for number in range(args.rounds):
            if args.rounds > 1:
                print(f"round {number + 1} of {args.rounds}:", flush=True)
            ratios.append(await bench.round(user_ids, number * per_round))
        if args.rounds > 1:
            fresh, kept = (statistics.median(r[n] for r in ratios) for n in (0, 1))
            print(
                f"median of {args.rounds} rounds: every answer a new ID token "
                f"{fresh * 100:.0f} %, form opened first {kept * 100:.0f} % of the lean baseline",
                flush=True,
            )
        if bench.profile:
            bench.profile.dump_stats(args.profile)
            print(f"profile of the server's event loop during the Anpi runs: {args.profile}")
    finally:
        stop.set()
        simulator.join(10)
        if created:
            await drop_postgres(args.database_url, created)


@dataclass
class Bench:
    """One round is the lean baseline, then Anpi twice, each server alone in this process
    (Anpi is started afresh for each round; the database keeps its employees and alert)."""

    args: argparse.Namespace
    workdir: Path
    sim_url: str
    simulator: int
    database_url: str
    postgres: bool
    alert_id: int | None = None
    profile: cProfile.Profile | None = None

    def __post_init__(self) -> None:
        # CPU time of the event loop's thread, not wall time: on two busy cores a function
        # is often waiting for the CPU, and wall time would blame it for that.
        if self.args.profile:
            self.profile = cProfile.Profile(time.thread_time)

    async def round(self, user_ids: list[str], first: int) -> tuple[float, float]:
        """Run the three loads, fresh tokens from `first`; Anpi's rates over the lean's."""
        args, fresh = self.args, self.workdir / "fresh-tokens"
        port = unused_port()
        lean_db = self.database_url if self.postgres else None
        runner = await serve(
            lean_app(self.sim_url, lean_db, f"{self.workdir}/lean-{first}.sqlite3"), port
        )
        try:
            url = f"http://127.0.0.1:{port}/liff/api/alerts/1/answer"
            lean = report(
                "lean baseline (verify call + one upsert + commit)",
                await run_load(
                    Load(url, fresh, args.clients, args.seconds, first=first), self.simulator
                ),
                fresh=True,
            )
        finally:
            await runner.cleanup()
        port = unused_port()
        config = Config(
            database_url=self.database_url,
            line_channel_secret=SECRET,
            line_channel_access_token=TOKEN,
            line_login_channel_id=LOGIN,
            liff_id=LIFF_ID,
            public_base_url=f"http://127.0.0.1:{port}",
            secret_key="bench-secret-key",
            port=port,
        ).on_line_host(self.sim_url)
        runner = await serve(create_app(config), port)  # opens the database here too
        try:
            if self.alert_id is None:
                self.alert_id = await seed(user_ids)
            await wait_delivered(self.alert_id)
            url = f"http://127.0.0.1:{port}/liff/api/alerts/{self.alert_id}/answer"
            if self.profile:
                self.profile.enable()
            new = report(
                "Anpi, every answer a new ID token (LINE verifies each)",
                await run_load(
                    Load(url, fresh, args.clients, args.seconds, first=first), self.simulator
                ),
                lean,
                fresh=True,
            )
            kept = report(
                "Anpi, each phone opened the form first (token verified then), then answers",
                await run_load(
                    Load(
                        url,
                        self.workdir / "kept-tokens",
                        args.clients,
                        args.seconds,
                        open_first=True,
                    ),
                    self.simulator,
                ),
                lean,
                fresh=False,
            )
            if self.profile:
                self.profile.disable()
        finally:
            await runner.cleanup()
        return new / lean, kept / lean


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--employees", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server to use")
    parser.add_argument(
        "--rounds", type=int, default=1, help="run the three loads this many times, in turn"
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="write a CPU profile of the Anpi runs (slows them)"
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="anpi-bench-"))
    asyncio.run(bench(args, workdir))


if __name__ == "__main__":
    main()
