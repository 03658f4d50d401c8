"""A `serve` killed (SIGKILL: no cleanup at all) at any point of a send and started again
delivers every employee's alert exactly once, as the local LINE platform counts it.

The platform stops the send where the test wants it: a multicast is held before the platform
looks at it (the request never reached LINE) or after LINE accepted it (the answer never
reached the bot). The bot is killed while it waits, the held request is let go, and a new
`serve` resumes the claimed batch under its stored retry key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from bot.config import Config, ConfigError
from domain.actors import Actor
from domain.alerts import find_template, start_alert
from domain.delivery import EngineSettings
from line_simulator import Simulator
from models import Delivery, DeliveryStatus
from tests.conftest import until
from tests.processes import (
    SERVE_READY,
    BotProcess,
    line_env,
    linked_staff,
    process_port,
    simulator_on_ports,
)

STAFF = 600  # two multicasts: 500, then 100
MULTICAST = "/v2/bot/message/multicast"
LOST = {"message": "An error occurred in the backend server."}


@dataclass
class Stop:
    """Hold the `nth` multicast `before` LINE looks at it, or `after` LINE accepted it."""

    nth: int
    where: str
    held: asyncio.Event = field(default_factory=asyncio.Event)  # the bot is waiting now
    release: asyncio.Event = field(default_factory=asyncio.Event)
    retry_key: str | None = None

    def middleware(self) -> object:
        seen = 0

        @web.middleware
        async def stop_a_multicast(request: web.Request, handler):  # type: ignore[no-untyped-def]
            nonlocal seen
            if request.path != MULTICAST:
                return await handler(request)
            seen += 1
            if seen != self.nth:
                return await handler(request)
            self.retry_key = request.headers.get("X-Line-Retry-Key")
            if self.where == "before":
                self.held.set()
                await self.release.wait()
                return web.json_response(LOST, status=500)  # LINE never saw it
            response = await handler(request)  # LINE accepted and delivered it
            self.held.set()
            await self.release.wait()
            return response

        return stop_a_multicast


POINTS = {
    "before_the_first_request": Stop(1, "before"),
    "mid_send_between_batches": Stop(2, "before"),
    "after_line_accepted_before_marking": Stop(1, "after"),
}


@pytest.fixture(params=list(POINTS))
def stop(request: pytest.FixtureRequest) -> Stop:
    point = POINTS[request.param]
    return Stop(point.nth, point.where)


@pytest.fixture
async def platform(stop: Stop) -> AsyncIterator[tuple[Simulator, str]]:
    async with simulator_on_ports(1, stop.middleware()) as (simulator, urls):
        try:
            yield simulator, urls[0]
        finally:
            stop.release.set()  # a held request must not keep the platform from stopping


async def serve(tmp_path, sim_url: str, database_url: str) -> BotProcess:
    """`python -m bot serve` that resumes a dead process's batch after a second, not two
    minutes."""
    port = process_port()
    env = line_env(sim_url, database_url, port, DELIVERY_STALE_SECONDS="1")
    return await BotProcess.start("serve", cwd=tmp_path, env=env, ready=SERVE_READY)


async def all_sent() -> bool:
    """Whether every delivery is marked sent."""
    return not await Delivery.exclude(status=DeliveryStatus.SENT).exists()


async def test_a_serve_killed_mid_send_resumes_and_everyone_gets_the_alert_once(
    tmp_path, db, platform, stop
):
    sim, sim_url = platform
    staff = await linked_staff(sim, STAFF)
    first = await serve(tmp_path, sim_url, db)
    try:
        await start_alert(Actor.cli(), await find_template("earthquake"), drill=True)
        await until(stop.held.is_set, within=120)
    finally:
        await first.kill()
        stop.release.set()
    killed_output = first.output

    second = await serve(tmp_path, sim_url, db)
    try:
        # Well before the production default (two minutes) would let the batch be resumed.
        await until(all_sent, within=90)
    finally:
        code = await second.stop()
    assert code == 0, second.output[-3000:]

    received = {user_id: len(sim.messages_for(user_id)) for user_id in staff}
    assert set(received.values()) == {1}, killed_output[-2000:] + second.output[-2000:]
    assert sim.billable_deliveries == STAFF
    # The batch the dead process held was sent again under the same retry key: delivered then
    # (LINE had not seen it) or answered 409 (LINE had accepted it already).
    resent = [r.status for r in sim.sent if r.retry_key == stop.retry_key]
    assert resent[-1] == (200 if stop.where == "before" else 409)
    assert not [r for r in sim.sent if r.status not in (200, 409)]


def test_a_dead_processs_batch_waits_two_minutes_unless_the_operator_says_otherwise():
    assert Config().delivery_stale_seconds == EngineSettings().stale_after.total_seconds()
    assert Config.from_env({"DELIVERY_STALE_SECONDS": "1.5"}).delivery_stale_seconds == 1.5
    for raw in ("0", "-3", "soon", "nan"):
        with pytest.raises(ConfigError, match=r"^DELIVERY_STALE_SECONDS must be a number"):
            Config.from_env({"DELIVERY_STALE_SECONDS": raw})
