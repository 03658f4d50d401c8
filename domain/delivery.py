"""The delivery engine: claims pending LINE deliveries 500 at a time, multicasts several
batches at once under retry keys stored before sending, retries what LINE may still accept,
and records every outcome.

The outbox is written in batches: an alert round's LINE rows are numbered into batches of 500
by id range as they are written (`write_line_batches`), one `delivery_batch` row each, each
language's rows apart (the batch's `render_key`, matched by every range read), so claiming
a batch and recording LINE's acceptance write one row each (and the sent rows in one
statement), not one per recipient. LINE rows written without a batch number (by a writer
that does not batch, or before batches existed) are claimed row by row, as are the rows of a
batch an engine left claimed for another to resume.

A batch's retry key is written with the claim, before the request goes out, so a crash at
any point resumes with the same key and the same recipients: LINE answers 409 for a batch
it already accepted, and nobody gets a second copy. LINE remembers a key for 24 hours only,
so a batch whose key is older than `retry_key_window` is never re-sent blind: it is HELD for
a person to decide. The month's quota spent (LINE's "monthly limit" 429) halts LINE sending
for that alert, once. A multicast LINE refuses whole for a malformed recipient is split: the
recipient fails, the rest go out under a new key (LINE accepted nothing under the old one).

The engine knows LINE only through the small `LineSender` protocol (whose implementation
paces requests to LINE's rate limit) and renders each alert round's message once per
language."""

import asyncio
import bisect
import enum
import functools
import logging
import random
import secrets
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from tortoise import connections
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from domain.actors import Actor
from domain.audit import audited
from domain.i18n import DEFAULT_LANGUAGE
from domain.notify import Topic, notifier
from domain.usage import add_billable, japan_today, prepare_day
from models import (
    Alert,
    AlertRound,
    BatchStatus,
    Delivery,
    DeliveryBatch,
    DeliveryKind,
    DeliveryStatus,
    Medium,
)
from models.sql import positional

log = logging.getLogger(__name__)

MULTICAST_LIMIT = 500  # LINE: at most 500 user IDs per multicast
RENDERED_KEPT = 64  # rendered messages kept, one per (alert, round, language)
# A released claim's time: older than any engine's `stale_after`, so the next engine to look
# resumes the batch at once.
RELEASED_AT = datetime(2000, 1, 1, tzinfo=UTC)


class SendOutcome(enum.Enum):
    """How LINE answered a push or multicast."""

    ACCEPTED = "accepted"  # 2xx
    ALREADY_ACCEPTED = "already_accepted"  # 409 for our retry key: an earlier try went through
    RETRY = "retry"  # 429 rate limit, 5xx, timeout, connection error: try again, same key
    REJECTED = "rejected"  # other 4xx, or the month's quota is spent: retrying will not help


@dataclass(frozen=True)
class SendResult:
    """The outcome of one send, with LINE's status and message for the record.

    `refused_recipients`: when LINE refused a multicast only for some of its recipients (every
    detail of its 400 names a `to[i]`), their positions in `to` with LINE's message."""

    outcome: SendOutcome
    status: int | None = None
    detail: str = ""
    refused_recipients: tuple[tuple[int, str], ...] = ()

    @property
    def quota_spent(self) -> bool:
        """LINE's monthly limit: the only 429 that is refused rather than retried."""
        return self.outcome is SendOutcome.REJECTED and self.status == 429


class LineSender(Protocol):
    """What the engine needs of LINE."""

    async def multicast(
        self, user_ids: list[str], messages: list[dict[str, Any]], retry_key: str
    ) -> SendResult:
        """Send to at most 500 users under one retry key."""
        ...


# Builds the one message of a batch from stored fields only, so a resumed send is identical.
# Called as render(alert, kind, round, language): one rendering per (round, language).
Render = Callable[[Alert, DeliveryKind, AlertRound | None, str], dict[str, Any]]


@dataclass
class EngineSettings:
    """Tunables; tests shorten the waits."""

    # Recipients per multicast. At LINE's 500 the engine claims the batches written with the
    # rows (one row each); a smaller size (tests) claims rows one by one, ignoring them.
    batch_size: int = MULTICAST_LIMIT
    # Multicasts in flight at once. The sender paces them to LINE's 200 requests/s; many in
    # flight keep that pace while some wait for LINE's answer or back off.
    concurrency: int = 32
    # A worker step claims at most this many batches (500,000 recipients), then waits for its
    # sends: large, since that wait idles the other slots while the slowest batch retries.
    batches_per_step: int = 1000
    claim_ahead: int = 8  # batches claimed by one statement (one commit), sent as slots free
    attempts_per_claim: int = 20  # then the batch is left claimed, resumed once stale
    max_attempts: int = 20  # then it fails
    backoff_base: float = 0.25
    backoff_cap: float = 30.0
    # LINE's rate-limit 429: its buckets refill within a second, so waiting longer only
    # delays people (5xx and timeouts back off to `backoff_cap`).
    rate_limited_cap: float = 1.0
    stale_after: timedelta = timedelta(minutes=2)
    # LINE forgets a retry key 24 hours after accepting it; an hour of margin.
    retry_key_window: timedelta = timedelta(hours=23)
    idle_poll: float = 2.0


def new_retry_key(at: datetime | None = None) -> str:
    """A fresh retry key: a version 7 UUID, whose first 48 bits are the moment it was minted
    (Unix milliseconds), so a stored key tells how long ago it could first have reached LINE."""
    ms = int((at or datetime.now(UTC)).timestamp() * 1000) & ((1 << 48) - 1)
    rand_a, rand_b = secrets.randbits(12), secrets.randbits(62)
    return str(uuid.UUID(int=ms << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b))


