"""The notifier: domain functions publish that work appeared (an event stored, an alert
started, an answer given); workers and live views subscribe and wake at once.

Within one process a publish reaches every subscriber directly. On PostgreSQL a bridge sends
it through `pg_notify` and a LISTEN connection fans it out again in every process (this one
included), so a `serve` and separate workers wake on each other's work."""

import asyncio
import contextlib
import enum
import logging
from collections.abc import Callable

import asyncpg
from tortoise import connections

log = logging.getLogger(__name__)

Subscriber = Callable[[str], None]


class Topic(enum.StrEnum):
    """What happened; the value is the PostgreSQL channel name."""

    INBOX = "anpi_inbox"  # webhook events stored
    DELIVERY = "anpi_delivery"  # deliveries written (an alert or a reminder started)
    ANSWER = "anpi_answer"  # an answer stored or the alert closed (payload: the alert ID)
    BOARD = "anpi_board"  # a board post or reply stored (payload: the alert ID)


class Notifier:
    """Fan-out of topics to subscriber callbacks, optionally across processes."""

    def __init__(self) -> None:
        self._subscribers: dict[Topic, set[Subscriber]] = {topic: set() for topic in Topic}
        self._bridge: PostgresBridge | None = None

    def subscribe(self, topic: Topic, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(payload)` on every publish of `topic`; return the unsubscriber."""
        self._subscribers[topic].add(callback)
        return lambda: self._subscribers[topic].discard(callback)

    async def publish(self, topic: Topic, payload: str = "") -> None:
        """Tell every subscriber (in every process, through the bridge) that `topic` happened.

        Call it after the transaction that made the work visible has committed."""
        bridge = self._bridge
        if bridge is not None:
            try:
                await bridge.send(topic, payload)
                return
            except Exception as exc:  # the workers' poll still finds the work
                log.warning("pg_notify on %s failed: %s", topic.value, type(exc).__name__)
        self.deliver(topic, payload)

    def deliver(self, topic: Topic, payload: str) -> None:
        """Run this process's subscribers of `topic`."""
        for callback in list(self._subscribers[topic]):
            try:
                callback(payload)
            except Exception:
                log.exception("subscriber of %s failed", topic.value)

    def attach(self, bridge: "PostgresBridge | None") -> None:
        """Route publishes through `bridge` (None: back to in-process only)."""
        self._bridge = bridge


notifier = Notifier()


class PostgresBridge:
    """LISTEN on every topic over one dedicated connection; NOTIFY over the ORM's pool."""

    def __init__(self, target: Notifier, dsn: str) -> None:
        self._target = target
        self._dsn = dsn
        self._connection: asyncpg.Connection | None = None

    async def start(self) -> None:
        """Open the listening connection and subscribe to every topic."""
        self._connection = await asyncpg.connect(self._dsn)
        for topic in Topic:
            await self._connection.add_listener(topic.value, self._received)

    async def stop(self) -> None:
        """Close the listening connection (bounded: a dead server must not stall a stop)."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            async with asyncio.timeout(2):
                await connection.close()
        except (TimeoutError, OSError, asyncpg.PostgresError):
            connection.terminate()

    async def send(self, topic: Topic, payload: str) -> None:
        """NOTIFY every listening process (this one included)."""
        await connections.get("default").execute_query(
            "SELECT pg_notify($1, $2)", [topic.value, payload]
        )

    def _received(self, _connection: object, _pid: int, channel: str, payload: str) -> None:
        with contextlib.suppress(ValueError):
            self._target.deliver(Topic(channel), payload)


def postgres_dsn(database_url: str) -> str | None:
    """The asyncpg DSN for a Tortoise PostgreSQL URL; None for any other database."""
    for scheme in ("postgres://", "postgresql://", "asyncpg://", "psycopg://"):
        if database_url.startswith(scheme):
            return "postgresql://" + database_url[len(scheme) :]
    return None
