"""The maintainer's people pages through the real app: adding one employee, and managing
console users (add, role, departments, disable, enable, password reset), each audited; a
sender with departments sees only them."""

from __future__ import annotations

import pytest

from domain import console_users
from domain.actors import Actor
from domain.errors import Conflict
from models import AuditEntry, ConsoleRole, ConsoleUser, Department, Employee
from tests.conftest import CONSOLE_PASSWORD, make_company, make_console_user

NEW_PASSWORD = "another long passphrase"


@pytest.fixture
async def company(bot):
    company = await make_company(
        {"本社": [], "総務部": [("E1", "山田 太郎")], "営業部": [("E2", "鈴木 一郎")]},
        parents={"総務部": "本社", "営業部": "本社"},
    )
    await make_console_user("boss", "maintainer")
    await make_console_user("soumu", "supervisor", [company.departments["総務部"]])
    await make_console_user("hassin", "sender")
    return company


# Adding one employee


async def test_maintainer_adds_one_employee_with_a_new_department(console, company):
    await console.sign_in("boss")
    response = await console.post(
        "/console/employees/new",
        {"code": "E9", "name": "田中 花", "department": "本社/広報部",
         "email": "tanaka@example.com", "phone": "03-1234-5678", "role": "sender"},
    )  # fmt: skip

    assert response.status == 303
    status, html = await console.get(response.headers["Location"])
    assert status == 200 and "社員 E9 を登録しました。" in html and "田中 花" in html
    added = await Employee.get(code="E9").select_related("department__parent")
    assert added.active and added.phone == "03-1234-5678" and added.email == "tanaka@example.com"
    assert added.role.value == "sender"
    assert added.department.name == "広報部" and added.department.parent.name == "本社"
    assert await AuditEntry.exists(
        via="console", actor="boss", action="employee_add", target="E9", result="ok"
    )


async def test_adding_an_employee_whose_code_is_taken_in_another_case_is_refused(console, company):
    await console.sign_in("boss")
    response = await console.post(
        "/console/employees/new", {"code": "e1", "name": "別人", "department": "総務部"}
    )
    assert response.status == 200
    html = await response.text()
    assert "社員番号 e1 はすでに登録されています。" in html and 'value="別人"' in html
    assert await Employee.filter(name="別人").count() == 0
    assert await AuditEntry.exists(action="employee_add", target="e1", result="failed")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-address", "メールアドレスの形式が正しくありません"),
        ("phone", "call me", "電話番号は数字と - ( ) + で入力してください"),
        ("code", "E 10", "社員番号に空白は使えません"),
    ],
)
async def test_a_bad_field_is_shown_beside_the_form(console, company, field, value, message):
    await console.sign_in("boss")
    form = {"code": "E10", "name": "新人", "department": "", field: value}
    response = await console.post("/console/employees/new", form)
    assert response.status == 200 and message in await response.text()
    assert not await Employee.exists(name="新人")


@pytest.mark.parametrize("login", ["soumu", "hassin"])
async def test_only_a_maintainer_may_add_an_employee(console, company, login):
    await console.sign_in(login)
    assert (await console.get("/console/employees/new"))[0] == 403
    response = await console.post("/console/employees/new", {"code": "E9", "name": "x"})
    assert response.status == 403
    assert not await Employee.exists(code="E9")


# Console users


async def test_maintainer_adds_a_sender_limited_to_a_department(console, company):
    await console.sign_in("boss")
    sales = company.departments["営業部"]
    response = await console.post(
        "/console/users",
        {"login": "eigyo", "name": "営業の発信者", "role": "sender",
         "departments": str(sales.id), "password": NEW_PASSWORD},
    )  # fmt: skip
    assert response.status == 303
    _, html = await console.get(response.headers["Location"])
    assert "ユーザーを追加しました。" in html and "eigyo" in html
    assert await AuditEntry.exists(actor="boss", action="user_add", target="eigyo", result="ok")

    user = await ConsoleUser.get(login="eigyo")
    seen = await console_users.viewer(user.id)
    assert seen.role is ConsoleRole.SENDER
    assert seen.scope.includes(sales.id) and not seen.scope.includes(
        company.departments["総務部"].id
    )


async def test_a_sender_with_departments_sees_only_their_employees(console, bot, company):
    await console_users.add_user(
        "eigyo", "営業", NEW_PASSWORD, ConsoleRole.SENDER, [company.departments["営業部"]],
        Actor.cli(),
    )  # fmt: skip
    unlimited = await console_users.viewer((await ConsoleUser.get(login="hassin")).id)
    assert unlimited.scope.is_everything  # a sender without departments sees everyone
    limited = await console_users.viewer((await ConsoleUser.get(login="eigyo")).id)
    assert not limited.scope.includes(company.employees["E1"].department_id)
    assert limited.scope.includes(company.employees["E2"].department_id)