def retry_key_minted_at(key: str) -> datetime | None:
    """When a key of `new_retry_key` was minted; None for any other key (a version 4 UUID of
    an earlier release, or not a UUID)."""
    try:
        value = uuid.UUID(key)
    except ValueError:
        return None
    if value.version != 7:
        return None
    return datetime.fromtimestamp((value.int >> 80) / 1000, UTC)


# The id range of each language's batched LINE rows of an alert round, just written.
ROUND_IDS = """
SELECT language, MIN(id) AS first_id, MAX(id) AS last_id, COUNT(*) AS n FROM delivery
WHERE alert_id = ? AND "round" = ? AND medium = ? AND batched
GROUP BY language
ORDER BY first_id
"""


async def write_line_batches(connection: Any, alert_id: int, round_: int) -> int:
    """Write the batches of an alert round's LINE rows, just written with `batched` set in
    the caller's transaction, each language's rows apart (in their own statements): per
    language, consecutive id ranges of `MULTICAST_LIMIT` ids from its first row to its last,
    so no per-row work, numbered on across the languages. A batch's `render_key` is its
    language, and it names only rows of that language, so no multicast mixes languages.
    (Written in one statement, the rows' ids are consecutive and each batch holds 500; should
    other rows take ids between them, a batch holds fewer.) Return how many rows they cover."""
    found = await connection.execute_query_dict(
        positional(connection, ROUND_IDS), [alert_id, round_, Medium.LINE.value]
    )
    if not found:
        return 0
    kind = await connection.execute_query_dict(
        positional(connection, "SELECT kind FROM delivery WHERE id = ?"), [found[0]["first_id"]]
    )
    batches: list[DeliveryBatch] = []
    for language in found:
        first, last = language["first_id"], language["last_id"]
        batches += [
            DeliveryBatch(
                alert_id=alert_id,
                round=round_,
                kind=DeliveryKind(kind[0]["kind"]),
                number=len(batches) + n,
                render_key=language["language"],
                first_id=start,
                last_id=min(last, start + MULTICAST_LIMIT - 1),
                status=BatchStatus.PENDING,
            )
            for n, start in enumerate(range(first, last + 1, MULTICAST_LIMIT))
        ]
    await DeliveryBatch.bulk_create(batches, batch_size=1000, using_db=connection)
    return sum(int(language["n"]) for language in found)


# Claim the next batches of an alert round from the batch table in one statement, each under
# its own key (`{keys}` as below); SKIP LOCKED on PostgreSQL, as below.
CLAIM_BATCHES = """
WITH picked AS MATERIALIZED (
    SELECT next_batches.id AS picked_id, ROW_NUMBER() OVER (ORDER BY next_batches.id) - 1 AS n
    FROM (
        SELECT id FROM delivery_batch
        WHERE status = ? AND alert_id = ? AND "round" = ? AND render_key = ?
        ORDER BY id LIMIT ?{lock}
    ) AS next_batches
)
UPDATE delivery_batch SET status = ?, claimed_at = ?, batch_key = CASE picked.n {keys} END
FROM picked
WHERE delivery_batch.id = picked.picked_id
AND (SELECT line_halted_at FROM alert WHERE id = ?) IS NULL
RETURNING id, number, first_id, last_id, attempts, batch_key
"""

# A batch's rows are read and written by id range through the primary key alone: the range
# is materialised first, so no plan walks the status index instead, as PostgreSQL's planner
# would while its statistics lag behind an alert of a million rows just written.
RANGE = """
WITH ranged AS MATERIALIZED (
    SELECT id, address, attempts, alert_id, "round", medium, language, status, batched
    FROM delivery WHERE id >= ? AND id <= ?
)
"""
IN_RANGE = (
    'alert_id = ? AND "round" = ? AND medium = ? AND language = ? AND batched'
    " AND status IN ({statuses})"
)
BATCH_ROWS = RANGE + f"SELECT id, address, attempts FROM ranged WHERE {IN_RANGE} ORDER BY id"
# RETURNING: for a statement that starts with WITH, Tortoise's PostgreSQL client counts the
# rows returned, not the rows updated.
UPDATE_RANGE = RANGE + (
    f"UPDATE delivery SET {{sets}} WHERE id IN (SELECT id FROM ranged WHERE {IN_RANGE})"
    " RETURNING id"
)
UNSETTLED = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


async def _update_range(
    alert_id: int, round_: int, language: str, first: int, last: int, **changes: Any
) -> int:
    """Write `changes` to the unsettled (pending or claimed) batched LINE rows of an alert
    round in `language` with an id from `first` to `last`; return how many rows changed."""
    client = connections.get("default")
    sql = UPDATE_RANGE.format(
        sets=", ".join(f'"{column}" = ?' for column in changes),
        statuses=", ".join("?" for _ in UNSETTLED),
    )
    values = [v.value if isinstance(v, enum.Enum) else v for v in changes.values()]
    changed, _ = await client.execute_query(
        positional(client, sql),
        [
            first,
            last,
            *values,
            alert_id,
            round_,
            Medium.LINE.value,
            language,
            *(status.value for status in UNSETTLED),
        ],
    )
    return int(changed)


# Claim the next batches of one alert round in one statement (one commit), each under its own
# key: `n` numbers the picked rows' batches, `{keys}` is `WHEN 0 THEN ? WHEN 1 THEN ? …`.
# SQLite has one writer at a time and walks the (status, medium) index in id order.
# PostgreSQL: SKIP LOCKED lets several engines claim side by side, and `{order}` is empty: the
# rows come in that index's order without sorting every pending row (statistics lag behind a
# 100,000-row alert, and the planner would sort them all, for every claim). They are picked
# once, in a materialised CTE (a plain IN subquery may run again and claim past the limit), and
# a locked row is re-checked against the WHERE, so what is picked is still pending. Rows of an
# alert whose LINE sending halted are never claimed.
CLAIM = """
WITH picked AS MATERIALIZED (
    SELECT next_rows.id AS picked_id, (ROW_NUMBER() OVER (ORDER BY next_rows.id) - 1) / ? AS n
    FROM (
        SELECT id FROM delivery
        WHERE status = ? AND medium = ? AND alert_id = ? AND "round" = ? AND language = ?{batched}
        {order}LIMIT ?{lock}
    ) AS next_rows
)
UPDATE delivery SET status = ?, claimed_at = ?, batch_key = CASE picked.n {keys} END
FROM picked
WHERE delivery.id = picked.picked_id
AND (SELECT line_halted_at FROM alert WHERE id = ?) IS NULL
RETURNING id, address, attempts, batch_key
"""


