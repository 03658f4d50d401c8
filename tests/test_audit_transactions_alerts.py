"""An alert or admin-group action and its audit row commit together, from every face: when the
"ok" row cannot be written (a database trigger refuses it), the change rolls back and only a
"failed" row stays. And the console's alert list counts answers without a query per alert."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest
from tortoise import connections

from domain.actors import Actor
from domain.alerts import start_alert
from models import (
    AdminGroup,
    Alert,
    AlertRecipient,
    AlertRound,
    AuditEntry,
    Delivery,
    PendingCommand,
    Template,
)
from models.sql import is_postgres
from tests.conftest import make_company, make_console_user, quick_link, until
from tests.test_admin_group import room, settled, unbound  # noqa: F401 (fixtures)
from tests.test_cli import run


async def refuse_ok_row(action: str) -> None:
    """From now on the database refuses the "ok" audit row of `action` (and only that row),
    as a crash at the end of the action's transaction would."""
    client = connections.get("default")
    if is_postgres():
        await client.execute_script(
            "CREATE FUNCTION refuse_ok_audit() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN IF NEW.result = 'ok' AND NEW.action = '{action}' THEN"
            " RAISE EXCEPTION 'audit row refused'; END IF; RETURN NEW; END $$;"
            " CREATE TRIGGER refuse_ok_audit BEFORE INSERT ON audit_entry"
            " FOR EACH ROW EXECUTE FUNCTION refuse_ok_audit();"
        )
    else:
        await client.execute_script(
            "CREATE TRIGGER refuse_ok_audit BEFORE INSERT ON audit_entry"
            f" WHEN NEW.result = 'ok' AND NEW.action = '{action}'"
            " BEGIN SELECT RAISE(ABORT, 'audit row refused'); END;"
        )


async def results(action: str) -> list[str]:
    return await AuditEntry.filter(action=action).values_list("result", flat=True)


async def earthquake_drill() -> Alert:
    return (await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)).alert


# Console


@pytest.fixture
async def sender(sim, bot, console):
    """A company on LINE and a sender signed in to the console."""
    company = await make_company({"総務部": [("E1", "山田")], "営業部": [("E2", "鈴木")]})
    for employee in company.employees.values():
        await quick_link(sim, employee)
    await make_console_user("sender", "sender")
    await console.sign_in("sender")
    return console


async def test_a_console_start_whose_audit_row_fails_leaves_no_alert(sender):
    await refuse_ok_row("alert_started")
    form = {"template": str((await Template.get(key="earthquake")).id), "drill": "drill"}

    response = await sender.post("/console/alerts/start", form)

    assert response.status == 500
    assert not await Alert.exists()
    assert not await AlertRecipient.exists() and not await Delivery.exists()
    assert await results("alert_started") == ["failed"]


async def test_a_console_close_whose_audit_row_fails_leaves_the_alert_open(sender):
    alert = await earthquake_drill()
    await refuse_ok_row("alert_closed")

    response = await sender.post(f"/console/alerts/{alert.id}/close")

    assert response.status == 500
    assert (await Alert.get(id=alert.id)).closed_at is None
    assert await results("alert_closed") == ["failed"]


async def test_a_console_reminder_whose_audit_row_fails_writes_no_round(sender):
    alert = await earthquake_drill()
    await refuse_ok_row("alert_reminded")

    response = await sender.post(f"/console/alerts/{alert.id}/remind", {"message": "至急"})

    assert response.status == 500
    assert not await AlertRound.exists()
    assert not await Delivery.filter(round__gt=0).exists()
    assert await results("alert_reminded") == ["failed"]


# Admin group


async def test_a_group_close_whose_audit_row_fails_leaves_the_alert_open(room):  # noqa: F811
    alert = await earthquake_drill()
    await refuse_ok_row("group_close")

    await room.sim.groups.text(room.group_id, room.users["山田"], f"/close {alert.id}")
    await until(lambda: results("group_close"))
    await until(settled)

    assert (await Alert.get(id=alert.id)).closed_at is None
    assert set(await results("group_close")) == {"failed"}  # each retry of the event, too


