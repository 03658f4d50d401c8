"""Delivery under LINE's faults: the real engine and LINE client against the local LINE
platform, counted by the platform. Everyone gets an alert exactly once through rate limits,
server errors and answers lost after LINE accepted; a spent monthly quota halts the alert once;
one malformed recipient does not sink the other 499; a batch older than LINE's memory of its
retry key waits for a person; and the set-based start targets whom it always did."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from bot.line_api import LineApi
from bot.messages import delivery_message
from domain.actors import Actor
from domain.alerts import find_departments, start_alert
from domain.delivery import DeliveryEngine, new_retry_key, retry_key_minted_at
from domain.usage import japan_today
from line_simulator import Simulator
from models import (
    Alert,
    AlertRecipient,
    AuditEntry,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Department,
    Employee,
    LineAccount,
    Medium,
    Template,
    UsageDay,
)
from tests.conftest import ACCESS_TOKEN, FAST_ENGINE, LIFF_ID, make_company

MONTHLY_LIMIT = {"message": "You have reached your monthly limit."}


@pytest.fixture
async def line_api(sim: Simulator, db: str) -> AsyncIterator[LineApi]:
    """The product's LINE client pointed at the local platform."""
    client = LineApi(sim.config.public_base_url, ACCESS_TOKEN)
    yield client
    await client.close()


def engine(sim: Simulator, line: LineApi, **settings) -> DeliveryEngine:
    """The delivery engine as the app builds it, with short waits."""
    render = partial(delivery_message, liff_url=f"{sim.config.public_base_url}/liff/{LIFF_ID}")
    return DeliveryEngine(line, render, replace(FAST_ENGINE, **settings))


async def staff(sim: Simulator, n: int, department: str = "本社") -> list[str]:
    """n employees, each linked to a befriended LINE user; their user IDs, in employee order."""
    dept = await Department.create(name=department)
    await Employee.bulk_create(
        [Employee(code=f"{department}{i:05d}", name=f"社員{i}", department=dept) for i in range(n)],
        batch_size=1000,
    )
    users, accounts = [], []
    for employee_id in (
        await Employee.filter(department=dept).order_by("id").values_list("id", flat=True)
    ):
        user = sim.add_user(f"社員{employee_id}")
        user.friend = True
        users.append(user.user_id)
        accounts.append(LineAccount(user_id=user.user_id, employee_id=employee_id))
    await LineAccount.bulk_create(accounts, batch_size=1000)
    return users


async def earthquake() -> Template:
    return await Template.get(key="earthquake")


def received(sim: Simulator, alert_id: int) -> Counter[str]:
    """How many copies of this alert each user got, as the platform counts."""
    return sim.delivery_counts(f'alert={alert_id}"')


def multicasts(sim: Simulator) -> list:
    return [s for s in sim.sent if s.kind == "multicast"]


async def counted_today() -> int:
    row = await UsageDay.get_or_none(day=japan_today())
    return row.messages if row else 0


async def test_2000_people_get_the_alert_exactly_once_through_random_faults(sim, line_api):
    users = await staff(sim, 2000)
    started = await start_alert(Actor.cli(), await earthquake(), drill=True)
    sim.set_fault_rates("multicast", rate_429=0.3, rate_5xx=0.05, drop_after_accept=0.05, seed=7)
    sender = engine(sim, line_api, batch_size=100, concurrency=8)
    renders = []
    render = sender.render

    def counting_render(*args):
        renders.append(args)
        return render(*args)

    sender.render = counting_render

    await sender.run_until_idle()

    assert received(sim, started.alert.id) == Counter(dict.fromkeys(users, 1))
    assert await Delivery.filter(status=DeliveryStatus.SENT).count() == 2000
    assert await counted_today() == 2000 == sim.billable_deliveries
    statuses = Counter(s.status for s in multicasts(sim))
    assert statuses[429] and statuses[500] and statuses[409]  # the faults did happen
    assert any(s.dropped for s in multicasts(sim))
    assert len(renders) == 1  # once per alert round, not per batch