@dataclass
class Batch:
    """One multicast's rows, claimed under `key`, in the order they are sent."""

    key: str
    alert_id: int
    round: int
    kind: DeliveryKind
    ids: list[int]
    addresses: list[str]
    attempts: int  # attempts made before this claim
    message: dict[str, Any] = field(default_factory=dict)
    first_used: datetime | None = None  # the earliest the key can have reached LINE
    # A `delivery_batch` row carrying the claim (None: the rows carry it, keyed `key`).
    table: "_TableBatch | None" = None
    made: int = 0  # attempts under this claim


@dataclass(frozen=True)
class _TableBatch:
    """Where a claimed `delivery_batch` row's recipients are."""

    id: int
    number: int
    first_id: int
    last_id: int
    language: str  # its `render_key`: the language of its rows and of its message


@dataclass
class _Round:
    """The alert round a step is claiming from."""

    alert_id: int
    round: int
    kind: DeliveryKind
    message: dict[str, Any]
    language: str  # a batch holds recipients of one language (rendered in it)


@dataclass
class _Step:
    """What one `run_once` call is claiming."""

    alert_id: int | None
    include_stale: bool
    current: _Round | None = None
    done: set[tuple[int, int, str]] = field(default_factory=set)  # (round, language) sent
    ready: deque[Batch] = field(default_factory=deque)  # claimed, waiting for a free slot


