"""Unbinding an admin group makes the bot leave it in LINE (`POST /v2/bot/group/{id}/leave`),
from the console and from the command line; when LINE refuses, the unbinding stands and the
maintainer is told to remove the bot in LINE."""

from __future__ import annotations

import pytest

from domain import admin_groups
from domain.actors import Actor
from models import AdminGroup, AuditEntry, Employee, EmployeeRole, InboxEvent, InboxStatus
from tests.conftest import ACCESS_TOKEN, make_company, make_console_user, quick_link, until
from tests.test_cli import run


@pytest.fixture
async def bound(bot, sim):
    """A group 防災対策本部 bound by its sender E1, the bot in it; its group ID."""
    company = await make_company({"総務部": [("E1", "山田")]})
    await make_console_user("boss", "maintainer")
    employee = await Employee.get(code="E1")
    employee.role = EmployeeRole.SENDER
    await employee.save()
    user_id = await quick_link(sim, employee)
    group = sim.groups.create("防災対策本部", [user_id])
    await sim.groups.invite_bot(group.group_id)
    issued = await admin_groups.issue_bind_code(Actor.cli())
    await sim.groups.text(group.group_id, user_id, f"/bind {issued.code}")
    await until(lambda: AdminGroup.exists(group_id=group.group_id))
    assert company.employees
    return group.group_id


async def unbind_in_console(console, group_id: str) -> str:
    """Confirm the unbinding on the console; return the page it ends on."""
    await console.sign_in("boss")
    group = await AdminGroup.get(group_id=group_id)
    done = await console.post(f"/console/admin-groups/{group.id}/unbind", {"confirmed": "1"})
    assert done.status == 303
    return (await console.get(done.headers["Location"]))[1]


async def test_unbinding_in_the_console_makes_the_bot_leave_the_group(console, sim, bound):
    html = await unbind_in_console(console, bound)

    assert "ボットはグループから退出しました" in html
    assert not sim.groups.get(bound).bot_member
    assert not await AdminGroup.exists()
    assert await AuditEntry.exists(action="group_unbind", actor="boss", result="ok")
    # The leave event LINE then sends finds nothing bound: no second unbinding row.
    await until(lambda: InboxEvent.exists(event_type="leave", status=InboxStatus.DONE))
    assert await AuditEntry.filter(action="group_unbind").count() == 1


async def test_when_line_refuses_to_leave_the_unbinding_stands_and_the_page_says_so(
    console, sim, bound
):
    sim.inject_fault("leaveGroup", status=500)

    html = await unbind_in_console(console, bound)

    assert "LINEからの退出に失敗しました" in html
    assert not await AdminGroup.exists()
    assert sim.groups.get(bound).bot_member  # still there: the maintainer removes it in LINE


async def test_unbinding_from_the_command_line_makes_the_bot_leave(sim, bot, bound, database_url):
    env = {
        "DATABASE_URL": database_url,
        "LINE_CHANNEL_ACCESS_TOKEN": ACCESS_TOKEN,
        "LINE_API_BASE_URL": sim.config.public_base_url,
    }
    code, out, err = await run("admin-group", "unbind", bound, env=env)

    assert code == 0, err
    assert "the bot left the group" in out
    assert not sim.groups.get(bound).bot_member
    assert not await AdminGroup.exists()