async def test_a_spent_monthly_quota_halts_that_alert_once_and_other_alerts_still_go(sim, line_api):
    users = await staff(sim, 300)
    first = await start_alert(Actor.cli(), await earthquake(), drill=True)
    second = await start_alert(Actor.cli(), await earthquake(), drill=True)
    sim.inject_fault("multicast", status=429, body=MONTHLY_LIMIT)  # the next multicast only

    await engine(sim, line_api, batch_size=100, concurrency=1).run_until_idle()

    alert = await Alert.get(id=first.alert.id)
    assert alert.line_halted_at is not None and "monthly limit" in alert.line_halted_reason
    rows = await Delivery.filter(alert_id=first.alert.id).values_list("status", "reason")
    assert {status for status, _ in rows} == {DeliveryStatus.FAILED}
    assert all("monthly limit" in reason for _, reason in rows)
    [entry] = await AuditEntry.filter(action="line_halted")
    assert (entry.via, entry.target, entry.result) == ("system", str(first.alert.id), "failed")
    assert [s.status for s in multicasts(sim)][:1] == [429]
    assert received(sim, first.alert.id) == Counter()
    # The other alert is LINE's to refuse on its own: here LINE took it.
    assert received(sim, second.alert.id) == Counter(dict.fromkeys(users, 1))
    assert (await Alert.get(id=second.alert.id)).line_halted_at is None


async def test_a_quota_refusal_of_batches_in_flight_halts_the_alert_once(sim, line_api):
    await staff(sim, 300)
    started = await start_alert(Actor.cli(), await earthquake(), drill=True)
    sim.inject_fault("multicast", status=429, times=100, body=MONTHLY_LIMIT)  # from now on
    sender = engine(sim, line_api, batch_size=50, concurrency=3)

    await sender.run_until_idle()
    await sender.run_once()

    assert 1 <= len(multicasts(sim)) <= 3  # the batches in flight when LINE refused; no more
    assert await AuditEntry.filter(action="line_halted").count() == 1
    assert await Delivery.filter(status=DeliveryStatus.FAILED).count() == 300
    assert await counted_today() == 0
    assert (await Alert.get(id=started.alert.id)).line_halted_at is not None


async def test_rows_added_to_a_halted_alert_fail_without_a_multicast(sim, line_api):
    await staff(sim, 10)
    started = await start_alert(Actor.cli(), await earthquake(), drill=True)
    await Alert.filter(id=started.alert.id).update(
        line_halted_at=datetime.now(UTC), line_halted_reason="LINE 429: monthly limit"
    )
    await engine(sim, line_api).run_until_idle()
    assert multicasts(sim) == []
    reasons = await Delivery.filter(alert_id=started.alert.id).values_list("reason", flat=True)
    assert reasons == ["LINE 429: monthly limit"] * 10


async def test_one_malformed_recipient_fails_alone_and_the_other_499_are_delivered(sim, line_api):
    users = await staff(sim, 500)
    bad = users[3]
    await LineAccount.filter(user_id=bad).update(user_id="U-not-a-line-user-id")
    started = await start_alert(Actor.cli(), await earthquake(), drill=True)

    await engine(sim, line_api).run_until_idle()

    refused, accepted = multicasts(sim)
    assert (refused.status, len(refused.to)) == (400, 500)
    assert (accepted.status, len(accepted.to)) == (200, 499)
    assert accepted.retry_key != refused.retry_key  # LINE accepted nothing under the old key
    row = await Delivery.get(address="U-not-a-line-user-id")
    assert row.status == DeliveryStatus.FAILED
    assert row.reason.startswith("LINE 400: refused this recipient")
    others = [u for u in users if u != bad]
    assert received(sim, started.alert.id) == Counter(dict.fromkeys(others, 1))
    assert await Delivery.filter(status=DeliveryStatus.SENT).count() == 499
    assert await counted_today() == 499


@pytest.mark.parametrize(
    ("key", "written_ago"),
    [
        pytest.param(
            new_retry_key(datetime.now(UTC) - timedelta(hours=23, minutes=30)),
            timedelta(0),
            id="key-minted-23.5-hours-ago",
        ),
        pytest.param(str(uuid.uuid4()), timedelta(hours=25), id="older-key-rows-25-hours-old"),
    ],
)
async def test_a_batch_older_than_lines_memory_of_its_key_is_held_not_sent(
    sim, line_api, key, written_ago
):
    await staff(sim, 3)
    await start_alert(Actor.cli(), await earthquake(), drill=True)
    await Delivery.all().update(
        status=DeliveryStatus.SENDING,
        batch_key=key,
        claimed_at=datetime.now(UTC) - timedelta(minutes=10),
        created_at=datetime.now(UTC) - written_ago,
    )

    assert await engine(sim, line_api).run_once() == 0

    assert multicasts(sim) == []
    rows = await Delivery.all().values_list("status", "reason")
    assert {status for status, _ in rows} == {DeliveryStatus.HELD}
    assert all("a person must decide" in reason for _, reason in rows)


