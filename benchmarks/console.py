"""How fast the console tallies a big alert, and how soon an answer shows on the console.

Builds an alert with 100,000 recipients and answers on a fresh SQLite database (or a fresh
PostgreSQL database created next to --database-url), then times:
- the tally (from the counts kept answer by answer, as the console and the CLI count), against
  a lean baseline in the same run: a bare COUNT(*) of the alert's answers; and the full
  recount from the answers (one GROUP BY over the roster and the answers, the tally before);
- an answer through the LIFF API until the console's server-sent event carries it, against
  the lean baseline of the LIFF POST's own round trip.
Prints its figures; nothing here is asserted (targets: tally <= 20 ms and <= x10 the COUNT(*),
answer to event <= 1 s).
Usage: python -m benchmarks.console [--recipients 100000] [--database-url postgres://...]
                                    [--viewers N]  (console pages watching the alert live)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import unused_port
from tortoise import connections

from benchmarks.databases import drop_postgres, fresh_postgres
from bot.app import create_app
from bot.config import Config
from domain.actors import Actor
from domain.console_users import add_user
from domain.scope import Scope
from domain.tally import recount, tally
from line_simulator import Simulator, SimulatorConfig
from models import (
    Alert,
    AlertRecipient,
    Answer,
    AnswerChannel,
    AnswerRevision,
    ConsoleRole,
    Department,
    Employee,
    LineAccount,
    Template,
)
from models.answers import recount_answers
from models.db import migrate

SECRET, TOKEN, LOGIN = "bench-secret", "bench-token", "1000000000"
LIFF_ID = "1000000000-bench"
PASSWORD = "benchmark password"
PROBES = 10  # answers timed through the LIFF API to the console's event
RUNS = 15  # tally repetitions


async def seed(recipients: int, sim: Simulator) -> tuple[int, list[tuple[str, int]]]:
    """Employees in ten departments, an alert to all; all but PROBES answered (first answers
    spread over an hour); the PROBES unanswered ones are linked to LINE users."""
    departments = [await Department.create(name=f"部署{n}") for n in range(10)]
    await Employee.bulk_create(
        [
            Employee(code=f"B{n:06d}", name=f"社員{n}", department=departments[n % 10])
            for n in range(recipients)
        ],
        batch_size=2000,
    )
    people = await Employee.all().order_by("id").values_list("id", "department_id")
    template = await Template.get(key="earthquake")
    started = datetime.now(UTC) - timedelta(hours=1)
    alert = await Alert.create(
        template=template, title=template.title, message=template.message,
        items=template.items, sender_name="bench", drill=True, started_at=started,
    )  # fmt: skip
    await AlertRecipient.bulk_create(
        [AlertRecipient(alert=alert, employee_id=e, department_id=d) for e, d in people],
        batch_size=2000,
    )
    rng = random.Random(7)
    items = template.items
    answered = people[:-PROBES]
    answers = []
    for employee_id, _ in answered:
        choices = {i["label"]: rng.choice(i["choices"]) for i in items}
        at = started + timedelta(seconds=rng.uniform(0, 3600))
        answers.append(
            Answer(alert=alert, employee_id=employee_id, choices=choices,
                   channel=AnswerChannel.LIFF, answered_at=at)
        )  # fmt: skip
    await Answer.bulk_create(answers, batch_size=2000)
    rows = await Answer.filter(alert_id=alert.id).values_list("id", "choices", "answered_at")
    await AnswerRevision.bulk_create(
        [
            AnswerRevision(answer_id=i, revision=1, choices=c, channel=AnswerChannel.LIFF,
                           answered_at=at)
            for i, c, at in rows
        ],
        batch_size=2000,
    )  # fmt: skip
    # Written in bulk here, not answer by answer: count them as the migration counts an
    # existing database (the LIFF answers below keep the counts themselves).
    await recount_answers(connections.get("default"), [alert.id])
    probes = []
    for employee_id, _ in people[-PROBES:]:
        user = sim.add_user("bench")
        user.friend = True
        await LineAccount.create(user_id=user.user_id, employee_id=employee_id)
        probes.append((user.user_id, employee_id))
    return alert.id, probes


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def time_it(run, runs: int = RUNS) -> float:
    """The median of `runs` timed calls (after one warm-up)."""
    await run()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await run()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


async def bench_tally(alert_id: int) -> None:
    client = connections.get("default")
    placeholder = "$1" if client.capabilities.dialect == "postgres" else "?"

    async def lean() -> None:
        await client.execute_query(
            f"SELECT COUNT(*) FROM answer WHERE alert_id = {placeholder}", [alert_id]
        )

    everything = Scope.everything()
    one_department = await Scope.departments([(await Department.first()).id])
    result = await tally(alert_id, everything)
    assert result == await recount(alert_id, everything)
    baseline = await time_it(lean)
    full = await time_it(lambda: recount(alert_id, everything))
    whole = await time_it(lambda: tally(alert_id, everything))
    scoped = await time_it(lambda: tally(alert_id, one_department))
    print(f"tally of {result.answered:,}/{result.total:,} answers (median of {RUNS}):")
    print(f"  lean baseline, COUNT(*) of the answers: {ms(baseline)}")
    print(f"  recount from the answers (the tally before issue 20): {ms(full)}")
    print(f"  tally, whole organisation: {ms(whole)} (x{whole / baseline:.1f} the baseline)")
    print(f"  tally, one department of ten: {ms(scoped)} (x{scoped / baseline:.1f})")


async def sign_in(session: aiohttp.ClientSession, base: str, login: str) -> None:
    async with session.get(f"{base}/console/login") as response:
        token = re.search(r'name="csrf_token" value="([^"]+)"', await response.text()).group(1)
    form = {"csrf_token": token, "login": login, "password": PASSWORD}
    async with session.post(f"{base}/console/login", data=form, allow_redirects=False) as r:
        assert r.status == 303, r.status


async def next_tally(response: aiohttp.ClientResponse) -> None:
    event = ""
    async for raw in response.content:
        line = raw.decode()
        if line.startswith("event: "):
            event = line.strip()
        elif line.startswith("data: ") and event == "event: tally":
            return


async def bench_live(
    base: str, sim: Simulator, alert_id: int, probes: list[tuple[str, int]], viewers: int
) -> None:
    # Each maintainer may keep 5 live pages open: as many maintainers as the pages need.
    logins = [f"bench{n}" for n in range(-(-viewers // 5))]
    for login in logins:
        await add_user(login, login, PASSWORD, ConsoleRole.MAINTAINER, [], Actor.cli())
    async with contextlib.AsyncExitStack() as stack:
        phone = await stack.enter_async_context(aiohttp.ClientSession())
        consoles = []
        for login in logins:
            jar = aiohttp.CookieJar(unsafe=True)
            consoles.append(await stack.enter_async_context(aiohttp.ClientSession(cookie_jar=jar)))
            await sign_in(consoles[-1], base, login)
        streams = []
        for n in range(viewers):
            url = f"{base}/console/alerts/{alert_id}/events"
            streams.append(await stack.enter_async_context(consoles[n // 5].get(url)))
            await streams[-1].content.readline()  # retry: ... the stream is subscribed
        posts, events = [], []
        for user_id, _ in probes:
            body = {"choices": {"本人": "無事", "家族": "全員無事", "家屋": "被害なし",
                                "出社": "可能"}, "message": ""}  # fmt: skip
            headers = {"Authorization": f"Bearer {sim.issue_id_token(user_id)}"}
            t0 = time.perf_counter()
            async with phone.post(
                f"{base}/liff/api/alerts/{alert_id}/answer", json=body, headers=headers
            ) as r:
                assert r.status == 200, await r.text()
            posts.append(time.perf_counter() - t0)
            await asyncio.gather(*(next_tally(stream) for stream in streams))
            events.append(time.perf_counter() - t0)
            # Past the pause after an update (as long as its reading, at least 0.2 s): one
            # answer, one event.
            await asyncio.sleep(1.0)
    post, event = statistics.median(posts), statistics.median(events)
    pages = "the console's event" if viewers == 1 else f"the event on all {viewers} console pages"
    print(f"answer through the LIFF API to {pages} ({len(probes)} answers):")
    print(f"  lean baseline, the LIFF POST round trip: median {ms(post)}")
    print(
        f"  answer to event: median {ms(event)} (x{event / post:.1f} the baseline), "
        f"max {ms(max(events))}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server to use")
    parser.add_argument("--viewers", type=int, default=1, help="console pages watching live")
    args = parser.parse_args()

    created = None
    if args.database_url:
        database_url, created = await fresh_postgres(args.database_url)
    else:
        database_url = f"sqlite://{Path(tempfile.mkdtemp(prefix='anpi-bench-'))}/bench.sqlite3"
    sim = Simulator(
        SimulatorConfig(channel_secret=SECRET, channel_access_token=TOKEN, login_channel_id=LOGIN)
    )
    sim_port, port = unused_port(), unused_port()
    sim.config.public_base_url = f"http://127.0.0.1:{sim_port}"
    sim_runner = web.AppRunner(sim.app, access_log=None)
    await sim_runner.setup()
    await web.TCPSite(sim_runner, "127.0.0.1", sim_port).start()
    config = Config(
        database_url=database_url,
        line_channel_secret=SECRET,
        line_channel_access_token=TOKEN,
        line_login_channel_id=LOGIN,
        liff_id=LIFF_ID,
        public_base_url=f"http://127.0.0.1:{port}",
        secret_key="bench-secret-key",
        port=port,
    ).on_line_host(sim.config.public_base_url)
    await migrate(database_url)
    runner = web.AppRunner(create_app(replace(config, workers=())), access_log=None)
    print(f"database: {database_url.split(':')[0]}; {args.recipients:,} recipients")
    try:
        await runner.setup()  # opens the database for this process too
        await web.TCPSite(runner, "127.0.0.1", port).start()
        t0 = time.perf_counter()
        alert_id, probes = await seed(args.recipients, sim)
        print(f"seeded in {time.perf_counter() - t0:.1f} s")
        await bench_tally(alert_id)
        await bench_live(config.public_base_url, sim, alert_id, probes, args.viewers)
    finally:
        await runner.cleanup()
        await sim_runner.cleanup()
        if created:
            await drop_postgres(args.database_url, created)


if __name__ == "__main__":
    asyncio.run(main())
