"""Does the bot still acknowledge LINE's webhooks in time while the link page is flooded?

Runs the real app (production Argon2 cost) and the local LINE platform in this process on
loopback, on a fresh SQLite database (or PostgreSQL with --database-url). A second process
plays 32 clients posting the sign-in form of /link in a loop, from one loopback address or
from 32 (127.0.0.2…), while this process times signed webhook deliveries (the simulator signs
and posts a chat text; the time is until the bot's 200). Each flood is bounded by a request
count and a deadline. Prints p50/p99/max per flood and the ratio to the same probes without a
flood, measured in the same run; nothing here is asserted.

Usage: python -m benchmarks.link_flood [--probes 200] [--clients 32] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import re
import secrets
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import unused_port

from bot.app import create_app
from bot.config import Config
from bot.lifecycle import make_runner
from domain.linking import SIGN_IN_LIMIT, issue_registration_code, record_link_token
from line_simulator import Simulator, SimulatorConfig
from models import Department, Employee
from models.db import close_database, migrate, open_database

SECRET, TOKEN, LOGIN = "bench-secret", "bench-token", "1000000000"
LINE_DEADLINE = 2.0  # seconds LINE waits for the webhook's answer before it redelivers
FLOOD_REQUEST_CAP = 10_000  # per client, per flood
FLOOD_DEADLINE = 120.0  # seconds, per flood


@dataclass
class Client:
    """One flooding client: where it posts from and which link tokens it submits."""

    address: str
    page_token: str  # a recorded token, only to open the page for its CSRF token
    tokens: list[str] = field(default_factory=list)  # empty: a forged token per request
    uses_per_token: int = 1


@dataclass
class Flood:
    """A named flood: its clients and what they type."""

    name: str
    clients: list[Client]
    employee_code: str = "E001"
    registration_code: str = "WRNG-CDE2"


async def _client(bot_url: str, plan: Flood, client: Client, halt: asyncio.Event) -> Counter:
    statuses: Counter = Counter()
    connector = aiohttp.TCPConnector(local_addr=(client.address, 0), limit=1)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as session:
        async with session.get(f"{bot_url}/link", params={"linkToken": client.page_token}) as r:
            html = await r.text()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        tokens = [t for t in client.tokens for _ in range(client.uses_per_token)]
        for n in range(FLOOD_REQUEST_CAP):
            if halt.is_set() or (client.tokens and n >= len(tokens)):
                break  # told to stop, or every token used up
            form = {
                "csrf_token": csrf,
                "linkToken": tokens[n] if client.tokens else secrets.token_urlsafe(32),
                "employee_code": plan.employee_code,
                "registration_code": plan.registration_code,
            }
            try:
                async with session.post(f"{bot_url}/link", data=form, allow_redirects=False) as r:
                    await r.read()
                    statuses[r.status] += 1
            except aiohttp.ClientError:
                statuses["error"] += 1
    return statuses


async def _flood(bot_url: str, plan: Flood, started, stopping) -> Counter:
    deadline = time.monotonic() + FLOOD_DEADLINE
    halt = asyncio.Event()
    tasks = [asyncio.create_task(_client(bot_url, plan, c, halt)) for c in plan.clients]
    started.set()
    while not stopping.is_set() and time.monotonic() < deadline:
        if all(task.done() for task in tasks):
            break
        await asyncio.sleep(0.05)  # the stop signal comes from another process: poll it
    halt.set()
    totals: Counter = Counter()
    for statuses in await asyncio.gather(*tasks):
        totals.update(statuses)
    return totals


def flood_process(bot_url: str, plan: Flood, started, stopping, results) -> None:
    """The attacker's process: flood until told to stop (or capped), report the statuses."""
    begun = time.monotonic()
    statuses = asyncio.run(_flood(bot_url, plan, started, stopping))
    results.put((dict(statuses), time.monotonic() - begun))


async def probe(sim: Simulator, user_id: str, count: int) -> list[float]:
    """Time `count` signed webhook deliveries (a chat text each), ten per second."""
    latencies = []
    for _ in range(count):
        event = {
            "type": "message",
            "source": {"type": "user", "userId": user_id},
            "replyToken": sim.issue_reply_token(user_id),
            "message": {
                "id": secrets.token_hex(8),
                "type": "text",
                "quoteToken": "q",
                "text": "こんにちは",
            },
        }
        t0 = time.perf_counter()
        status = await sim.send_events([event])
        latencies.append(time.perf_counter() - t0)
        assert status == 200, status
        await asyncio.sleep(max(0.0, 0.1 - latencies[-1]))  # pace: LINE's traffic, not a flood
    return latencies