class DeliveryEngine:
    """Sends what the outbox holds; several engines (processes) may share one database."""

    def __init__(
        self, line: LineSender, render: Render, settings: EngineSettings | None = None
    ) -> None:
        self.line = line
        self.render = render
        self.settings = settings or EngineSettings()
        self._rendered: dict[tuple[int, int, str], dict[str, Any]] = {}
        self._recorder = _SentRecorder()
        self._halted: dict[int, str] = {}  # alerts this engine saw LINE halt: their reason
        # Batches claimed by the step under way and not yet settled, by key (released on
        # stop). A batch whose acceptance is committed leaves it: a step of 1,000 batches
        # held all of theirs (500 addresses each), 63 MiB of a 1,000,000-people alert.
        self._claimed: dict[str, Batch] = {}

    async def run_until_idle(self, alert_id: int | None = None) -> None:
        """Send until nothing is pending (for the CLI and tests)."""
        while True:
            handled = await self.run_once(alert_id=alert_id, include_stale=False)
            if not handled:
                return

    async def run_once(self, alert_id: int | None = None, include_stale: bool = True) -> int:
        """Claim batches (stale ones first) and send them, `concurrency` at a time, until
        nothing is left to claim or the step's `batches_per_step` are claimed; return how
        many rows they held."""
        step = _Step(alert_id, include_stale)
        self._claimed = {}
        sending: set[asyncio.Task[None]] = set()
        recording: list[asyncio.Future[None]] = []  # accepted batches being recorded
        claiming: asyncio.Task[list[Batch]] | None = None  # the next claim, made ahead
        exhausted = False
        failures: list[BaseException] = []
        handled = claimed = 0

        def claim_next() -> asyncio.Task[list[Batch]]:
            wanted = min(self.settings.claim_ahead, self.settings.batches_per_step - claimed)
            return asyncio.create_task(self._claim(step, max(1, wanted)))

        try:
            while claimed < self.settings.batches_per_step:
                while len(sending) >= max(1, self.settings.concurrency):
                    done, sending = await asyncio.wait(sending, return_when=asyncio.FIRST_COMPLETED)
                    failures += _failures(done)
                if not step.ready and not exhausted:
                    found = await (claiming or claim_next())
                    claiming = None
                    step.ready.extend(found)
                    self._claimed.update((batch.key, batch) for batch in found)
                    exhausted = not found
                if not step.ready:
                    break
                batch = step.ready.popleft()
                claimed += 1
                handled += len(batch.ids)
                sending.add(asyncio.create_task(self._deliver(batch, recording)))
                # Claim the next batches while these are sent (they are claimed only once the
                # ready ones are half gone, so a step does not hold many more than it sends).
                if (
                    claiming is None
                    and not exhausted
                    and len(step.ready) <= self.settings.claim_ahead // 2
                    and claimed + len(step.ready) < self.settings.batches_per_step
                ):
                    claiming = claim_next()
            if claiming is not None:  # made ahead, not needed: its batches go out too
                found = await claiming
                claiming = None
                self._claimed.update((batch.key, batch) for batch in found)
                for batch in found:
                    handled += len(batch.ids)
                    sending.add(asyncio.create_task(self._deliver(batch, recording)))
            if sending:  # waited for inside the try, so a stop now cancels and releases them
                done, sending = await asyncio.wait(sending)
                failures += _failures(done)
            if recording:
                outcomes = await asyncio.gather(*recording, return_exceptions=True)
                failures += [o for o in outcomes if isinstance(o, BaseException)]
        except asyncio.CancelledError:
            # Shutting down: a batch cut off mid-send, or claimed and not yet sent, keeps its
            # key and is released for another engine to resume now.
            if claiming is not None:
                claiming.cancel()
                found = await asyncio.gather(claiming, return_exceptions=True)
                if isinstance(found[0], list):
                    self._claimed.update((batch.key, batch) for batch in found[0])
            for task in sending:
                task.cancel()
            await asyncio.gather(*sending, return_exceptions=True)
            await self._recorder.stop()
            await self._release(list(self._claimed.values()))
            raise
        finally:
            if sending and not any(task.cancelled() for task in sending):
                done, _ = await asyncio.wait(sending)
                failures += _failures(done)
        if exhausted or claimed < self.settings.batches_per_step:
            # Nothing left to send: mark the rows of what LINE accepted (this step's, and any
            # an engine that stopped left), now that no multicast waits behind the marking.
            await mark_accepted_sent()
        if failures:
            raise failures[0]
        return handled

    async def _release(self, batches: list[Batch]) -> None:
        """Leave this step's unsettled batches claimed under their keys but stale at once, so
        another engine resumes them now (LINE answers 409 for one it had accepted) rather than
        after `stale_after`. A failure leaves them to go stale as after a crash."""
        if not batches:
            return
        try:
            keys = sorted(batch.key for batch in batches if batch.table is None)
            released = 0
            if keys:
                released = await Delivery.filter(
                    batch_key__in=keys, status=DeliveryStatus.SENDING, medium=Medium.LINE
                ).update(claimed_at=RELEASED_AT)
            for batch in batches:
                if batch.table is not None:
                    released += await self._leave(batch, None, 0, RELEASED_AT)
        except Exception as exc:
            log.warning("releasing claimed batches failed (%s): they resume once stale", exc)
            return
        if released:
            log.warning("stopping: %d claimed deliveries released to resume elsewhere", released)
            await notifier.publish(Topic.DELIVERY)

    # Claiming

    async def _claim(self, step: _Step, batches: int) -> list[Batch]:
        if step.include_stale:
            batch = await self._claim_stale(step.alert_id)
            if batch is not None:
                return [batch]
            step.include_stale = False  # none left: the rest of the step claims fresh rows
        return await self._claim_pending(step, batches)

    async def _claim_pending(self, step: _Step, batches: int) -> list[Batch]:
        while True:
            if step.current is None:
                step.current = await self._next_round(step)
                if step.current is None:
                    return []
            current = step.current
            claimed = await self._claim_batches(current, batches)
            if claimed is None:
                claimed = await self._claim_rows(current, batches)
            if claimed:
                return claimed
            # This round is sent, halted, or its last rows are another engine's: move on.
            step.done.add((current.alert_id, current.round, current.language))
            step.current = None

    async def _claim_batches(self, current: _Round, batches: int) -> list[Batch] | None:
        """Claim the round's next batches of the batch table; None when it has none left
        (or this engine claims rows one by one)."""
        if self.settings.batch_size != MULTICAST_LIMIT:
            return None
        client = connections.get("default")
        postgres = client.capabilities.dialect == "postgres"
        while True:
            keys = [new_retry_key() for _ in range(batches)]
            picked = await client.execute_query_dict(
                positional(
                    client,
                    CLAIM_BATCHES.format(
                        lock=" FOR UPDATE SKIP LOCKED" if postgres else "",
                        keys=" ".join(f"WHEN {n} THEN ?" for n in range(batches)),
                    ),
                ),
                [
                    BatchStatus.PENDING.value,
                    current.alert_id,
                    current.round,
                    current.language,
                    batches,
                    BatchStatus.SENDING.value,
                    datetime.now(UTC),
                    *keys,
                    current.alert_id,
                ],
            )
            if not picked:
                return None
            tables = {
                row["batch_key"]: (
                    _TableBatch(
                        row["id"], row["number"], row["first_id"], row["last_id"], current.language
                    ),
                    row["attempts"],
                )
                for row in picked
            }
            found = await self._table_rows(
                current.alert_id, current.round, [t for t, _ in tables.values()]
            )
            claimed, empty = [], []
            for key, (table, attempts) in sorted(tables.items(), key=lambda kv: kv[1][0].id):
                rows = found.get(table.number, [])
                if not rows:  # its rows went another way (failed, or claimed one by one)
                    empty.append(table.id)
                    continue
                claimed.append(
                    Batch(
                        key,
                        current.alert_id,
                        current.round,
                        current.kind,
                        [row["id"] for row in rows],
                        [row["address"] for row in rows],
                        max(attempts, *(row["attempts"] for row in rows)),
                        current.message,
                        table=table,
                    )
                )
            if empty:
                await DeliveryBatch.filter(id__in=empty).update(status=BatchStatus.DONE)
            if claimed:
                return claimed

    async def _table_rows(
        self, alert_id: int, round_: int, tables: list[_TableBatch]
    ) -> dict[int, list[dict[str, Any]]]:
        """The still-pending rows of batches (of one alert round and language), by batch
        number, in id order: one read of their id ranges."""
        client = connections.get("default")
        rows = await client.execute_query_dict(
            positional(client, BATCH_ROWS.format(statuses="?")),
            [
                min(t.first_id for t in tables),
                max(t.last_id for t in tables),
                alert_id,
                round_,
                Medium.LINE.value,
                tables[0].language,
                DeliveryStatus.PENDING.value,
            ],
        )
        ordered = sorted(tables, key=lambda t: t.first_id)
        starts = [t.first_id for t in ordered]
        found: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            table = ordered[bisect.bisect_right(starts, row["id"]) - 1]
            if row["id"] <= table.last_id:  # not in a range between them (another engine's)
                found.setdefault(table.number, []).append(row)
        return found

    async def _claim_rows(self, current: _Round, batches: int) -> list[Batch]:
        """Claim the round's next rows one by one (rows without a batch, or every row when
        this engine's batches are smaller than LINE's), `batch_size` under each key."""
        keys = [new_retry_key() for _ in range(batches)]
        client = connections.get("default")
        postgres = client.capabilities.dialect == "postgres"
        batched = self.settings.batch_size == MULTICAST_LIMIT
        rows = await client.execute_query_dict(
            positional(
                client,
                CLAIM.format(
                    order="" if postgres else "ORDER BY id ",
                    lock=" FOR UPDATE SKIP LOCKED" if postgres else "",
                    keys=" ".join(f"WHEN {n} THEN ?" for n in range(batches)),
                    batched=" AND NOT batched" if batched else "",
                ),
            ),
            [
                self.settings.batch_size,
                DeliveryStatus.PENDING.value,
                Medium.LINE.value,
                current.alert_id,
                current.round,
                current.language,
                self.settings.batch_size * batches,
                DeliveryStatus.SENDING.value,
                datetime.now(UTC),
                *keys,
                current.alert_id,
            ],
        )
        if rows:
            by_key: dict[str, list[Any]] = {key: [] for key in keys}
            for row in sorted(rows, key=lambda row: row["id"]):
                by_key[row["batch_key"]].append(row)
            return [
                Batch(
                    key,
                    current.alert_id,
                    current.round,
                    current.kind,
                    [row["id"] for row in claimed],
                    [row["address"] for row in claimed],
                    max(row["attempts"] for row in claimed),
                    current.message,
                )
                for key, claimed in by_key.items()
                if claimed
            ]
        return []

    async def _next_round(self, step: _Step) -> _Round | None:
        """The alert round of the oldest pending LINE row not yet found finished this step;
        the pending rows of an alert whose LINE sending halted fail on the way."""
        while True:
            pending = Delivery.filter(status=DeliveryStatus.PENDING, medium=Medium.LINE)
            if step.alert_id is not None:
                pending = pending.filter(alert_id=step.alert_id)
            found = await (
                pending.order_by("id").limit(1).values_list("alert_id", "round", "kind", "language")
            )
            if not found:
                return None
            alert_id, round_, kind, language = found[0]
            if (alert_id, round_, language) in step.done:
                # Its last rows are claimed (by another engine, or in batches whose rows stay
                # pending until LINE's acceptance is marked): another round or language may
                # still have batches to claim (an alert's English rows after its Japanese).
                found = await self._next_batches(step)
                if not found:
                    return None
                alert_id, round_, kind, language = found[0]
            alert = await Alert.get(id=alert_id)
            if alert.line_halted_at is None:
                kind = DeliveryKind(kind)
                message = await self._message(alert, round_, kind, language)
                return _Round(alert_id, round_, kind, message, language)
            await _fail_pending(alert_id, alert.line_halted_reason or "")

    async def _next_batches(self, step: _Step) -> list[tuple[int, int, str, str]]:
        """(alert, round, kind, language) of the oldest pending batch of a round and language
        not yet found finished this step (the batch table is small: one row per 500)."""
        batches = DeliveryBatch.filter(
            *(~Q(alert_id=a, round=r, render_key=language) for a, r, language in step.done),
            status=BatchStatus.PENDING,
        )
        if step.alert_id is not None:
            batches = batches.filter(alert_id=step.alert_id)
        return await (
            batches.order_by("id").limit(1).values_list("alert_id", "round", "kind", "render_key")
        )

    async def _claim_stale(self, alert_id: int | None) -> Batch | None:
        """Take over a batch whose engine stopped refreshing its claim (it died, or gave up
        for now), unless its key is too old to re-send: then it is held."""
        batch = await self._claim_stale_table(alert_id)
        if batch is not None:
            return batch
        while True:
            cutoff = datetime.now(UTC) - self.settings.stale_after
            stale = Delivery.filter(
                status=DeliveryStatus.SENDING, medium=Medium.LINE, claimed_at__lt=cutoff
            )
            if alert_id is not None:
                stale = stale.filter(alert_id=alert_id)
            found = await stale.limit(1).values_list("batch_key", "claimed_at")
            if not found or found[0][0] is None:
                return None
            key, claimed_at = found[0]
            # Take the batch over only if nobody refreshed it since we looked.
            taken = await Delivery.filter(
                batch_key=key, status=DeliveryStatus.SENDING, claimed_at=claimed_at
            ).update(claimed_at=datetime.now(UTC))
            if not taken:
                return None
            batch = await self._load(key)
            if batch is None:
                continue
            if self._key_expired(batch):
                await self._hold(batch)
                continue
            log.warning("resuming delivery batch %s", key)
            return batch

    async def _claim_stale_table(self, alert_id: int | None) -> Batch | None:
        """`_claim_stale` for the batch table's claims."""
        while True:
            cutoff = datetime.now(UTC) - self.settings.stale_after
            stale = DeliveryBatch.filter(status=BatchStatus.SENDING, claimed_at__lt=cutoff)
            if alert_id is not None:
                stale = stale.filter(alert_id=alert_id)
            row = await stale.order_by("id").first()
            if row is None or row.batch_key is None:
                return None
            taken = await DeliveryBatch.filter(
                id=row.id, status=BatchStatus.SENDING, claimed_at=row.claimed_at
            ).update(claimed_at=datetime.now(UTC))
            if not taken:
                return None
            language = row.render_key or DEFAULT_LANGUAGE
            table = _TableBatch(row.id, row.number, row.first_id, row.last_id, language)
            rows = (await self._table_rows(row.alert_id, row.round, [table])).get(row.number)
            if not rows:
                await DeliveryBatch.filter(id=row.id).update(status=BatchStatus.DONE)
                continue
            alert = await Alert.get(id=row.alert_id)
            batch = Batch(
                row.batch_key,
                row.alert_id,
                row.round,
                row.kind,
                [r["id"] for r in rows],
                [r["address"] for r in rows],
                row.attempts,
                await self._message(alert, row.round, row.kind, language),
                retry_key_minted_at(row.batch_key) or row.created_at,
                table=table,
            )
            if self._key_expired(batch):
                await self._hold(batch)
                continue
            log.warning("resuming delivery batch %s", batch.key)
            return batch

    async def _load(self, key: str) -> Batch | None:
        rows = (
            await Delivery.filter(batch_key=key, status=DeliveryStatus.SENDING)
            .order_by("id")
            .values_list(
                "id", "address", "attempts", "alert_id", "round", "kind", "created_at", "language"
            )
        )
        if not rows:
            return None
        _, _, _, alert_id, round_, kind, _, language = rows[0]
        kind = DeliveryKind(kind)
        alert = await Alert.get(id=alert_id)
        return Batch(
            key,
            alert_id,
            round_,
            kind,
            [row[0] for row in rows],
            [row[1] for row in rows],
            max(row[2] for row in rows),
            await self._message(alert, round_, kind, language),
            # A key of an earlier release does not say when it was minted; its rows were
            # written before it, so their age is the safe side.
            retry_key_minted_at(key) or min(row[6] for row in rows),
        )

    async def _message(
        self, alert: Alert, round_: int, kind: DeliveryKind, language: str
    ) -> dict[str, Any]:
        """The round's message in one language, rendered once (an alert is frozen once
        started, and a row's language when it is written)."""
        message = self._rendered.get((alert.id, round_, language))
        if message is None:
            reminder = None
            if kind is not DeliveryKind.ALERT:
                reminder = await AlertRound.get(alert_id=alert.id, round=round_)
            message = self.render(alert, kind, reminder, language)
            if len(self._rendered) >= RENDERED_KEPT:
                self._rendered.clear()
            self._rendered[(alert.id, round_, language)] = message
        return message

    # Sending

    def _key_expired(self, batch: Batch) -> bool:
        first_used = batch.first_used or retry_key_minted_at(batch.key)
        return (
            first_used is not None
            and datetime.now(UTC) - first_used > self.settings.retry_key_window
        )

    def _recorded(self, key: str, recorded: asyncio.Future[None]) -> None:
        """A batch's acceptance is committed: nothing of it is left to release."""
        if not recorded.cancelled() and recorded.exception() is None:
            self._claimed.pop(key, None)

    async def _deliver(self, batch: Batch, recording: list[asyncio.Future[None]]) -> None:
        """Send one batch until LINE settles it, retrying under the same key with backoff.

        Attempts are counted on the rows with the outcome, not one write per retry: a retry
        writes only to keep its claim fresh (every quarter of `stale_after`), or when it
        leaves the batch claimed for later."""
        settings = self.settings
        if batch.first_used is None and batch.alert_id in self._halted:
            # Claimed ahead, never sent, and LINE has since halted for the alert.
            await self._settle(
                batch, 0, status=DeliveryStatus.FAILED, reason=self._halted[batch.alert_id]
            )
            return
        loop = asyncio.get_running_loop()
        attempt = unrecorded = 0  # attempts under this claim; of them, not yet on the rows
        refreshed = loop.time()
        # Rate limits and LINE's trouble back off apart: a run of 429s says nothing of 5xx.
        streaks = {True: 0, False: 0}  # rate-limited?: failures so far
        while True:
            if self._key_expired(batch):
                await self._hold(batch, unrecorded)
                return
            result = await self.line.multicast(batch.addresses, [batch.message], batch.key)
            attempt += 1
            unrecorded += 1
            batch.made += 1
            log.info(
                "multicast %s: %s for %d recipients",
                batch.key,
                result.outcome.value,
                len(batch.ids),
            )
            if result.outcome in (SendOutcome.ACCEPTED, SendOutcome.ALREADY_ACCEPTED):
                # Recorded with others in one transaction; the slot is free for the next send
                # meanwhile (the step waits for the record before it ends).
                recorded = self._recorder.sent(batch, unrecorded)
                recorded.add_done_callback(functools.partial(self._recorded, batch.key))
                recording.append(recorded)
                return
            if result.quota_spent:
                await self._halt(batch, result, unrecorded)
                return
            if result.outcome is SendOutcome.REJECTED:
                refused = {i: m for i, m in result.refused_recipients if 0 <= i < len(batch.ids)}
                if 0 < len(refused) < len(batch.ids):
                    batch = await self._split(batch, refused, result.status, unrecorded)
                    attempt = unrecorded = 0
                    refreshed = loop.time()
                    continue
                await self._fail(batch, f"LINE {result.status}: {result.detail}", unrecorded)
                return
            if batch.attempts + attempt >= settings.max_attempts:
                reason = f"gave up after retries: {result.status or ''} {result.detail}"
                await self._fail(batch, reason.strip(), unrecorded)
                return
            retrying = f"retrying: {result.status or ''} {result.detail}".strip()
            if attempt >= settings.attempts_per_claim:
                if batch.table is None:
                    await self._refresh(batch, retrying, unrecorded)
                else:
                    await self._leave(batch, retrying, unrecorded, datetime.now(UTC))
                return  # left claimed: it resumes under the same key once stale
            if loop.time() - refreshed > settings.stale_after.total_seconds() / 4:
                await self._refresh(batch, retrying, unrecorded)
                unrecorded = 0
                refreshed = loop.time()
            rate_limited = result.status == 429
            streaks[rate_limited] += 1
            cap = settings.rate_limited_cap if rate_limited else settings.backoff_cap
            delay = min(cap, settings.backoff_base * 2 ** (streaks[rate_limited] - 1))
            log.warning("multicast %s: %s, retrying in %.2fs", batch.key, result.detail, delay)
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))

    def _batch_rows(self, batch: Batch) -> Any:
        """The rows a batch still holds: claimed under its key, or (a batch of the batch
        table) its rows not yet settled."""
        if batch.table is None:
            return Delivery.filter(batch_key=batch.key, status=DeliveryStatus.SENDING)
        raise AssertionError("a batch-table batch's rows are written by `_update_range`")

    async def _settle(self, batch: Batch, attempts: int, **outcome: Any) -> int:
        """Write an outcome to a batch's rows, with the attempts made (`attempts`: those not
        yet recorded, for rows that carry their claim); a batch-table row is done with them.
        Return how many rows changed."""
        if batch.table is None:
            return await self._batch_rows(batch).update(
                attempts=F("attempts") + attempts, **outcome
            )
        made = batch.attempts + batch.made
        async with in_transaction():
            # Only while it is this claim's: not once LINE's acceptance is recorded.
            closed = await DeliveryBatch.filter(
                id=batch.table.id, status=BatchStatus.SENDING, batch_key=batch.key
            ).update(status=BatchStatus.DONE, attempts=made, reason=outcome.get("reason"))
            if not closed:
                return 0
            table = batch.table
            return await _update_range(
                batch.alert_id,
                batch.round,
                table.language,
                table.first_id,
                table.last_id,
                attempts=made,
                batch_key=batch.key,
                **outcome,
            )

    async def _refresh(self, batch: Batch, reason: str, attempts: int) -> None:
        """Keep the claim fresh (so nobody takes it over) and count the attempts made."""
        if batch.table is not None:
            await DeliveryBatch.filter(
                id=batch.table.id, status=BatchStatus.SENDING, batch_key=batch.key
            ).update(attempts=F("attempts") + attempts, claimed_at=datetime.now(UTC), reason=reason)
            return
        await self._batch_rows(batch).update(
            attempts=F("attempts") + attempts, claimed_at=datetime.now(UTC), reason=reason
        )

    async def _leave(
        self, batch: Batch, reason: str | None, attempts: int, claimed_at: datetime
    ) -> int:
        """Leave a batch claimed under its key for any engine to resume once stale (at once,
        when `claimed_at` is `RELEASED_AT`): a batch-table batch hands its claim to its rows
        (the rare path), so the batch is resumed like a batch claimed row by row."""
        if batch.table is None:
            return await self._batch_rows(batch).update(claimed_at=claimed_at)
        changes: dict[str, Any] = {"status": DeliveryStatus.SENDING, "claimed_at": claimed_at}
        if reason is not None:
            changes["reason"] = reason
        return await self._settle(batch, attempts, **changes)

    async def _fail(self, batch: Batch, reason: str, attempts: int) -> None:
        await self._settle(batch, attempts, status=DeliveryStatus.FAILED, reason=reason)

    async def _split(
        self, batch: Batch, refused: dict[int, str], status: int | None, attempts: int
    ) -> Batch:
        """Fail the recipients LINE refused (by position in the batch); the others go again
        under a new key (LINE accepted nothing under the old one), stored before they are sent."""
        key = new_retry_key()
        made = attempts if batch.table is None else batch.made
        async with in_transaction():
            for position, message in refused.items():
                refused_row = Delivery.filter(id=batch.ids[position])
                if batch.table is None:
                    counted: Any = F("attempts") + attempts
                    refused_row = refused_row.filter(
                        batch_key=batch.key, status=DeliveryStatus.SENDING
                    )
                else:
                    counted = batch.attempts + made
                    refused_row = refused_row.filter(status=DeliveryStatus.PENDING)
                await refused_row.update(
                    status=DeliveryStatus.FAILED,
                    reason=f"LINE {status}: refused this recipient ({message})",
                    attempts=counted,
                    batch_key=batch.key,
                )
            if batch.table is None:
                await self._batch_rows(batch).update(
                    batch_key=key,
                    claimed_at=datetime.now(UTC),
                    attempts=F("attempts") + attempts,
                )
            else:
                await DeliveryBatch.filter(id=batch.table.id).update(
                    batch_key=key, claimed_at=datetime.now(UTC), attempts=batch.attempts + made
                )
        keep = [i for i in range(len(batch.ids)) if i not in refused]
        log.warning(
            "multicast %s: LINE refused %d recipient(s); the other %d go as %s",
            batch.key,
            len(refused),
            len(keep),
            key,
        )
        split = replace(
            batch,
            key=key,
            ids=[batch.ids[i] for i in keep],
            addresses=[batch.addresses[i] for i in keep],
            attempts=batch.attempts + made,
            first_used=None,
            made=0,
        )
        self._claimed.pop(batch.key, None)
        self._claimed[key] = split
        return split

    async def _hold(self, batch: Batch, attempts: int = 0) -> None:
        """LINE may have forgotten this key: re-sending might give everyone a second copy,
        not re-sending might leave them without one. A person decides."""
        reason = (
            f"held: retry key {batch.key} is older than LINE remembers (24 hours), so LINE "
            "may or may not have delivered this batch; a person must decide whether to send "
            "it again"
        )
        held = await self._settle(batch, attempts, status=DeliveryStatus.HELD, reason=reason)
        log.warning("multicast %s: %d deliveries held (retry key too old)", batch.key, held)

    async def _halt(self, batch: Batch, result: SendResult, attempts: int) -> None:
        """The month's quota is spent: stop LINE sending for this alert, once. Its pending rows
        fail with LINE's reason; rows other batches hold in flight are settled by LINE's answer
        to each of them (re-sent under their own key, they can never arrive twice)."""
        reason = f"LINE {result.status}: {result.detail}"
        self._halted[batch.alert_id] = reason
        now = datetime.now(UTC)
        async with in_transaction():
            halted = await Alert.filter(id=batch.alert_id, line_halted_at=None).update(
                line_halted_at=now, line_halted_reason=reason
            )
            failed = await self._settle(
                batch, attempts, status=DeliveryStatus.FAILED, reason=reason
            )
            if halted:  # the halt and its row commit together, once per alert
                async with audited(Actor.system(), "line_halted", str(batch.alert_id)) as row:
                    failed += await _fail_pending(batch.alert_id, reason)
                    row.result = "failed"
                    row.detail = {"reason": reason, "failed": failed}
        if halted:
            log.error(
                "alert %s: LINE sending halted (%s); %d deliveries failed",
                batch.alert_id,
                reason,
                failed,
            )


