"""Keeping every LINE endpoint under its rate limit, across all the processes of a deployment.

LINE limits requests per channel and per endpoint (multicast 200/s, push and reply 2,000/s,
narrowcast and broadcast 60 an hour, creating and deleting rich menus 100 an hour, the rest
2,000/s) and answers 429 past them. Every request first takes a token from its endpoint's
bucket: `burst` tokens at most, refilled at `rate` per second, so no window of T seconds
carries more than burst + rate·T requests.

A caller that finds the bucket empty still takes its token (the count goes below zero) and
sleeps exactly the deficit: the count is a queue of reservations, so waiting callers never ask
again and never hammer the store. A caller cancelled while it waits gives up its place
unused, which only errs on the safe side.

Where the buckets live:
- PostgreSQL (`serve` and separate `worker`s share one channel): one `rate_bucket` row per
  endpoint, refilled and taken in one UPDATE by the database's own clock, over a small pool
  of our own so a caller's transaction never holds the row. Should that database not answer,
  the process falls back to its memory for that request rather than fail a reply.
- SQLite (the embedded, one-machine deployment: one `serve`): in memory. SQLite cannot be
  shared by processes on several machines, and one process's bucket is the deployment's.
  A `python -m bot send` beside `serve` is a second bucket for as long as it delivers; should
  the two together overrun LINE, the engine retries LINE's 429 under the same retry key, so
  it costs a second, never a second copy."""

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import asyncpg

from domain.notify import postgres_dsn

log = logging.getLogger(__name__)

HOUR = 3600.0


@dataclass(frozen=True)
class Limit:
    """A token bucket: at most `burst` requests at once, refilled at `rate` per second."""

    rate: float
    burst: float


def per_second(limit: float) -> Limit:
    """LINE's per-second limits are token buckets themselves: keep the rate, burst a tenth of
    it (LINE does not say how deep its bucket is; a tenth costs a few milliseconds)."""
    return Limit(rate=limit, burst=limit / 10)


def per_hour(limit: float) -> Limit:
    """An hourly allowance, however LINE counts it (a bucket or a sliding window): half at
    once, half refilled over the hour, so no hour ever holds more than `limit`."""
    return Limit(rate=limit / 2 / HOUR, burst=limit / 2)


OTHER = "other"  # every endpoint without a limit of its own shares 2,000/s (LINE: each has it)
LIMITS: dict[str, Limit] = {
    "multicast": per_second(200),
    "push": per_second(2000),
    "reply": per_second(2000),
    "narrowcast": per_hour(60),
    "broadcast": per_hour(60),
    "richmenu_create": per_hour(100),
    "richmenu_delete": per_hour(100),
    OTHER: per_second(2000),
}
SENDS = ("reply", "push", "multicast", "narrowcast", "broadcast")
RICH_MENU = re.compile(r"/v2/bot/richmenu/[^/]+")  # one menu (not an alias, not a bulk call)
LONG_WAIT = 1.0  # seconds of waiting worth a log line


def endpoint_of(method: str, path: str) -> str:
    """The bucket a Messaging API request (HTTP method and URL path) spends from."""
    method = method.upper()
    if method == "POST" and path.startswith("/v2/bot/message/"):
        name = path.removeprefix("/v2/bot/message/")
        if name in SENDS:
            return name
    if method == "POST" and path == "/v2/bot/richmenu":
        return "richmenu_create"
    if method == "DELETE" and RICH_MENU.fullmatch(path):
        return "richmenu_delete"
    return OTHER


def take(limit: Limit, tokens: float, elapsed: float) -> float:
    """The bucket's count after refilling for `elapsed` seconds and taking one token (below
    zero: that many callers are ahead in the queue)."""
    return min(limit.burst, tokens + max(0.0, elapsed) * limit.rate) - 1.0


def wait_for(limit: Limit, tokens: float) -> float:
    """Seconds until the token just taken is really there."""
    return max(0.0, -tokens / limit.rate)


class RateLimiter(Protocol):
    """What LineApi needs: wait until a request to `endpoint` is within LINE's limit."""

    async def acquire(self, endpoint: str) -> None:
        """Take one request of the endpoint's allowance, waiting for it if need be."""
        ...


Sleep = Callable[[float], Awaitable[None]]