async def test_maintainer_changes_role_and_departments_and_the_user_sees_accordingly(
    console, company
):
    await console.sign_in("boss")
    sales = company.departments["営業部"]
    response = await console.post(
        "/console/users/hassin/update",
        {"name": "発信 次郎", "role": "supervisor", "departments": str(sales.id)},
    )
    assert response.status == 303
    user = await ConsoleUser.get(login="hassin")
    assert user.role is ConsoleRole.SUPERVISOR and user.name == "発信 次郎"
    assert user.session_generation == 1  # a role change ends the user's sessions
    assert [d.id for d in await user.departments.all()] == [sales.id]
    entry = await AuditEntry.get(action="user_update", target="hassin")
    assert entry.actor == "boss" and entry.result == "ok"


async def test_a_supervisor_without_departments_is_refused(console, company):
    await console.sign_in("boss")
    response = await console.post(
        "/console/users/soumu/update", {"name": "x", "role": "supervisor"}
    )
    assert response.status == 200
    assert "集計権限者には部署を1つ以上指定してください。" in await response.text()
    assert await (await ConsoleUser.get(login="soumu")).departments.all().count() == 1


async def test_disabled_user_cannot_sign_in_until_enabled(console, bot, company):
    await console.sign_in("boss")
    assert (await console.post("/console/users/soumu/disable")).status == 303
    assert not (await ConsoleUser.get(login="soumu")).active
    assert await AuditEntry.exists(actor="boss", action="user_disable", target="soumu")

    assert (await console.post("/console/users/soumu/enable")).status == 303
    assert (await ConsoleUser.get(login="soumu")).active
    assert await AuditEntry.exists(actor="boss", action="user_enable", target="soumu")


async def test_maintainer_cannot_disable_themself_nor_the_last_maintainer(console, company):
    await console.sign_in("boss")
    response = await console.post("/console/users/boss/disable")
    assert response.status == 200 and "自分自身は無効にできません。" in await response.text()
    assert (await ConsoleUser.get(login="boss")).active
    with pytest.raises(Conflict):
        await console_users.disable_user("boss", Actor.console("someone"))
    with pytest.raises(Conflict):
        await console_users.update_user(
            "boss", name="boss", role=ConsoleRole.SENDER, departments=[], actor=Actor.cli()
        )
    assert await AuditEntry.filter(action="user_disable", result="refused").count() == 0
    assert await AuditEntry.filter(action="user_disable", result="failed").count() == 2


async def test_password_reset_lets_the_user_sign_in_with_the_new_one(console, bot, company):
    await console.sign_in("boss")
    response = await console.post("/console/users/soumu/password", {"password": NEW_PASSWORD})
    assert response.status == 303
    assert await AuditEntry.exists(actor="boss", action="user_passwd", target="soumu")
    await console.post("/console/logout")

    assert (await console.sign_in("soumu", CONSOLE_PASSWORD)).status != 303
    assert (await console.sign_in("soumu", NEW_PASSWORD)).status == 303


@pytest.mark.parametrize("login", ["soumu", "hassin"])
async def test_only_a_maintainer_manages_users(console, company, login):
    await console.sign_in(login)
    assert (await console.get("/console/users"))[0] == 403
    assert (await console.post("/console/users/boss/disable")).status == 403
    assert (await ConsoleUser.get(login="boss")).active


async def test_users_page_lists_every_user_with_role_words(console, company):
    await console.sign_in("boss")
    status, html = await console.get("/console/users")
    assert status == 200
    for word in ("boss", "soumu", "hassin", "集計権限者", "発信権限者", "メンテナンス担当者"):
        assert word in html
    assert await Department.exists(name="営業部")


async def test_the_edit_form_changes_the_phone_number(console, company):
    await console.sign_in("boss")
    yamada = company.employees["E1"]
    form = {"name": "山田 太郎", "department": "本社/総務部", "email": "", "role": "member",
            "active": "1", "phone": "03-0000-1111"}  # fmt: skip
    response = await console.post(f"/console/employees/{yamada.id}", form)
    assert response.status == 303
    assert (await Employee.get(id=yamada.id)).phone == "03-0000-1111"
    _, html = await console.get(f"/console/employees/{yamada.id}")
    assert 'value="03-0000-1111"' in html

    response = await console.post(f"/console/employees/{yamada.id}", {**form, "phone": "x"})
    assert response.status == 200 and "電話番号は数字と" in await response.text()
    assert (await Employee.get(id=yamada.id)).phone == "03-0000-1111"
