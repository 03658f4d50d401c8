"""The client-side rate limiter: every LINE endpoint stays under its limit, also when two
processes send at once through the bucket they share on PostgreSQL. The local LINE platform
counts requests with its own clock and answers 429 past LINE's limits, so "no 429" is the
proof; nothing here times our side."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest

from bot.line_api import LineApi
from domain import line_rate
from domain.delivery import SendOutcome
from domain.line_rate import (
    LIMITS,
    Limit,
    MemoryRateLimiter,
    PostgresRateLimiter,
    endpoint_of,
    open_rate_limiter,
)
from domain.notify import postgres_dsn
from models import RateBucket
from tests.conftest import ACCESS_TOKEN

TEXT = [{"type": "text", "text": "テスト"}]


@pytest.mark.parametrize(
    ("method", "path", "endpoint"),
    [
        ("POST", "/v2/bot/message/multicast", "multicast"),
        ("POST", "/v2/bot/message/push", "push"),
        ("POST", "/v2/bot/message/reply", "reply"),
        ("POST", "/v2/bot/message/broadcast", "broadcast"),
        ("POST", "/v2/bot/message/narrowcast", "narrowcast"),
        ("POST", "/v2/bot/richmenu", "richmenu_create"),
        ("DELETE", "/v2/bot/richmenu/richmenu-0123", "richmenu_delete"),
        ("DELETE", "/v2/bot/richmenu/alias/anpi-linked", "other"),
        ("GET", "/v2/bot/richmenu/richmenu-0123", "other"),
        ("POST", "/v2/bot/richmenu/richmenu-0123/content", "other"),
        ("GET", "/v2/bot/message/quota", "other"),
        ("GET", "/v2/bot/profile/U0123", "other"),
    ],
)
def test_each_request_spends_from_its_endpoints_bucket(method, path, endpoint):
    assert endpoint_of(method, path) == endpoint


def test_no_hour_holds_more_than_an_hourly_limit_and_per_second_limits_keep_their_rate():
    for name, hourly in [("narrowcast", 60), ("richmenu_create", 100)]:
        limit = LIMITS[name]
        assert limit.burst + limit.rate * 3600 == pytest.approx(hourly)
    assert LIMITS["multicast"].rate == 200
    assert LIMITS["reply"].rate == LIMITS["push"].rate == 2000


class FakeTime:
    """A clock that moves only when a caller sleeps, recording each sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


async def test_a_burst_goes_at_once_and_the_rest_waits_its_turn():
    time = FakeTime()
    limiter = MemoryRateLimiter(clock=time.clock, sleep=time.sleep)
    burst = int(LIMITS["multicast"].burst)
    for _ in range(burst + 3):
        await limiter.acquire("multicast")
    # Each caller past the burst reserved the next slot: 1/200 s apart, no one asks twice.
    assert time.sleeps == pytest.approx([0.005, 0.010, 0.015])
    time.now += 1.0  # a second later the bucket is full again
    time.sleeps.clear()
    for _ in range(burst):
        await limiter.acquire("multicast")
    assert time.sleeps == []


async def test_replies_do_not_wait_behind_multicasts():
    time = FakeTime()
    limiter = MemoryRateLimiter(clock=time.clock, sleep=time.sleep)
    for _ in range(100):
        await limiter.acquire("multicast")
    time.sleeps.clear()
    for _ in range(int(LIMITS["reply"].burst)):
        await limiter.acquire("reply")
    assert time.sleeps == []


async def test_with_its_database_unreachable_the_limiter_falls_back_to_memory(caplog):
    limiter = PostgresRateLimiter("postgresql://nobody@127.0.0.1:9/none")  # never started
    await limiter.acquire("reply")
    assert "rate bucket for reply unavailable" in caplog.text


async def test_the_bucket_lives_where_the_processes_can_share_it(db):
    async with open_rate_limiter(db) as limiter:
        await limiter.acquire("multicast")
        if postgres_dsn(db) is None:
            assert isinstance(limiter, MemoryRateLimiter)
            assert await RateBucket.all().count() == 0
        else:
            bucket = await RateBucket.get(endpoint="multicast")
            assert bucket.tokens < LIMITS["multicast"].burst


@pytest.fixture
async def lines(sim, db) -> AsyncIterator[list[LineApi]]:
    """Two LINE clients as two processes have them: each with its own limiter (on
    PostgreSQL, its own pool on the shared table; on SQLite, one process, so one client)."""
    count = 1 if postgres_dsn(db) is None else 2
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(count):
            limiter = await stack.enter_async_context(open_rate_limiter(db))
            line = LineApi(sim.config.public_base_url, ACCESS_TOKEN, limiter=limiter)
            stack.push_async_callback(line.close)
            clients.append(line)
        yield clients


async def multicast_many(lines: list[LineApi], to: str, count: int) -> None:
    """Send `count` one-person multicasts, eight at a time from each client."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)

    async def sender(line: LineApi) -> None:
        while not queue.empty():
            queue.get_nowait()
            result = await line.multicast([to], TEXT, retry_key=str(uuid.uuid4()))
            assert result.outcome is SendOutcome.ACCEPTED, result

    await asyncio.gather(*(sender(line) for line in lines for _ in range(8)))


def statuses(sim) -> dict[int, int]:
    counted: dict[int, int] = {}
    for request in sim.sent:
        counted[request.status] = counted.get(request.status, 0) + 1
    return counted


@pytest.fixture
def slow_multicast(sim, monkeypatch):
    """Multicast limited to 20/s on both sides, so a busy machine sends far past it."""
    sim.config.rates["multicast"] = 20
    monkeypatch.setitem(line_rate.LIMITS, "multicast", Limit(rate=20, burst=2))


async def test_clients_sending_together_stay_under_the_platforms_limit(sim, lines, slow_multicast):
    user = sim.add_user("受信者")
    user.friend = True
    await multicast_many(lines, user.user_id, 60)  # three seconds' worth
    assert statuses(sim) == {200: 60}
    assert len(sim.messages_for(user.user_id)) == 60


async def test_clients_stay_under_lines_real_multicast_limit(sim, lines):
    user = sim.add_user("受信者")
    user.friend = True
    await multicast_many(lines, user.user_id, 300)  # over a second's worth of 200/s
    assert statuses(sim) == {200: 300}


async def test_without_the_limiter_the_platform_answers_429(sim, slow_multicast):
    """The check above can fail: the same traffic unlimited overruns the platform."""

    class NoLimit:
        async def acquire(self, endpoint: str) -> None:
            return None

    user = sim.add_user("受信者")
    user.friend = True
    line = LineApi(sim.config.public_base_url, ACCESS_TOKEN, limiter=NoLimit())
    try:
        results = await asyncio.gather(
            *(line.multicast([user.user_id], TEXT, str(uuid.uuid4())) for _ in range(60))
        )
    finally:
        await line.close()
    assert SendOutcome.RETRY in {r.outcome for r in results}
    assert statuses(sim).get(429, 0) > 0
