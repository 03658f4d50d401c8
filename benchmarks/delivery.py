"""How fast an alert reaches everyone, and how fast the webhook takes events in.

Runs the real engine and webhook against the local LINE platform (LINE's rate limits on) on
a fresh SQLite database, or PostgreSQL with --database-url. Prints its figures; nothing here
is asserted. Usage: python -m benchmarks.delivery [--employees 10000] [--events 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import unused_port

from bot.app import create_app
from bot.config import Config
from bot.line_api import LineApi
from bot.messages import delivery_message
from domain.alerts import start_alert
from domain.delivery import DeliveryEngine
from line_simulator import Simulator, SimulatorConfig
from models import (
    Delivery,
    DeliveryStatus,
    Department,
    Employee,
    InboxEvent,
    InboxStatus,
    LineAccount,
    Template,
)
from models.db import close_database, migrate, open_database

SECRET, TOKEN, LOGIN = "bench-secret", "bench-token", "1000000000"


async def seed(sim: Simulator, employees: int) -> None:
    """Employees across ten departments, all linked to reachable LINE users."""
    departments = [await Department.create(name=f"部署{n}") for n in range(10)]
    people = [
        Employee(code=f"B{n:06d}", name=f"社員{n}", department=departments[n % 10])
        for n in range(employees)
    ]
    await Employee.bulk_create(people, batch_size=1000)
    ids = await Employee.all().order_by("id").values_list("id", flat=True)
    accounts = []
    for employee_id in ids:
        user = sim.add_user("x")
        user.friend = True
        accounts.append(LineAccount(user_id=user.user_id, employee_id=employee_id))
    await LineAccount.bulk_create(accounts, batch_size=1000)


async def bench_delivery(sim: Simulator, sim_url: str, employees: int) -> None:
    started_at = time.perf_counter()
    started = await start_alert(await Template.get(key="earthquake"), drill=True)
    written = time.perf_counter() - started_at
    line = LineApi(sim_url, TOKEN)
    try:
        t0 = time.perf_counter()
        render = partial(delivery_message, liff_url=f"{sim_url}/liff/x")
        await DeliveryEngine(line, render).run_until_idle(started.alert.id)
        sending = time.perf_counter() - t0
    finally:
        await line.close()
    sent = await Delivery.filter(alert_id=started.alert.id, status=DeliveryStatus.SENT).count()
    requests = sum(1 for s in sim.sent if s.kind == "multicast")
    print(
        f"start_alert ({employees} recipients, roster + outbox in one transaction): {written:.2f} s"
    )
    print(
        f"delivery: {sent}/{employees} sent in {sending:.2f} s over {requests} multicasts "
        f"= {sent / sending:,.0f} recipients/s"
    )
    print(f"alert start to last multicast accepted: {written + sending:.2f} s")


async def bench_webhook(sim: Simulator, events: int, config: Config) -> None:
    app = create_app(replace(config, workers=("inbox",)))
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
    print(
        f"webhook: {events} events stored and answered 200 in {accepted:.2f} s "
        f"= {events / accepted:,.0f} events/s; all handled (replies sent) after {handled:.2f} s"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--employees", type=int, default=10000)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="anpi-bench-"))
    database_url = args.database_url or f"sqlite://{workdir}/bench.sqlite3"
    sim_port = unused_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    sim = Simulator(
        SimulatorConfig(
            channel_secret=SECRET,
            channel_access_token=TOKEN,
            login_channel_id=LOGIN,
            public_base_url=sim_url,
        )
    )
    sim_runner = web.AppRunner(sim.app, access_log=None)
    await sim_runner.setup()
    await web.TCPSite(sim_runner, "127.0.0.1", sim_port).start()
    config = Config(
        database_url=database_url,
        line_channel_secret=SECRET,
        line_channel_access_token=TOKEN,
        line_login_channel_id=LOGIN,
        liff_id="x",
        line_api_base_url=sim_url,
        secret_key="k",
        port=unused_port(),
    )
    await migrate(config.database_url)
    print(f"database: {database_url.split(':')[0]}")
    try:
        await open_database(database_url)
        await seed(sim, args.employees)
        await bench_delivery(sim, sim_url, args.employees)
        await close_database()
        await bench_webhook(sim, args.events, config)
    finally:
        await sim_runner.cleanup()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory (bot + simulator in one process): {peak:.0f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
