"""An admin group keeps the name LINE gives it at /bind (the group summary); the console's
admin-group page and audit log show it, and a LINE failure binds the group without a name."""

from __future__ import annotations

import html as htmllib
import re

import pytest

from domain import admin_groups
from domain.actors import Actor
from models import AdminGroup, AuditEntry, Employee, EmployeeRole
from tests.conftest import make_company, make_console_user, quick_link, until


@pytest.fixture
async def sender(bot, sim):
    """E1, a linked sender, and a maintainer `boss`; the sender's LINE user ID."""
    await make_company({"総務部": [("E1", "山田")]})
    await make_console_user("boss", "maintainer")
    employee = await Employee.get(code="E1")
    employee.role = EmployeeRole.SENDER
    await employee.save()
    return await quick_link(sim, employee)


async def bind(sim, user_id: str, name: str) -> AdminGroup:
    """A group named `name`, the bot invited and bound there by the sender; its row."""
    group = sim.groups.create(name, [user_id])
    await sim.groups.invite_bot(group.group_id)
    issued = await admin_groups.issue_bind_code(Actor.cli())
    await sim.groups.text(group.group_id, user_id, f"/bind {issued.code}")
    await until(lambda: AdminGroup.exists(group_id=group.group_id))
    return await AdminGroup.get(group_id=group.group_id)


def text_of(html: str) -> str:
    """The page's text without tags, entities decoded."""
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", html))


async def test_binding_keeps_the_group_name_and_the_console_shows_it(console, sim, sender):
    group = await bind(sim, sender, "防災対策本部")

    assert group.name == "防災対策本部"
    await console.sign_in("boss")
    _, html = await console.get("/console/admin-groups")
    assert "防災対策本部" in text_of(html)
    _, html = await console.get("/console/audit")
    assert "管理グループ「防災対策本部」(登録: E1)" in text_of(html)  # the group_bind row


async def test_a_group_line_will_not_describe_is_bound_without_a_name(console, sim, sender):
    sim.inject_fault("groupSummary", status=500)

    group = await bind(sim, sender, "防災対策本部")

    assert group.name == ""
    assert await AuditEntry.exists(action="group_bind", result="ok", target=group.group_id)
    await console.sign_in("boss")
    _, html = await console.get("/console/admin-groups")
    assert "(不明)" in text_of(html)
    _, html = await console.get("/console/audit")
    assert f"管理グループ #{group.id}(登録: E1)" in text_of(html)
