"""Time from a bulletin appearing in the (local) JMA feed to the first multicast the local LINE
platform accepts, through the real app (its `jma` and `delivery` workers), beside a lean
baseline that does the least the work needs: poll the feed conditionally at the same interval,
read the new entry's bulletin with a plain ElementTree, and post one multicast with aiohttp.

Each run publishes a 震度速報 for a new EventID at a random moment of the poll interval, so the
wait for the next poll (0..interval) is part of the figure, as it is in production; the time
from the poll that saw the entry to the multicast is printed as well. Target: one poll
interval plus at most 2 s. Nothing is asserted.
Usage: python -m benchmarks.jma [--poll 60] [--runs 3] [--employees 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import unused_port

from bot.app import create_app
from bot.config import Config
from domain.actors import Actor
from domain.jma import rules
from line_simulator import Simulator, SimulatorConfig
from line_simulator.jma_feed import JmaFeed
from models import Delivery, DeliveryStatus, Employee, LineAccount
from models.db import migrate

SECRET, TOKEN, LOGIN, LIFF_ID = "bench-secret", "bench-token", "1000000000", "1000000000-bench"
SAMPLE = "VXSE51_20210219_real_Iwate_max4.xml"
EVENT_ID = "20210219181113"


def bulletin(samples: Path, run: int, kind: str) -> bytes:
    """The Iwate 震度速報 as a new earthquake (its own EventID) for each run."""
    text = (samples / SAMPLE).read_text(encoding="utf-8")
    return text.replace(
        EVENT_ID, f"2099{run:02d}{'01' if kind == 'lean' else '02'}00000000"
    ).encode()


async def serve(app: web.Application, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def first_multicast(sim: Simulator, since: int) -> bool:
    return any(r.kind == "multicast" and r.status == 200 for r in sim.sent[since:])


async def measure(sim: Simulator, feed: JmaFeed, data: bytes, name: str, poll: float):
    """Publish at a random moment of the interval; return (total, after the seeing poll)."""
    await asyncio.sleep(random.uniform(0, poll))
    since, polls = len(sim.sent), len(feed.feed_request_times)
    published = time.monotonic()
    feed.publish(name, data, "震度速報")
    while not first_multicast(sim, since):  # noqa: ASYNC110  (the platform has no event for it)
        await asyncio.sleep(0.005)
    done = time.monotonic()
    seen = next(t for t in feed.feed_request_times[polls:] if t >= published)
    return done - published, done - seen


async def lean_poller(feed_url: str, sim_url: str, user_ids: list[str], poll: float) -> None:
    """The least the work needs: a conditional GET a poll, a plain parse, one multicast."""
    etag, seen = "", set()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    ns = "{http://www.w3.org/2005/Atom}"
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(feed_url, headers={"If-None-Match": etag} if etag else {}) as r:
                if r.status == 200:
                    etag = r.headers.get("ETag", "")
                    feed = ET.fromstring(await r.read())
                    for entry in feed.findall(f"{ns}entry"):
                        url = entry.find(f"{ns}link").get("href")
                        if url in seen:
                            continue
                        seen.add(url)
                        async with http.get(url) as b:
                            root = ET.fromstring(await b.read())
                        if root.find(".//{*}MaxInt") is None:
                            continue
                        body = {
                            "to": user_ids[:500],
                            "messages": [{"type": "text", "text": "地震"}],
                        }
                        async with http.post(
                            f"{sim_url}/v2/bot/message/multicast", json=body, headers=headers
                        ) as m:
                            await m.read()
            await asyncio.sleep(poll)


async def main(args: argparse.Namespace) -> None:
    samples = Path(args.samples)
    workdir = Path(tempfile.mkdtemp(prefix="anpi-jma-bench-"))
    database_url = f"sqlite://{workdir}/bench.sqlite3"
    await migrate(database_url)
    sim = Simulator(
        SimulatorConfig(channel_secret=SECRET, channel_access_token=TOKEN, login_channel_id=LOGIN)
    )
    feed = JmaFeed()
    sim_port, feed_port, bot_port = unused_port(), unused_port(), unused_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    sim.config.public_base_url = sim_url
    feed_url = f"http://127.0.0.1:{feed_port}/feed.xml"
    runners = [await serve(sim.app, sim_port), await serve(feed.app, feed_port)]
    load = os.getloadavg()
    print(
        f"{args.employees:,} linked employees; poll {args.poll:g} s; {args.runs} runs each; "
        f"{os.cpu_count()} cores, load average {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f}"
    )

    # Lean baseline first, alone on the machine's cores.
    user_ids = [sim.add_user(f"u{i}").user_id for i in range(args.employees)]
    for user_id in user_ids:
        sim.users[user_id].friend = True
    lean = asyncio.create_task(lean_poller(feed_url, sim_url, user_ids, args.poll))
    lean_times = []
    for run in range(args.runs):
        lean_times.append(
            await measure(
                sim, feed, bulletin(samples, run, "lean"), f"{run}_0_VXSE51_lean.xml", args.poll
            )
        )
    lean.cancel()

    config = replace(
        Config(
            database_url=database_url, line_channel_secret=SECRET,
            line_channel_access_token=TOKEN, line_login_channel_id=LOGIN, liff_id=LIFF_ID,
            public_base_url=f"http://127.0.0.1:{bot_port}", secret_key="bench", port=bot_port,
            workers=("jma", "delivery"), jma_feed_url=feed_url, jma_poll_seconds=args.poll,
        ).on_line_host(sim_url)
    )  # fmt: skip
    app = create_app(config)
    runners.append(await serve(app, bot_port))
    for i, user_id in enumerate(user_ids):
        employee = await Employee.create(code=f"E{i:06d}", name=f"社員{i}")
        await LineAccount.create(user_id=user_id, display_name=f"u{i}", employee=employee)
    await rules.add_rule(
        Actor.cli(),
        rules.RuleDraft(name="岩手", min_intensity="3", areas=("岩手県",), suppress_minutes=0),
    )
    product_times = []
    for run in range(args.runs):
        product_times.append(
            await measure(
                sim, feed, bulletin(samples, run, "anpi"), f"{run}_0_VXSE51_anpi.xml", args.poll
            )
        )
    # Let the last alert's deliveries finish before stopping (they are recorded after LINE
    # accepted them; stopping mid-record only makes noise here).
    for _ in range(2000):
        if not await Delivery.filter(
            status__in=(DeliveryStatus.PENDING, DeliveryStatus.SENDING)
        ).exists():
            break
        await asyncio.sleep(0.01)
    for runner in reversed(runners):
        await runner.cleanup()

    def line(label: str, times: list[tuple[float, float]]) -> str:
        total = [t for t, _ in times]
        after = [a for _, a in times]
        return (
            f"{label}: bulletin in feed -> first multicast accepted: "
            f"mean {statistics.mean(total):.2f} s, max {max(total):.2f} s; "
            f"after the poll that saw it: mean {statistics.mean(after) * 1000:.0f} ms, "
            f"max {max(after) * 1000:.0f} ms"
        )

    print(line("lean baseline", lean_times))
    print(line("anpi (jma + delivery workers)", product_times))
    print(f"target: poll interval + 2 s = {args.poll + 2:g} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poll", type=float, default=60.0, help="JMA_POLL_SECONDS")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--employees", type=int, default=1000)
    parser.add_argument("--samples", default="../shared/jma-samples")
    asyncio.run(main(parser.parse_args()))
