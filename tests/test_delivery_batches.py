"""The outbox in batches: an alert round's LINE rows are numbered into batches of 500 as they
are written, one `delivery_batch` row each; a claim and LINE's acceptance write that row, and
the rows are marked sent after the multicasts. Exactly once still holds through faults, a
process that stopped after LINE accepted but before the rows were marked, a claim left by a
process that died, a spent quota with batches in flight, and rows written without a batch
(before the batches existed). Each batch holds one language, rendered in it. The real
engine and LINE client against the local platform, which counts what each user received."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.line_api import LineApi
from domain.actors import Actor
from domain.alerts import remind_unanswered, start_alert
from domain.delivery import MULTICAST_LIMIT, new_retry_key
from line_simulator import Simulator
from models import (
    AuditEntry,
    BatchStatus,
    Delivery,
    DeliveryBatch,
    DeliveryKind,
    DeliveryStatus,
    Employee,
    LineAccount,
    Medium,
)
from tests.conftest import ACCESS_TOKEN
from tests.test_delivery_faults import (
    MONTHLY_LIMIT,
    counted_today,
    earthquake,
    engine,
    multicasts,
    received,
    staff,
)
from tests.test_english import add_english


@pytest.fixture
async def line_api(sim: Simulator, db: str) -> AsyncIterator[LineApi]:
    """The product's LINE client pointed at the local platform."""
    client = LineApi(sim.config.public_base_url, ACCESS_TOKEN)
    yield client
    await client.close()


async def batches_of(alert_id: int, round_: int = 0) -> list[DeliveryBatch]:
    return await DeliveryBatch.filter(alert_id=alert_id, round=round_).order_by("number")


def rows_of(batch: DeliveryBatch):
    """The rows a batch names (its id range, in its alert round)."""
    return Delivery.filter(
        alert_id=batch.alert_id,
        round=batch.round,
        id__gte=batch.first_id,
        id__lte=batch.last_id,
        medium=Medium.LINE,
    )


async def test_an_alert_is_written_in_batches_of_500_that_cover_its_rows(sim, line_api):
    await staff(sim, 1201)
    started = await start_alert(Actor.cli(), await earthquake(), drill=True)

    batches = await batches_of(started.alert.id)
    assert [(b.number, b.status) for b in batches] == [
        (0, BatchStatus.PENDING),
        (1, BatchStatus.PENDING),
        (2, BatchStatus.PENDING),
    ]
    assert started.line_deliveries == 1201
    sizes = [await rows_of(batch).count() for batch in batches]
    assert sizes == [500, 500, 201]  # between them, every row of the alert, once
    assert sum(sizes) == await Delivery.filter(alert_id=started.alert.id, batched=True).count()

    await engine(sim, line_api).run_until_idle()

    sent = multicasts(sim)
    assert sorted(len(m.to) for m in sent) == [201, 500, 500]
    batches = await batches_of(started.alert.id)
    assert {b.status for b in batches} == {BatchStatus.DONE}
    assert {m.retry_key for m in sent} == {b.batch_key for b in batches}
    for batch in batches:  # each row carries the key its multicast went under
        keys = await rows_of(batch).values_list("status", "batch_key", "attempts")
        assert set(keys) == {(DeliveryStatus.SENT, batch.batch_key, 1)}
    assert await counted_today() == 1201 == sim.billable_deliveries


async def test_5000_people_through_random_faults_in_batches_get_it_exactly_once(sim, line_api):
    users = await staff(sim, 5000)
    started = await start_alert(Actor.cli(), await earthquake(), drill=True)
    sim.set_fault_rates("multicast", rate_429=0.3, rate_5xx=0.1, drop_after_accept=0.3, seed=3)

    await engine(sim, line_api, concurrency=4).run_until_idle()

    assert received(sim, started.alert.id) == Counter(dict.fromkeys(users, 1))
    assert await Delivery.filter(status=DeliveryStatus.SENT).count() == 5000
    assert await counted_today() == 5000 == sim.billable_deliveries
    statuses = Counter(s.status for s in multicasts(sim))
    assert statuses[200] == 5000 // MULTICAST_LIMIT  # one acceptance per batch
    assert statuses[409] and (statuses[429] or statuses[500])  # the faults did happen
    assert {b.status for b in await batches_of(started.alert.id)} == {BatchStatus.DONE}


