"""`python -m bot admin-group`: a bind code printed once that binds one group, the list of
bound groups, and unbinding, run as a separate process the way a maintainer runs it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from domain import admin_groups
from domain.actors import Actor
from domain.errors import Invalid
from models import AdminGroup, AuditEntry, Employee, EmployeeRole, GroupBindCode, LineAccount
from tests.conftest import make_company
from tests.test_cli import run

GROUP_ID = "C0123456789abcdef0123456789abcdef"


async def test_a_bind_code_from_the_command_line_binds_one_group_then_lists_and_unbinds(db):
    env = {"DATABASE_URL": db}

    code, out, err = await run("admin-group", "code", "--ttl-minutes", "30", env=env)

    assert code == 0, err
    bind_code = re.search(r"bind code ([A-Z2-9]{5}-[A-Z2-9]{5})", out).group(1)
    assert f"/bind {bind_code}" in out
    stored = await GroupBindCode.get()
    assert bind_code.replace("-", "") not in stored.code_hash
    left = stored.expires_at - datetime.now(UTC)
    assert timedelta(minutes=29) < left <= timedelta(minutes=30)

    company = await make_company({"総務部": [("E1", "山田")]})
    await Employee.filter(id=company.employees["E1"].id).update(role=EmployeeRole.SENDER)
    user_id = "U" + "1" * 32
    await LineAccount.create(user_id=user_id, employee=company.employees["E1"])
    await admin_groups.bind_group(Actor.group("E1"), GROUP_ID, user_id, bind_code)
    with pytest.raises(Invalid):  # once only
        await admin_groups.bind_group(Actor.group("E1"), "C" + "2" * 32, user_id, bind_code)

    code, out, err = await run("admin-group", "list", env=env)
    assert code == 0, err
    assert f"{GROUP_ID},E1," in out

    code, out, err = await run("admin-group", "unbind", GROUP_ID, env=env)
    assert code == 0, err
    assert not await AdminGroup.exists()
    actions = await AuditEntry.filter(via="cli").order_by("id").values_list("action", flat=True)
    assert actions == ["group_bind_code_issued", "group_unbind"]


async def test_bad_arguments_are_refused_with_one_line(db):
    env = {"DATABASE_URL": db}
    code, _, err = await run("admin-group", "code", "--ttl-minutes", "0", env=env)
    assert code == 2 and "--ttl-minutes" in err
    code, _, err = await run("admin-group", "unbind", GROUP_ID, env=env)
    assert code == 2 and "no admin group" in err
    assert not await GroupBindCode.exists()