MARK_SENT_CHUNK = 50  # batches marked per transaction


async def mark_accepted_sent() -> int:
    """Mark the rows of the batches LINE accepted sent (each batch was counted billable when
    LINE accepted it), after the multicasts rather than between them; return how many batches.
    Any engine finishes what another left: the marking is idempotent."""
    accepted = await DeliveryBatch.filter(status=BatchStatus.ACCEPTED).order_by("id")
    for start in range(0, len(accepted), MARK_SENT_CHUNK):
        chunk = accepted[start : start + MARK_SENT_CHUNK]
        async with in_transaction():
            for batch in chunk:
                await _update_range(
                    batch.alert_id,
                    batch.round,
                    batch.render_key or DEFAULT_LANGUAGE,
                    batch.first_id,
                    batch.last_id,
                    status=DeliveryStatus.SENT,
                    sent_at=batch.sent_at,
                    claimed_at=batch.sent_at,
                    reason=None,
                    batch_key=batch.batch_key,
                    attempts=batch.attempts,
                )
            await DeliveryBatch.filter(
                id__in=[batch.id for batch in chunk], status=BatchStatus.ACCEPTED
            ).update(status=BatchStatus.DONE)
    return len(accepted)


# An alert's pending LINE rows, but those of batches in flight (LINE's answer settles them).
FAIL_PENDING = """
UPDATE delivery SET status = ?, reason = ?
WHERE alert_id = ? AND medium = ? AND status = ?
AND (NOT batched OR NOT EXISTS (
    SELECT 1 FROM delivery_batch b
    WHERE b.alert_id = delivery.alert_id AND b."round" = delivery."round"
    AND b.render_key = delivery.language
    AND delivery.id >= b.first_id AND delivery.id <= b.last_id AND b.status IN (?, ?)
))
"""