async def test_rows_of_an_accepted_batch_left_unmarked_are_marked_without_a_resend(sim, line_api):
    await staff(sim, 700)
    started = await start_alert(Actor.cli(), await earthquake(), drill=True)
    await engine(sim, line_api).run_until_idle()
    before = len(multicasts(sim))
    # As a process that stopped after recording LINE's acceptance leaves it: the batch is
    # accepted (and counted), its rows not yet marked.
    first = (await batches_of(started.alert.id))[0]
    await DeliveryBatch.filter(id=first.id).update(status=BatchStatus.ACCEPTED)
    await rows_of(first).update(status=DeliveryStatus.PENDING, batch_key=None, attempts=0)

    assert await engine(sim, line_api).run_once() == 0

    assert len(multicasts(sim)) == before  # nothing sent again
    rows = await rows_of(first).values_list("status", "batch_key")
    assert set(rows) == {(DeliveryStatus.SENT, first.batch_key)}
    assert (await DeliveryBatch.get(id=first.id)).status == BatchStatus.DONE
    assert await counted_today() == 700  # counted once, when LINE accepted


async def test_a_batch_claimed_by_a_process_that_died_resumes_under_its_stored_key(sim, line_api):
    users = await staff(sim, 600)
    started = await start_alert(Actor.cli(), await earthquake(), drill=True)
    key = new_retry_key()
    first = (await batches_of(started.alert.id))[0]
    # Claimed ten minutes ago and never heard of again; LINE had accepted it.
    await DeliveryBatch.filter(id=first.id).update(
        status=BatchStatus.SENDING,
        batch_key=key,
        claimed_at=datetime.now(UTC) - timedelta(minutes=10),
    )
    claimed = await rows_of(first).order_by("id")
    await line_api.multicast(
        [row.address for row in claimed], [{"type": "text", "text": "alert=0"}], key
    )

    await engine(sim, line_api).run_once()  # default stale_after: two minutes

    resent = [m for m in multicasts(sim) if m.retry_key == key]
    assert [m.status for m in resent] == [200, 409]  # LINE had it: nobody gets two copies
    assert received(sim, started.alert.id) == Counter(dict.fromkeys(users[500:], 1))
    assert await Delivery.filter(status=DeliveryStatus.SENT).count() == 600
    assert set(await rows_of(first).values_list("batch_key", flat=True)) == {key}


async def test_a_fresh_batch_claim_of_another_process_is_left_alone(sim, line_api):
    await staff(sim, 10)
    started = await start_alert(Actor.cli(), await earthquake(), drill=True)
    await DeliveryBatch.filter(alert_id=started.alert.id).update(
        status=BatchStatus.SENDING, batch_key=new_retry_key(), claimed_at=datetime.now(UTC)
    )
    assert await engine(sim, line_api).run_once() == 0
    assert multicasts(sim) == []
    assert await Delivery.filter(status=DeliveryStatus.PENDING).count() == 10


async def test_a_spent_quota_with_batches_in_flight_halts_the_alert_once(sim, line_api):
    await staff(sim, 2500)
    started = await start_alert(Actor.cli(), await earthquake(), drill=True)
    sim.inject_fault("multicast", status=429, times=100, body=MONTHLY_LIMIT)

    sender = engine(sim, line_api, concurrency=3)
    await sender.run_until_idle()
    await sender.run_once()

    assert 1 <= len(multicasts(sim)) <= 3  # the batches in flight when LINE refused; no more
    assert await AuditEntry.filter(action="line_halted").count() == 1
    assert await Delivery.filter(status=DeliveryStatus.FAILED).count() == 2500
    assert await counted_today() == 0
    assert {b.status for b in await batches_of(started.alert.id)} == {BatchStatus.DONE}


async def test_a_reminder_round_is_written_in_batches_too(sim, line_api):
    users = await staff(sim, 501)
    started = await start_alert(Actor.cli(), await earthquake(), drill=True)
    await engine(sim, line_api).run_until_idle()

    reminder = await remind_unanswered(Actor.cli(), started.alert.id)

    batches = await batches_of(started.alert.id, reminder.round)
    assert [(b.number, b.kind) for b in batches] == [
        (0, DeliveryKind.REMINDER),
        (1, DeliveryKind.REMINDER),
    ]
    assert [await rows_of(batch).count() for batch in batches] == [500, 1]
    await engine(sim, line_api).run_until_idle()
    reminded = [m for m in multicasts(sim) if m.status == 200][2:]
    assert sorted(len(m.to) for m in reminded) == [1, 500]
    assert Counter(u for m in reminded for u in m.to) == Counter(dict.fromkeys(users, 1))
    assert await Delivery.filter(round=reminder.round, status=DeliveryStatus.SENT).count() == 501


