"""The maintainer's admin-group page: the bound groups, a bind code shown once that then binds
a group in LINE, and unbinding (confirmed, with CSRF, audited); nobody else may open it."""

from __future__ import annotations

import html as htmllib
import re

import pytest

from models import AdminGroup, AuditEntry, Employee, EmployeeRole, GroupBindCode, PendingCommand
from tests.conftest import make_company, make_console_user, quick_link, until

GROUP_ID = "C0123456789abcdef0123456789abcdef"


@pytest.fixture
async def users(bot):
    company = await make_company({"総務部": [("E1", "山田")]})
    await make_console_user("boss", "maintainer")
    await make_console_user("soumu", "supervisor", [company.departments["総務部"]])
    await make_console_user("hassin", "sender")
    return company


def text_of(html: str) -> str:
    """The page's text without tags, entities decoded."""
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", html))


async def test_the_maintainer_sees_the_bound_groups_in_the_menu_and_the_list(console, users):
    await AdminGroup.create(group_id=GROUP_ID, bound_by="E1")
    await console.sign_in("boss")

    status, html = await console.get("/console/admin-groups")

    assert status == 200
    assert 'href="/console/admin-groups"' in html  # in the menu
    page = text_of(html)
    assert "C0123…cdef" in page and "E1" in page
    assert GROUP_ID not in page.replace(f'title="{GROUP_ID}"', "")  # shortened on the page


async def test_a_bind_code_is_shown_once_with_its_expiry_and_binds_a_group_in_line(
    console, users, sim
):
    await console.sign_in("boss")
    async with console.session.post(
        console.url("/console/admin-groups/code"), data={"csrf_token": await console.csrf()}
    ) as response:
        html = await response.text()
    page = text_of(html)
    code = re.search(r"[A-Z2-9]{5}-[A-Z2-9]{5}", page).group(0)
    assert "グループで /bind コード を送信" in page and "有効期限" in page
    stored = await GroupBindCode.get()
    assert code not in stored.code_hash and code.replace("-", "") not in stored.code_hash
    _, html = await console.get("/console/admin-groups")
    assert code not in html  # shown on the issuing page only
    row = await AuditEntry.get(action="group_bind_code_issued")
    assert (row.via, row.actor) == ("console", "boss")

    # The code binds a group in LINE, posted by a linked sender.
    employee = await Employee.get(code="E1")
    employee.role = EmployeeRole.SENDER
    await employee.save()
    user_id = await quick_link(sim, employee)
    group = sim.groups.create("防災対策本部", [user_id])
    await sim.groups.invite_bot(group.group_id)
    await sim.groups.text(group.group_id, user_id, f"/bind {code}")
    await until(lambda: AdminGroup.exists(group_id=group.group_id))


async def test_unbinding_asks_to_confirm_then_unbinds_and_is_audited(console, users):
    group = await AdminGroup.create(group_id=GROUP_ID, bound_by="E1")
    employee = await Employee.get(code="E1")
    await PendingCommand.create(
        token_hash="0" * 64,
        group_id=GROUP_ID,
        user_id="U1",
        employee=employee,
        command="drill",
        payload={},
        expires_at=group.bound_at,
    )
    await console.sign_in("boss")

    asked = await console.post(f"/console/admin-groups/{group.id}/unbind")
    assert asked.status == 200
    assert await AdminGroup.exists(id=group.id)  # nothing happens before the confirmation

    done = await console.post(f"/console/admin-groups/{group.id}/unbind", {"confirmed": "1"})

    assert done.status == 303 and done.headers["Location"].endswith("?done=unbound")
    assert not await AdminGroup.exists()
    assert not await PendingCommand.exists()
    row = await AuditEntry.get(action="group_unbind")
    assert (row.via, row.actor, row.target) == ("console", "boss", GROUP_ID)


async def test_unbinding_needs_the_csrf_token(console, users):
    group = await AdminGroup.create(group_id=GROUP_ID, bound_by="E1")
    await console.sign_in("boss")
    response = await console.post(
        f"/console/admin-groups/{group.id}/unbind", {"confirmed": "1"}, csrf=False
    )
    assert response.status == 403
    assert await AdminGroup.exists(id=group.id)


async def test_unbinding_an_unknown_group_is_404(console, users):
    await console.sign_in("boss")
    response = await console.post("/console/admin-groups/99/unbind", {"confirmed": "1"})
    assert response.status == 404


@pytest.mark.parametrize("login", ["soumu", "hassin"])
async def test_supervisors_and_senders_are_forbidden(console, users, login):
    group = await AdminGroup.create(group_id=GROUP_ID, bound_by="E1")
    await console.sign_in(login)

    _, html = await console.get("/console/alerts")
    assert "/console/admin-groups" not in html  # not in their menu
    assert (await console.get("/console/admin-groups"))[0] == 403
    assert (await console.post("/console/admin-groups/code")).status == 403
    response = await console.post(f"/console/admin-groups/{group.id}/unbind", {"confirmed": "1"})
    assert response.status == 403
    assert await AdminGroup.exists(id=group.id) and not await GroupBindCode.exists()
