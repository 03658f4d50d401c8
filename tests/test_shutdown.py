"""`serve` and `demo` stop within 5 s of SIGINT or SIGTERM, even with requests in flight
between the bot and the local LINE platform, and exit 0."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
import time

import aiohttp
import pytest

from tests.conftest import ACCESS_TOKEN, LIFF_ID, LOGIN_CHANNEL_ID, SECRET, until
from tests.processes import (
    clean_env,
    demo_port,
    process_port,
    read_until,
    spawn_bot,
    start_demo,
)

STOP_WITHIN = 5.0  # the promise made to operators (see bot/lifecycle.py)
CLIENTS = 12


async def hammer(session: aiohttp.ClientSession, requests: list, done: list[int]) -> None:
    """Send the requests round and round until cancelled; count answers."""
    while True:
        for method, url, data in requests:
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with session.request(method, url, data=data, allow_redirects=True) as r:
                    await r.read()
                    done.append(r.status)


async def signal_mid_traffic(
    process: asyncio.subprocess.Process, requests: list, sig: signal.Signals
) -> float:
    """Start CLIENTS clients, signal once they are busy, return seconds until exit."""
    done: list[int] = []
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        clients = [asyncio.create_task(hammer(session, requests, done)) for _ in range(CLIENTS)]
        try:
            await until(lambda: len(done) >= 3 * CLIENTS, within=60)  # the traffic is going
            process.send_signal(sig)
            signalled = time.monotonic()
            try:
                await asyncio.wait_for(process.wait(), STOP_WITHIN)
            except TimeoutError:
                process.kill()
                await process.wait()
                pytest.fail(f"still running {STOP_WITHIN} s after {sig.name}")
            return time.monotonic() - signalled
        finally:
            for client in clients:
                client.cancel()
            await asyncio.gather(*clients, return_exceptions=True)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_demo_stops_quickly_mid_traffic(tmp_path, sig):
    port = demo_port()
    process, printed = await start_demo(tmp_path, port)
    try:
        urls = re.findall(r"https?://\S+", printed)
        answer_url = next(u for u in urls if "/_sim/open?" in u)
        chat_url = next(u for u in urls if "/_sim/chat/" in u)
        bot_url = f"http://localhost:{port}"
        requests = [
            # the user types in chat: a webhook to the bot, whose worker calls LINE back
            ("POST", f"{chat_url}/send", {"text": "連携"}),
            ("POST", f"{chat_url}/send", {"text": "こんにちは"}),
            # the answer link walks the local LIFF host to the bot's page
            ("GET", answer_url, None),
            ("GET", f"{bot_url}/healthz", None),
        ]
        await signal_mid_traffic(process, requests, sig)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, (await process.stdout.read()).decode()[-2000:]


async def test_serve_stops_quickly_mid_traffic_on_sigterm(tmp_path, sim):
    port = process_port()
    env = clean_env(
        DATABASE_URL=f"sqlite://{tmp_path}/anpi.sqlite3",
        LINE_CHANNEL_SECRET=SECRET,
        LINE_CHANNEL_ACCESS_TOKEN=ACCESS_TOKEN,
        LINE_LOGIN_CHANNEL_ID=LOGIN_CHANNEL_ID,
        LIFF_ID=LIFF_ID,
        SECRET_KEY="test-secret-key",
        PORT=str(port),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        LINE_API_BASE_URL=sim.config.public_base_url,
        LINE_ACCESS_BASE_URL=sim.config.public_base_url,
        LIFF_BASE_URL=f"{sim.config.public_base_url}/liff",
    )
    migrate = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "migrate", cwd=tmp_path, env=env
    )
    assert await migrate.wait() == 0
    process = await spawn_bot("serve", cwd=tmp_path, env=env)
    try:
        await read_until(process, "serving on")
        sim.config.webhook_url = f"http://127.0.0.1:{port}/callback"
        user = sim.add_user("太郎")
        await sim.follow(user.user_id)
        # The simulator's chat endpoints post signed webhooks to `serve`.
        sim_url = sim.config.public_base_url
        requests = [
            ("POST", f"{sim_url}/_sim/chat/{user.user_id}/send", {"text": "連携"}),
            ("POST", f"{sim_url}/_sim/chat/{user.user_id}/send", {"text": "元気です"}),
            ("GET", f"http://127.0.0.1:{port}/healthz", None),
        ]
        await signal_mid_traffic(process, requests, signal.SIGTERM)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, (await process.stdout.read()).decode()[-2000:]