def summary(latencies: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max, in seconds."""
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99, ordered[-1]


async def seed(users: int) -> tuple[list[str], str]:
    """An employee with a registration code, and link tokens recorded for `users` LINE users
    (as the bot records those it obtains); return the tokens and one spare for pages."""
    department = await Department.create(name="総務部")
    employee = await Employee.create(code="E001", name="山田 太郎", department=department)
    await issue_registration_code(employee)
    tokens = []
    for n in range(users + 1):
        token = secrets.token_urlsafe(32)
        await record_link_token(f"U{n:032x}", token)
        tokens.append(token)
    return tokens[:-1], tokens[-1]


def floods(clients: int, tokens: list[str], page: str, per_client: int) -> list[Flood]:
    """The floods to run: cheapest refusal first, every request hashing last."""
    addresses = [f"127.0.0.{n + 2}" for n in range(clients)]
    return [
        Flood("one address, forged link tokens", [Client("127.0.0.1", page)] * clients),
        Flood(f"{clients} addresses, forged link tokens", [Client(a, page) for a in addresses]),
        Flood(
            f"{clients} addresses, each a LINE user's recorded token, wrong codes",
            [Client(a, page, [tokens[n]], FLOOD_REQUEST_CAP) for n, a in enumerate(addresses)],
        ),
        Flood(
            f"{clients} addresses, {per_client} LINE users each: every request hashes",
            [
                Client(
                    a,
                    page,
                    tokens[clients + n * per_client : clients + (n + 1) * per_client],
                    SIGN_IN_LIMIT,
                )
                for n, a in enumerate(addresses)
            ],
        ),
    ]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--users-per-client", type=int, default=8)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="anpi-bench-"))
    database_url = args.database_url or f"sqlite://{workdir}/bench.sqlite3"
    sim_port, port = unused_port(), unused_port()
    sim_url, bot_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{port}"
    sim = Simulator(
        SimulatorConfig(
            channel_secret=SECRET,
            channel_access_token=TOKEN,
            login_channel_id=LOGIN,
            public_base_url=sim_url,
            webhook_url=f"{bot_url}/callback",
            webhook_timeout=30.0,  # measure past LINE's 2 s rather than give up
        )
    )
    config = Config(
        database_url=database_url,
        line_channel_secret=SECRET,
        line_channel_access_token=TOKEN,
        line_login_channel_id=LOGIN,
        liff_id="x",
        public_base_url=bot_url,
        secret_key="k",
        port=port,
        workers=("inbox",),
    ).on_line_host(sim_url)
    await migrate(database_url)
    await open_database(database_url)
    try:
        tokens, page = await seed(args.clients * (1 + args.users_per_client))
    finally:
        await close_database()
    user = sim.add_user("bench")
    user.friend = True

    sim_runner = make_runner(sim.app, access_log=None)
    bot_runner = make_runner(create_app(config), access_log=None)
    await sim_runner.setup()
    await web.TCPSite(sim_runner, "127.0.0.1", sim_port).start()
    await bot_runner.setup()
    await web.TCPSite(bot_runner, "127.0.0.1", port).start()
    spawn = multiprocessing.get_context("spawn")
    print(
        f"database: {database_url.split(':')[0]}; {args.probes} webhook probes per run, "
        f"10 a second; {args.clients} flooding clients in another process"
    )
    try:
        baseline = summary(await probe(sim, user.user_id, args.probes))
        print(
            f"no flood: webhook ack p50 {baseline[0] * 1000:.1f} ms, "
            f"p99 {baseline[1] * 1000:.1f} ms, max {baseline[2] * 1000:.1f} ms"
        )
        for plan in floods(args.clients, tokens, page, args.users_per_client):
            started, stopping, results = spawn.Event(), spawn.Event(), spawn.Queue()
            attacker = spawn.Process(
                target=flood_process, args=(bot_url, plan, started, stopping, results)
            )
            attacker.start()
            await asyncio.get_running_loop().run_in_executor(None, started.wait, 60)
            latencies = await probe(sim, user.user_id, args.probes)
            stopping.set()
            statuses, seconds = await asyncio.get_running_loop().run_in_executor(
                None, results.get, True, 180
            )
            attacker.join(10)
            p50, p99, worst = summary(latencies)
            late = sum(1 for x in latencies if x > LINE_DEADLINE)
            sent = sum(statuses.values())
            answers = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str))
            print(f"flood, {plan.name}:")
            print(
                f"  webhook ack p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms "
                f"(x{p99 / baseline[1]:.1f} the baseline), max {worst * 1000:.1f} ms; "
                f"{late} of {len(latencies)} over LINE's {LINE_DEADLINE:.0f} s"
            )
            print(f"  POST /link: {sent} in {seconds:.1f} s = {sent / seconds:,.0f}/s ({answers})")
    finally:
        await bot_runner.cleanup()
        await sim_runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