async def test_rows_written_without_a_batch_are_still_sent_one_claim_at_a_time(sim, line_api):
    users = await staff(sim, 3)
    started = await start_alert(Actor.cli(), await earthquake(), drill=True)
    # As an outbox written before batches existed (or by a writer that does not batch).
    await DeliveryBatch.filter(alert_id=started.alert.id).delete()
    await Delivery.filter(alert_id=started.alert.id).update(batched=False)
    account = await LineAccount.get(user_id=users[0])
    assert await Delivery.filter(employee_id=account.employee_id, medium=Medium.LINE).exists()

    await engine(sim, line_api).run_until_idle()

    [sent] = multicasts(sim)
    assert sorted(sent.to) == sorted(users)
    rows = await Delivery.filter(alert_id=started.alert.id).values_list("status", "batch_key")
    assert set(rows) == {(DeliveryStatus.SENT, sent.retry_key)}


async def test_every_batch_holds_one_language_and_english_goes_out_in_english(sim, line_api):
    users = await staff(sim, 1203)
    # Every third employee reads English: the two languages interleave in employee order.
    employee_ids = await Employee.all().order_by("id").values_list("id", flat=True)
    english_ids = employee_ids[::3]
    await Employee.filter(id__in=english_ids).update(language="en")
    english = {users[i] for i in range(0, len(users), 3)}
    started = await start_alert(Actor.cli(), await add_english(), drill=True)

    batches = await batches_of(started.alert.id)
    # Each language's rows apart, the numbers running on from Japanese to English.
    assert [(b.number, b.render_key) for b in batches] == [(0, "ja"), (1, "ja"), (2, "en")]
    for batch in batches:
        languages = await rows_of(batch).values_list("language", flat=True)
        assert set(languages) == {batch.render_key}
    assert [await rows_of(batch).count() for batch in batches] == [500, 302, 401]

    # One step claims Japanese and then English, though the Japanese rows stay pending
    # until LINE's acceptances are marked.
    assert await engine(sim, line_api).run_once() == 1203

    assert received(sim, started.alert.id) == Counter(dict.fromkeys(users, 1))
    sent = multicasts(sim)
    assert sorted(len(m.to) for m in sent) == [302, 401, 500]
    for multicast in sent:
        [message] = multicast.messages
        if set(multicast.to) <= english:
            assert message["altText"].startswith("[Drill] [Earthquake] Safety check")
        else:
            assert not set(multicast.to) & english
            assert message["altText"].startswith("【訓練】【地震】安否確認")
    assert await Delivery.filter(status=DeliveryStatus.SENT).count() == 1203
    assert await counted_today() == 1203 == sim.billable_deliveries

    reminder = await remind_unanswered(Actor.cli(), started.alert.id)
    reminded = await batches_of(started.alert.id, reminder.round)
    assert [(b.number, b.render_key) for b in reminded] == [(0, "ja"), (1, "ja"), (2, "en")]
    for batch in reminded:
        languages = await rows_of(batch).values_list("language", flat=True)
        assert set(languages) == {batch.render_key}
    await engine(sim, line_api).run_until_idle()
    again = multicasts(sim)[len(sent) :]
    assert Counter(u for m in again for u in m.to) == Counter(dict.fromkeys(users, 1))
    for multicast in again:
        [message] = multicast.messages
        expected = "[Reminder]" if set(multicast.to) <= english else "【再通知】"
        assert message["altText"].startswith(expected)


async def test_a_step_lets_go_of_each_batch_once_its_acceptance_is_recorded(sim, line_api):
    """What a step keeps to release on stop is only what is unsettled: a batch LINE accepted
    and whose acceptance is committed (its 500 addresses) is not held to the step's end."""
    users = await staff(sim, 1201)
    started = await start_alert(Actor.cli(), await earthquake(), drill=True)
    eng = engine(sim, line_api)
    assert await eng.run_once(include_stale=False) == 1201  # one step, all three batches
    assert eng._claimed == {}
    assert {b.status for b in await batches_of(started.alert.id)} == {BatchStatus.DONE}
    assert received(sim, started.alert.id) == Counter(dict.fromkeys(users, 1))