async def test_a_confirmation_whose_audit_row_fails_starts_nothing_and_stays_unspent(
    room,  # noqa: F811
):
    _, buttons = await room.confirmation("山田", "/drill")
    await refuse_ok_row("group_confirm")

    await room.sim.groups.postback(room.group_id, room.users["山田"], buttons["実行"])
    await until(lambda: results("group_confirm"))
    await until(settled)

    assert not await Alert.exists() and not await Delivery.exists()
    assert (await PendingCommand.get()).used_at is None  # spent in the same transaction
    assert set(await results("group_confirm")) == {"failed"}


# Command line


async def test_a_cli_close_whose_audit_row_fails_leaves_the_alert_open(db):
    await make_company({"総務部": [("E1", "山田")]})
    alert = await earthquake_drill()
    await refuse_ok_row("alert_closed")

    code, _, _ = await run("close", str(alert.id), env={"DATABASE_URL": db})

    assert code != 0
    assert (await Alert.get(id=alert.id)).closed_at is None
    rows = await AuditEntry.filter(action="alert_closed").values_list("via", "result")
    assert rows == [("cli", "failed")]


async def test_a_cli_unbind_whose_audit_row_fails_keeps_the_group(db):
    await AdminGroup.create(group_id="C" + "1" * 32, bound_by="E1")
    await refuse_ok_row("group_unbind")

    code, _, _ = await run("admin-group", "unbind", "C" + "1" * 32, env={"DATABASE_URL": db})

    assert code != 0
    assert await AdminGroup.exists()
    assert await results("group_unbind") == ["failed"]


# The alert list: answered/total without a query per alert


def _serving_a_request() -> bool:
    """Whether the running task is the web server's (not a worker's running beside it)."""
    task = asyncio.current_task()
    return task is not None and "RequestHandler" in task.get_coro().__qualname__


@contextlib.contextmanager
def statements_counted() -> Iterator[list[str]]:
    """Every statement the default connection runs for web requests inside the block."""
    client_type = type(connections.get("default"))
    seen: list[str] = []
    originals = {
        name: getattr(client_type, name)
        for name in ("execute_query", "execute_query_dict", "execute_insert")
    }

    def counting(name: str):
        original = originals[name]

        async def run(self, query, *args, **kwargs):
            if _serving_a_request():
                seen.append(query)
            return await original(self, query, *args, **kwargs)

        return run

    with pytest.MonkeyPatch.context() as patch:
        for name in originals:
            patch.setattr(client_type, name, counting(name))
        yield seen


async def alert_list_statements(console) -> int:
    with statements_counted() as seen:
        status, _ = await console.get("/console/alerts")
    assert status == 200
    return len([q for q in seen if "alert" in q.lower()])  # not the viewer's session


async def test_the_alert_list_of_fifty_alerts_runs_a_bounded_number_of_statements(
    sim, bot, console
):
    company = await make_company({"総務部": [("E1", "山田")], "営業部": [("E2", "鈴木")]})
    await make_console_user("soumu", "supervisor", [company.departments["総務部"]])
    await console.sign_in("soumu")
    for _ in range(5):
        await earthquake_drill()
    few = await alert_list_statements(console)
    for _ in range(45):
        await earthquake_drill()

    many = await alert_list_statements(console)

    assert 1 <= few <= 2 and many == few  # the alerts, then answered/total in one statement
    _, html = await console.get("/console/alerts")
    assert html.count("0 / 1(0%)") == 50  # each alert counted in the supervisor's scope


async def test_the_alert_page_tallies_once_and_checks_the_scope_once(sim, bot, console):
    company = await make_company({"総務部": [("E1", "山田")], "営業部": [("E2", "鈴木")]})
    await make_console_user("soumu", "supervisor", [company.departments["総務部"]])
    await console.sign_in("soumu")
    alert = await earthquake_drill()

    with statements_counted() as seen:
        status, html = await console.get(f"/console/alerts/{alert.id}")

    assert status == 200 and "【訓練】" in html
    tallies = [q for q in seen if "FROM answer_count" in q]
    assert len(tallies) == 1  # the kept counts, read once, scoped in the same statement
    assert len([q for q in seen if 'FROM "alert" ' in q]) == 1  # the alert is read once
