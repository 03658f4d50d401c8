"""A rolling restart: `serve` stopped by SIGTERM in the middle of an alert turns unready and
answers the webhook 503 at once (LINE redelivers), releases the batches it claimed under
their retry keys, and exits within its bounded stop; a second process (a `worker` beside it
on PostgreSQL, the same `serve` started again on SQLite) resumes them at once, not after
DELIVERY_STALE_SECONDS (left at its two minutes), and the local LINE platform counts every
employee's alert exactly once.

The platform is slowed for the stopping process: its first multicast is accepted and its
answer held (a resend must be recognised: 409), the others are held before LINE looks at
them (a resend is delivered)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections import Counter

import aiohttp
from aiohttp import web

from domain.actors import Actor
from domain.alerts import find_template, start_alert
from domain.notify import postgres_dsn
from line_simulator.webhook_sender import signature
from models import Delivery, DeliveryStatus
from tests.conftest import SECRET, until
from tests.processes import (
    SERVE_READY,
    WORKER_READY,
    BotProcess,
    line_env,
    linked_staff,
    local_port,
    process_port,
    simulator_on_ports,
)

STAFF = 2000  # four multicasts, all claimed and in flight at once
MULTICAST = "/v2/bot/message/multicast"
LOST = {"message": "An error occurred in the backend server."}
WEBHOOK = json.dumps({"destination": "Ubot", "events": []}).encode()


class SlowLine:
    """Holds every multicast from `port` until `release`: the first after LINE accepted it,
    the others before LINE looked at them."""

    def __init__(self) -> None:
        self.port = 0
        self.held: list[str] = []  # retry keys of the held multicasts
        self.accepted_key: str | None = None
        self.release = asyncio.Event()

    def middleware(self) -> object:
        @web.middleware
        async def slow(request: web.Request, handler):  # type: ignore[no-untyped-def]
            if request.path != MULTICAST or local_port(request) != self.port:
                return await handler(request)
            key = request.headers.get("X-Line-Retry-Key", "")
            if self.accepted_key is None:
                self.accepted_key = key
                response = await handler(request)  # LINE accepted and delivered it
                self.held.append(key)
                await self.release.wait()
                return response
            self.held.append(key)
            await self.release.wait()
            return web.json_response(LOST, status=500)  # LINE never saw it

        return slow


async def webhooks_and_readiness(port: int, seen: dict[str, Counter]) -> None:
    """Post signed webhooks to /callback and ask /readyz, round and round until cancelled,
    counting each answer's status under `seen["callback"]` and `seen["readyz"]`."""
    headers = {"X-Line-Signature": signature(SECRET, WEBHOOK), "Content-Type": "application/json"}
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while True:
            for name in ("callback", "readyz"):
                try:
                    if name == "callback":
                        request = session.post(f"{base}/callback", data=WEBHOOK, headers=headers)
                    else:
                        request = session.get(f"{base}/readyz")
                    async with request as response:
                        body = await response.text()
                        seen[name][response.status] += 1
                        if name == "readyz" and response.status == 503:
                            assert json.loads(body)["status"] == "stopping", body
                except (aiohttp.ClientError, TimeoutError):
                    seen[name][None] += 1  # the port has closed
                    await asyncio.sleep(0.01)
                    await asyncio.sleep(0.01)


async def all_sent() -> bool:
    """Whether every delivery is marked sent."""
    return not await Delivery.exclude(status=DeliveryStatus.SENT).exists()


async def test_a_serve_stopped_mid_alert_hands_its_batches_over_and_everyone_gets_it_once(
    tmp_path, db
):
    postgres = postgres_dsn(db) is not None
    slow = SlowLine()
    async with simulator_on_ports(2, slow.middleware()) as (sim, (stopping_url, other_url)):
        slow.port = int(stopping_url.rsplit(":", 1)[1])
        staff = await linked_staff(sim, STAFF)
        port = process_port()
        first = await BotProcess.start(
            "serve", cwd=tmp_path, env=line_env(stopping_url, db, port), ready=SERVE_READY
        )
        processes = [first]
        seen: dict[str, Counter] = {"callback": Counter(), "readyz": Counter()}
        traffic: asyncio.Task[None] | None = None
        try:
            await start_alert(Actor.cli(), await find_template("earthquake"), drill=True)
            await until(lambda: len(slow.held) >= 2, within=60)  # mid-flight
            if postgres:  # another process runs beside it; the first holds every batch now
                processes.append(
                    await BotProcess.start(
                        "worker", cwd=tmp_path, env=line_env(other_url, db), ready=WORKER_READY
                    )
                )
            traffic = asyncio.create_task(webhooks_and_readiness(port, seen))
            await until(lambda: seen["callback"][200] and seen["readyz"][200], within=30)
            code = await first.stop(signal.SIGTERM)  # exits within STOP_WITHIN, or fails
            assert code == 0, first.output[-3000:]
            traffic.cancel()
            slow.release.set()
            if not postgres:  # SQLite: the same serve, started again
                processes.append(
                    await BotProcess.start(
                        "serve",
                        cwd=tmp_path,
                        env=line_env(other_url, db, process_port()),
                        ready=SERVE_READY,
                    )
                )
            await until(all_sent, within=60)  # DELIVERY_STALE_SECONDS is 120: released
        finally:
            if traffic is not None:
                traffic.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await traffic
            slow.release.set()
            codes = [await process.stop() for process in processes[1:]]
        output = "".join(p.output[-2000:] for p in processes)
        assert codes == [0], output

        # Requests that came during the stop were refused, for LINE to redeliver elsewhere.
        assert seen["callback"][503] and seen["readyz"][503], (seen, output)
        assert "claimed deliveries released" in first.output, output
        received = Counter(len(sim.messages_for(user_id)) for user_id in staff)
        assert received == {1: STAFF}, output
        assert sim.billable_deliveries == STAFF
        # Every held batch was sent again under its key (LINE saw only the accepted one held):
        # 409 for the one LINE had accepted, delivered for the others.
        by_key: dict[str | None, list[int]] = {}
        for request in sim.sent:
            by_key.setdefault(request.retry_key, []).append(request.status)
        assert by_key.pop(slow.accepted_key) == [200, 409]
        assert set(slow.held) - {slow.accepted_key} <= set(by_key)
        assert all(statuses == [200] for statuses in by_key.values()), by_key