async def _pause(endpoint: str, seconds: float, sleep: Sleep) -> None:
    if seconds <= 0:
        return
    if seconds >= LONG_WAIT:
        log.warning("LINE's rate limit for %s: waiting %.1f s", endpoint, seconds)
    await sleep(seconds)


class MemoryRateLimiter:
    """Buckets in this process's memory (SQLite; and the fallback on PostgreSQL)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Sleep = asyncio.sleep):
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[str, tuple[float, float]] = {}  # endpoint: (tokens, refilled at)

    async def acquire(self, endpoint: str) -> None:
        """Take a token now (no await between reading and writing the bucket) and wait
        the deficit."""
        limit = LIMITS.get(endpoint, LIMITS[OTHER])
        now = self._clock()
        tokens, refilled_at = self._buckets.get(endpoint, (limit.burst, now))
        tokens = take(limit, tokens, now - refilled_at)
        self._buckets[endpoint] = (tokens, max(now, refilled_at))
        await _pause(endpoint, wait_for(limit, tokens), self._sleep)


# Refill since the last taker and take one, by the database's clock, in one statement: the
# row lock orders concurrent takers. Old values on the right of SET (PostgreSQL's rule).
TAKE = """
UPDATE rate_bucket
SET tokens = LEAST($2::float8, tokens + GREATEST(0, clock.now - refilled_at) * $3::float8) - 1,
    refilled_at = GREATEST(refilled_at, clock.now)
FROM (SELECT extract(epoch FROM clock_timestamp())::float8 AS now) AS clock
WHERE endpoint = $1
RETURNING tokens
"""
# A bucket's first use: a full bucket (the next TAKE spends from it).
CREATE = """
INSERT INTO rate_bucket (endpoint, tokens, refilled_at)
VALUES ($1, $2::float8, extract(epoch FROM clock_timestamp())::float8)
ON CONFLICT (endpoint) DO NOTHING
"""
DB_PATIENCE = 2.0  # seconds the bucket's database may take before this process goes it alone


class PostgresRateLimiter:
    """Buckets in the `rate_bucket` table, shared by every process of the deployment."""

    def __init__(self, dsn: str, *, pool_size: int = 4, sleep: Sleep = asyncio.sleep) -> None:
        self._dsn = dsn
        self._pool_size = pool_size
        self._sleep = sleep
        self._pool: asyncpg.Pool | None = None
        self._fallback = MemoryRateLimiter(sleep=sleep)

    async def start(self) -> None:
        """Open the pool (its own: a caller's open transaction must not hold a bucket's row)."""
        self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=self._pool_size)

    async def close(self) -> None:
        """Close the pool (bounded, like the notifier's connection)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            async with asyncio.timeout(DB_PATIENCE):
                await pool.close()
        except (TimeoutError, OSError, asyncpg.PostgresError):
            pool.terminate()

    async def acquire(self, endpoint: str) -> None:
        """Take a token in the shared bucket and wait the deficit; with the database
        unreachable, take it from this process's memory instead."""
        limit = LIMITS.get(endpoint, LIMITS[OTHER])
        try:
            async with asyncio.timeout(DB_PATIENCE):
                tokens = await self._take(endpoint, limit)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("rate bucket for %s unavailable (%s)", endpoint, type(exc).__name__)
            await self._fallback.acquire(endpoint)
            return
        await _pause(endpoint, wait_for(limit, tokens), self._sleep)

    async def _take(self, endpoint: str, limit: Limit) -> float:
        if self._pool is None:
            raise asyncpg.InterfaceError("the rate limiter is not started")
        tokens = await self._pool.fetchval(TAKE, endpoint, limit.burst, limit.rate)
        if tokens is None:
            await self._pool.execute(CREATE, endpoint, limit.burst)
            tokens = await self._pool.fetchval(TAKE, endpoint, limit.burst, limit.rate)
        return float(tokens)


@contextlib.asynccontextmanager
async def open_rate_limiter(database_url: str) -> AsyncIterator[RateLimiter]:
    """The deployment's limiter for this database: the shared table on PostgreSQL, this
    process's memory on SQLite."""
    dsn = postgres_dsn(database_url)
    if dsn is None:
        yield MemoryRateLimiter()
        return
    limiter = PostgresRateLimiter(dsn)
    await limiter.start()
    try:
        yield limiter
    finally:
        await limiter.close()