async def _fail_pending(alert_id: int, reason: str) -> int:
    """Fail an alert's pending LINE rows (LINE halted for it) and close its pending batches;
    return how many rows failed (counted, as asyncpg does not report an UPDATE's rows)."""
    client = connections.get("default")
    before = await Delivery.filter(
        alert_id=alert_id, medium=Medium.LINE, status=DeliveryStatus.FAILED
    ).count()
    await client.execute_query(
        positional(client, FAIL_PENDING),
        [
            DeliveryStatus.FAILED.value,
            reason,
            alert_id,
            Medium.LINE.value,
            DeliveryStatus.PENDING.value,
            BatchStatus.SENDING.value,
            BatchStatus.ACCEPTED.value,
        ],
    )
    await DeliveryBatch.filter(alert_id=alert_id, status=BatchStatus.PENDING).update(
        status=BatchStatus.DONE, reason=reason
    )
    after = await Delivery.filter(
        alert_id=alert_id, medium=Medium.LINE, status=DeliveryStatus.FAILED
    ).count()
    return after - before


class _SentRecorder:
    """Marks accepted batches sent and counts them billable in one transaction, so a batch
    resumed by another engine (409) is never counted twice. Batches accepted while one
    transaction commits share the next: one commit for many batches, not one each."""

    def __init__(self) -> None:
        self._waiting: list[tuple[Batch, int, asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._usage_day: date | None = None

    def sent(self, batch: Batch, attempts: int) -> asyncio.Future[None]:
        """Record one batch as sent, with the attempts it took under this claim not yet
        recorded; the future is done once it is committed (nothing cancels the recording)."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((batch, attempts, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        return future

    async def stop(self) -> None:
        """Let the transaction under way finish (shutting down)."""
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)

    async def _flush(self) -> None:
        while self._waiting:
            waiting, self._waiting = self._waiting, []
            try:
                await self._record([(batch, attempts) for batch, attempts, _ in waiting])
            except Exception as exc:  # the rows stay claimed and resume (LINE answers 409)
                outcome: BaseException | None = exc
            else:
                outcome = None
            for _, _, future in waiting:
                if future.done():
                    continue
                if outcome is None:
                    future.set_result(None)
                else:
                    future.set_exception(outcome)

    async def _record(self, batches: list[tuple[Batch, int]]) -> None:
        now = datetime.now(UTC)
        day = japan_today()
        if day != self._usage_day:
            await prepare_day(day)
            self._usage_day = day
        by_attempts: dict[int, list[str]] = {}
        for batch, attempts in batches:
            if batch.table is None:
                by_attempts.setdefault(attempts, []).append(batch.key)
        async with in_transaction():
            sent = 0
            for attempts, keys in by_attempts.items():
                sent += await Delivery.filter(
                    batch_key__in=keys, status=DeliveryStatus.SENDING
                ).update(
                    status=DeliveryStatus.SENT,
                    sent_at=now,
                    claimed_at=now,
                    reason=None,
                    attempts=F("attempts") + attempts,
                )
            for batch, _ in batches:
                if batch.table is None:
                    continue
                # One row: its rows are marked sent after the multicasts (`mark_accepted_sent`).
                accepted = await DeliveryBatch.filter(
                    id=batch.table.id, status=BatchStatus.SENDING, batch_key=batch.key
                ).update(
                    status=BatchStatus.ACCEPTED,
                    sent_at=now,
                    claimed_at=now,
                    reason=None,
                    attempts=batch.attempts + batch.made,
                )
                if accepted:
                    sent += len(batch.ids)
                else:  # the claim went to the rows meanwhile (`_leave`)
                    sent += await Delivery.filter(
                        batch_key=batch.key, status=DeliveryStatus.SENDING
                    ).update(
                        status=DeliveryStatus.SENT,
                        sent_at=now,
                        claimed_at=now,
                        reason=None,
                        attempts=batch.attempts + batch.made,
                    )
            await add_billable(day, sent)


def _failures(done: set[asyncio.Task[None]]) -> list[BaseException]:
    """The exceptions of finished sends, logged (the rows keep their key and resume)."""
    failures = []
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery batch failed: %r", task.exception())
            failures.append(task.exception())
    return failures
