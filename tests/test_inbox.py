"""The inbox keeps no more than it needs: handled events are purged after the retention
period by the housekeeping worker, and failed events back off before each retry."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.app import build_workers
from bot.config import WORKER_NAMES, Config, ConfigError
from bot.line_api import LineApi
from bot.workers import Worker, running
from domain import inbox
from domain.inbox import purge_finished, retry_delay
from domain.notify import Notifier
from models import InboxEvent, InboxStatus
from tests.conftest import until

DAY = timedelta(days=1)


async def stored(
    status: InboxStatus,
    age: timedelta,
    *,
    payload: dict | None = None,
    processed: bool = True,
) -> InboxEvent:
    """An inbox row received (and, if `processed`, finished) `age` ago."""
    row = await InboxEvent.create(
        webhook_event_id=f"01TEST{await InboxEvent.all().count():020d}",
        event_type="message",
        payload=payload,
        status=status,
        attempts=1,
    )
    at = datetime.now(UTC) - age
    await InboxEvent.filter(id=row.id).update(
        received_at=at, processed_at=at if processed else None
    )
    return row


async def remaining() -> set[int]:
    """The IDs of the rows the inbox still holds."""
    return set(await InboxEvent.all().values_list("id", flat=True))


async def test_finished_events_are_purged_after_the_retention_period_and_pending_ones_kept(db):
    await stored(InboxStatus.DONE, 8 * DAY)
    await stored(InboxStatus.FAILED, 8 * DAY)
    await stored(InboxStatus.FAILED, 8 * DAY, processed=False)  # given up before processed_at
    recent_done = await stored(InboxStatus.DONE, 6 * DAY)
    old_pending = await stored(
        InboxStatus.PENDING, 8 * DAY, payload={"type": "message"}, processed=False
    )

    assert await purge_finished(7 * DAY) == 3

    assert await remaining() == {recent_done.id, old_pending.id}
    assert (await InboxEvent.get(id=old_pending.id)).payload == {"type": "message"}
    assert await purge_finished(7 * DAY) == 0


async def test_finished_events_from_before_payloads_were_dropped_lose_theirs(db):
    chat = {"type": "message", "message": {"type": "text", "text": "家族と避難中"}}
    done = await stored(InboxStatus.DONE, DAY, payload=chat)
    pending = await stored(InboxStatus.PENDING, DAY, payload=chat, processed=False)

    assert await purge_finished(7 * DAY) == 1

    assert (await InboxEvent.get(id=done.id)).payload is None
    assert (await InboxEvent.get(id=pending.id)).payload == chat


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_purging_does_a_bounded_amount_per_call(db):
    for _ in range(5):
        await stored(InboxStatus.DONE, 8 * DAY)

    assert [await purge_finished(7 * DAY, limit=2) for _ in range(4)] == [2, 2, 1, 0]
    assert await remaining() == set()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("days", "kept"), [(7, False), (30, True)])
async def test_housekeeping_worker_purges_with_the_configured_retention(db, days, kept):
    row = await stored(InboxStatus.DONE, 8 * DAY)
    config = replace(Config(database_url=db), inbox_retention_days=days)
    line = LineApi("http://127.0.0.1:9", "token")
    try:
        (housekeeping,) = [w for w in build_workers(config, line) if w.name == "housekeeping"]
        await housekeeping.step()
    finally:
        await line.close()

    assert (row.id in await remaining()) is kept
    assert housekeeping.topic is None and housekeeping.poll >= 3600


def test_housekeeping_runs_by_default_and_can_be_named_alone():
    assert "housekeeping" in WORKER_NAMES
    assert "housekeeping" in Config.from_env({}).workers
    assert Config.from_env({"WORKERS": "housekeeping"}).workers == ("housekeeping",)


def test_retention_defaults_to_a_week_and_is_read_from_the_environment():
    assert Config.from_env({}).inbox_retention_days == 7
    assert Config.from_env({"INBOX_RETENTION_DAYS": "30"}).inbox_retention_days == 30


@pytest.mark.parametrize("raw", ["0", "-1", "seven", "1.5"])
def test_retention_too_short_for_redeliveries_or_not_a_number_is_refused(raw):
    with pytest.raises(ConfigError, match=r"^INBOX_RETENTION_DAYS must be"):
        Config.from_env({"INBOX_RETENTION_DAYS": raw})


def test_retries_back_off_exponentially_up_to_a_cap(monkeypatch):
    monkeypatch.setattr(inbox, "RETRY_BASE", 2.0)
    monkeypatch.setattr(inbox, "RETRY_CAP", 20.0)

    assert [retry_delay(n) for n in range(1, 7)] == [2.0, 4.0, 8.0, 16.0, 20.0, 20.0]


async def test_a_sleeping_worker_wakes_when_work_it_deferred_falls_due():
    steps = 0

    async def step() -> int:
        nonlocal steps
        steps += 1
        return 0  # nothing to do now, but a retry is due in a moment

    async def due() -> float:
        return 0.01

    # Nothing publishes and the poll is an hour: only `due` can wake it.
    worker = Worker("retries", step, None, 3600.0, due=due)
    async with running([worker], Notifier()):
        await until(lambda: steps >= 3)
