"""Signing in with an employee code and a registration code, as employees type them: the
employee code in any case (link page and /me/), and a code spent by linking LINE in chat
still opens the employee's page once, until a password is set."""

from __future__ import annotations

import pytest

from domain import organization
from domain.linking import issue_registration_code
from domain.settings import get_settings
from models import Employee, LineAccount, RegistrationCode
from tests import me_helpers
from tests.conftest import make_company, until
from tests.me_helpers import PASSWORD

bot, phone = me_helpers.bot, me_helpers.phone  # fixtures: the app with LINE Login on


@pytest.fixture
async def company(bot):
    return await make_company({"総務部": [("AB001", "山田 太郎"), ("ab002", "佐藤 花子")]})


async def link_in_chat(line, employee: Employee, typed_code: str) -> str:
    """Link LINE in chat with a fresh registration code typed as `typed_code` says; return
    the code."""
    user_id = await line.befriend(employee.name)
    issued = await issue_registration_code(employee)
    url = await line.link_url(user_id)
    response = await line.sign_in(url, typed_code, issued.code)
    assert response.status == 302, response.status
    async with line.session.get(response.headers["Location"]) as dialog:
        assert dialog.status == 200
    await until(lambda: LineAccount.exists(user_id=user_id, employee_id=employee.id))
    return issued.code


async def test_employee_code_is_found_in_any_case(company):
    assert (await organization.active_employee("ab001")).code == "AB001"
    assert (await organization.active_employee(" AB002 ")).code == "ab002"


async def test_an_exact_code_wins_over_one_differing_only_by_case(company):
    await Employee.create(code="AB002", name="別の人")
    assert (await organization.active_employee("AB002")).name == "別の人"
    assert (await organization.active_employee("ab002")).name == "佐藤 花子"
    assert await organization.active_employee("Ab002") is None  # ambiguous


async def test_link_page_takes_the_employee_code_in_lower_case(sim, bot, line, company):
    yamada = company.employees["AB001"]
    await link_in_chat(line, yamada, "ab001")
    assert await LineAccount.exists(employee_id=yamada.id)


async def test_me_page_takes_the_employee_code_in_lower_case(sim, bot, phone, company):
    issued = await issue_registration_code(company.employees["AB001"])
    response = await phone.sign_in("ab001", issued.code)
    assert response.status == 303 and response.headers["Location"] == "/me/password"


async def test_an_employee_who_linked_in_chat_signs_in_to_the_page_with_the_same_code(
    sim, bot, line, phone, company
):
    yamada = company.employees["AB001"]
    code = await link_in_chat(line, yamada, "AB001")
    assert (await RegistrationCode.get(employee_id=yamada.id)).used_at is not None

    response = await phone.sign_in("AB001", code)
    assert response.status == 303 and response.headers["Location"] == "/me/password"
    response = await phone.post("/me/password", {"password": PASSWORD, "confirm": PASSWORD})
    assert response.status == 303
    await phone.post("/me/logout")

    assert (await phone.sign_in("AB001", code)).status == 401  # the password spent it
    assert (await phone.sign_in("AB001", PASSWORD)).status == 303


async def test_where_codes_are_kept_a_chat_link_leaves_the_code_signing_in(
    sim, bot, line, phone, company
):
    settings = await get_settings()
    settings.employee_passwords = False
    await settings.save()
    yamada = company.employees["AB001"]
    code = await link_in_chat(line, yamada, "AB001")
    for _ in range(2):
        response = await phone.sign_in("AB001", code)
        assert response.status == 303 and response.headers["Location"] == "/me/"
        await phone.post("/me/logout")


async def test_the_link_page_does_not_take_a_code_a_chat_link_spent(sim, bot, line, company):
    yamada = company.employees["AB001"]
    code = await link_in_chat(line, yamada, "AB001")
    other = await line.befriend("他人")
    url = await line.link_url(other)
    response = await line.sign_in(url, "AB001", code)
    assert response.status != 302
    assert not await LineAccount.exists(user_id=other, employee_id=yamada.id)
