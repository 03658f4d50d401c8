"""How long does a real sign-in take while bad console logins flood the hash queue?

Runs the real app (production Argon2 cost) in this process on loopback, on a fresh SQLite
database (or PostgreSQL with --database-url). A second process plays 16 addresses
(127.0.0.2…) x 8 clients; each round, all 128 post a bad console login at once (a new login
each, so every one reaches the hash check) and this process, once checks wait in the queue,
times a real employee-page sign-in (an unauthenticated check: served, or refused at once
with 429) and a signed-in employee's password change (a known caller, ahead of the flood).
The same probes without a flood, in the same run, are the baseline. Nothing is asserted.

Usage: python -m benchmarks.sign_in_flood [--rounds 3] [--database-url URL]
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
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import unused_port

from bot.app import create_app
from bot.config import Config
from bot.lifecycle import make_runner
from domain import hashing
from models import Department, Employee
from models.db import close_database, migrate, open_database

ADDRESSES, PER_ADDRESS = 16, 8
PASSWORDS = ("sakura-2024-anpi", "momiji-2025-anpi")  # the probe's password change alternates
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _open(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(url) as response:
        return CSRF.search(await response.text()).group(1)


async def _flood(bot_url: str, rounds: int, go, done, results) -> None:
    sessions, tokens = [], []
    for n in range(ADDRESSES):
        for _ in range(PER_ADDRESS):
            connector = aiohttp.TCPConnector(local_addr=(f"127.0.0.{n + 2}", 0))
            session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)
            )
            sessions.append(session)
            tokens.append(await _open(session, f"{bot_url}/console/login"))

    async def bad_login(session: aiohttp.ClientSession, token: str) -> int:
        form = {"csrf_token": token, "login": f"guess{secrets.token_hex(4)}", "password": "x" * 12}
        async with session.post(
            f"{bot_url}/console/login", data=form, allow_redirects=False
        ) as response:
            await response.read()
            return response.status

    statuses: Counter = Counter()
    loop = asyncio.get_running_loop()
    for _ in range(rounds):
        await loop.run_in_executor(None, go.wait)
        go.clear()
        pairs = zip(sessions, tokens, strict=True)
        answers = await asyncio.gather(*(bad_login(s, t) for s, t in pairs))
        statuses.update(answers)
        done.set()
    for session in sessions:
        await session.close()
    results.put(dict(statuses))


def flood_process(bot_url: str, rounds: int, go, done, results) -> None:
    """The attacker's process: a burst of bad logins each time it is told to go."""
    asyncio.run(_flood(bot_url, rounds, go, done, results))


class Employee028:
    """The employee who signs in and changes their password, from 127.0.0.1."""

    def __init__(self, bot_url: str) -> None:
        self.bot_url = bot_url
        self.password = PASSWORDS[0]
        self.signed_in = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def sign_in(self) -> tuple[float, int]:
        """A fresh browser's sign-in: its seconds and status (303 in, 429 refused)."""
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
            token = await _open(browser, f"{self.bot_url}/me/login")
            form = {"csrf_token": token, "employee_code": "E028", "secret": self.password}
            t0 = time.perf_counter()
            async with browser.post(
                f"{self.bot_url}/me/login", data=form, allow_redirects=False
            ) as response:
                await response.read()
                return time.perf_counter() - t0, response.status

    async def change_password(self) -> tuple[float, int]:
        """The signed-in session's password change: its seconds and status (303 saved)."""
        if not self.signed_in.cookie_jar:
            token = await _open(self.signed_in, f"{self.bot_url}/me/login")
            form = {"csrf_token": token, "employee_code": "E028", "secret": self.password}
            async with self.signed_in.post(f"{self.bot_url}/me/login", data=form) as response:
                await response.read()
        token = await _open(self.signed_in, f"{self.bot_url}/me/password")
        new = PASSWORDS[1] if self.password == PASSWORDS[0] else PASSWORDS[0]
        form = {"csrf_token": token, "current": self.password, "password": new, "confirm": new}
        t0 = time.perf_counter()
        async with self.signed_in.post(
            f"{self.bot_url}/me/password", data=form, allow_redirects=False
        ) as response:
            await response.read()
            seconds, status = time.perf_counter() - t0, response.status
        if status == 303:
            self.password = new
        return seconds, status


async def seed() -> None:
    """Employee E028 with a page password."""
    department = await Department.create(name="総務部")
    await Employee.create(
        code="E028",
        name="山田 太郎",
        department=department,
        password_hash=await hashing.hash_secret(PASSWORDS[0]),
    )


def line(name: str, samples: list[tuple[float, int]]) -> str:
    """One probe's figures: median and max in ms, and the statuses."""
    seconds = [s for s, _ in samples]
    statuses = Counter(status for _, status in samples)
    answers = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
    return (
        f"  {name}: p50 {statistics.median(seconds) * 1000:.0f} ms, "
        f"max {max(seconds) * 1000:.0f} ms ({answers})"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="anpi-bench-"))
    database_url = args.database_url or f"sqlite://{workdir}/bench.sqlite3"
    port = unused_port()
    bot_url = f"http://127.0.0.1:{port}"
    config = Config(
        database_url=database_url,
        line_channel_secret="bench-secret",
        line_channel_access_token="bench-token",
        line_login_channel_id="1000000000",
        liff_id="x",
        public_base_url=bot_url,
        secret_key="k",
        port=port,
        workers=(),
    )
    await migrate(database_url)
    await open_database(database_url)
    try:
        await seed()
    finally:
        await close_database()
    runner = make_runner(create_app(config), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    spawn = multiprocessing.get_context("spawn")
    go, done, results = spawn.Event(), spawn.Event(), spawn.Queue()
    attacker = spawn.Process(target=flood_process, args=(bot_url, args.rounds, go, done, results))
    attacker.start()
    employee = Employee028(bot_url)
    loop = asyncio.get_running_loop()
    print(
        f"database: {database_url.split(':')[0]}; hash slots {hashing.HASH_SLOTS}, "
        f"at most {hashing.MAX_WAITING} unauthenticated checks waiting; {args.rounds} rounds "
        f"of {ADDRESSES} addresses x {PER_ADDRESS} bad console logins at once"
    )
    try:
        quiet_in, quiet_change = [], []
        for _ in range(args.rounds):
            quiet_in.append(await employee.sign_in())
            quiet_change.append(await employee.change_password())
        print("no flood:")
        print(line("/me/ sign-in", quiet_in))
        print(line("/me/ password change (signed in)", quiet_change))

        flood_in, flood_change, deepest = [], [], 0
        for _ in range(args.rounds):
            done.clear()
            go.set()
            for _ in range(6000):  # up to 30 s for the flood to fill the queue
                if hashing.waiting() >= hashing.MAX_WAITING:
                    break
                await asyncio.sleep(0.005)  # the flood comes from another process: poll
            deepest = max(deepest, hashing.waiting())
            flood_in.append(await employee.sign_in())
            flood_change.append(await employee.change_password())
            await loop.run_in_executor(None, done.wait, 120)
        statuses = await loop.run_in_executor(None, results.get, True, 60)
        answers = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
        print(f"flood (queue {deepest} deep when the probes started):")
        print(line("/me/ sign-in", flood_in))
        print(line("/me/ password change (signed in)", flood_change))
        print(f"  bad console logins: {sum(statuses.values())} ({answers})")
    finally:
        attacker.join(30)
        await employee.signed_in.close()
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