def test_a_retry_key_tells_when_it_was_minted():
    at = datetime(2026, 11, 27, 3, 0, 0, 123000, tzinfo=UTC)
    key = new_retry_key(at)
    assert uuid.UUID(key).version == 7 and str(uuid.UUID(key)) == key
    assert retry_key_minted_at(key) == at
    assert retry_key_minted_at(str(uuid.uuid4())) is None


async def test_the_platform_drops_an_accepted_multicast_and_then_answers_409(sim, line_api):
    [user] = await staff(sim, 1)
    sim.set_fault_rates("multicast", drop_after_accept=1.0)
    key = new_retry_key()
    first = await line_api.multicast([user], [{"type": "text", "text": "a"}], key)
    sim.set_fault_rates("multicast")
    again = await line_api.multicast([user], [{"type": "text", "text": "a"}], key)
    assert (first.outcome.value, again.outcome.value, again.status) == (
        "retry",
        "already_accepted",
        409,
    )
    assert sim.messages_for(user) == [{"type": "text", "text": "a"}]


SPEC = {
    "本社": [("H1", "本社一"), ("H2", "本社二")],
    "総務部": [("S1", "総務一"), ("S2", "総務二"), ("S3", "総務三")],
    "総務課": [("K1", "総務課一"), ("K2", "総務課二")],
    "大阪支店": [("O1", "大阪一"), ("O2", "大阪二")],
}
PARENTS = {"総務部": "本社", "総務課": "総務部"}


@pytest.mark.parametrize(
    "targets",
    [[], ["本社"], ["総務部"], ["総務課", "大阪支店"]],
    ids=["everyone", "head-office-subtree", "general-affairs-subtree", "two-departments"],
)
async def test_the_set_based_start_targets_whom_the_rules_say(sim, db, targets):
    company = await make_company(SPEC, PARENTS)
    await Employee.create(code="N1", name="部署なし")  # reached only when nothing is targeted
    users = {}
    for code, employee in company.employees.items():
        user = sim.add_user(code)
        await LineAccount.create(user_id=user.user_id, employee=employee)
        users[code] = user.user_id
    await LineAccount.filter(user_id=users["S2"]).update(blocked=True)
    await LineAccount.filter(user_id=users["K1"]).update(followed=False)
    await Employee.filter(code="O2").update(active=False)
    await LineAccount.create(user_id=sim.add_user("unlinked").user_id)  # no employee
    departments = await find_departments(targets)

    started = await start_alert(
        Actor.cli(), await earthquake(), drill=False, departments=departments
    )

    # The old ORM rules, spelled out: active employees of the targeted subtrees; LINE for
    # those whose account is followed and not blocked.
    subtree = {
        "本社": {"本社", "総務部", "総務課"},
        "総務部": {"総務部", "総務課"},
        "総務課": {"総務課"},
        "大阪支店": {"大阪支店"},
    }
    wanted = set().union(*(subtree[t] for t in targets)) if targets else None
    department_of = {code: dept for dept, people in SPEC.items() for code, _ in people}
    roster = {
        code
        for code, dept in department_of.items()
        if code != "O2" and (wanted is None or dept in wanted)
    } | ({"N1"} if wanted is None else set())
    by_line = roster - {"S2", "K1", "N1"}

    recipients = await AlertRecipient.filter(alert_id=started.alert.id).values_list(
        "employee__code", "department_id"
    )
    assert {code for code, _ in recipients} == roster
    assert all(
        dept == (company.employees[code].department_id if code != "N1" else None)
        for code, dept in recipients
    )
    rows = await Delivery.filter(alert_id=started.alert.id).values_list(
        "employee__code", "address", "kind", "round", "medium", "status", "attempts", "batch_key"
    )
    assert sorted(rows) == sorted(
        (code, users[code], DeliveryKind.ALERT, 0, Medium.LINE, DeliveryStatus.PENDING, 0, None)
        for code in by_line
    )
    assert (started.recipients, started.line_deliveries, started.unreachable) == (
        len(roster),
        len(by_line),
        len(roster) - len(by_line),
    )
    assert all(d.created_at is not None for d in await Delivery.filter(alert_id=started.alert.id))
