"""The maintainer's organisation pages: employees (list, search, edit, deactivate, CSV import
with preview and confirm, export) and registration codes (issue, print, revoke), for every
role, through the real app."""

from __future__ import annotations

import io
import re

import pytest

from domain.actors import Actor
from domain.hashing import verify_secret
from domain.linking import normalize_code
from domain.settings import update_settings
from models import AuditEntry, Employee, EmployeeRole, RegistrationCode
from tests.conftest import make_company, make_console_user, quick_link

PAGES = [
    "/console/employees",
    "/console/employees?q=山田",
    "/console/employees/export",
    "/console/employees/import",
    "/console/employees/{E1}",
    "/console/codes",
]
CODE = re.compile(r"\b[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}\b")


@pytest.fixture
async def company(bot):
    company = await make_company(
        {
            "本社": [],
            "総務部": [("E1", "山田 太郎"), ("E2", "佐藤 花子")],
            "営業部": [("E3", "鈴木")],
        },
        parents={"総務部": "本社", "営業部": "本社"},
    )
    await make_console_user("boss", "maintainer")
    await make_console_user("soumu", "supervisor", [company.departments["総務部"]])
    await make_console_user("hassin", "sender")
    return company


async def submit(console, path: str, data: dict) -> tuple[int, str]:
    """POST a form with the CSRF token; return status and the page."""
    async with console.session.post(
        console.url(path), data={**data, "csrf_token": await console.csrf()},
        allow_redirects=False,
    ) as response:  # fmt: skip
        return response.status, await response.text()


def page(path: str, company) -> str:
    return path.replace("{E1}", str(company.employees["E1"].id))


@pytest.mark.parametrize("path", PAGES)
async def test_maintainer_opens_every_organisation_page(console, company, path):
    await console.sign_in("boss")
    status, _ = await console.get(page(path, company))
    assert status == 200


@pytest.mark.parametrize("login", ["soumu", "hassin"])
@pytest.mark.parametrize("path", PAGES)
async def test_supervisors_and_senders_are_refused_every_organisation_page(
    console, company, path, login
):
    await console.sign_in(login)
    status, _ = await console.get(page(path, company))
    assert status == 403


@pytest.mark.parametrize("path", PAGES)
async def test_anonymous_visitors_are_sent_to_sign_in(console, company, path):
    status, _ = await console.get(page(path, company))
    assert status == 303


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/console/employees/import", {"file": "code,name,department,email,role"}),
        ("/console/employees/import/confirm", {"token": "x.y"}),
        ("/console/employees/{E1}", {"name": "x", "role": "member", "active": "1"}),
        ("/console/employees/{E1}/deactivate", {}),
        ("/console/codes/issue", {"employee_code": "E1", "days": "14"}),
        ("/console/codes/revoke", {"employee_id": "{E1}"}),
    ],
)
@pytest.mark.parametrize("login", ["soumu", "hassin", None])
async def test_only_maintainers_may_change_the_organisation(console, company, path, data, login):
    if login:
        await console.sign_in(login)
    data = {k: page(v, company) if isinstance(v, str) else v for k, v in data.items()}
    response = await console.post(page(path, company), data)
    assert response.status == (403 if login else 401)
    assert (await Employee.get(code="E1")).active
    assert not await RegistrationCode.exists()


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/console/employees/{E1}/deactivate", {}),
        ("/console/codes/issue", {"employee_code": "E1", "days": "14"}),
    ],
)
async def test_a_post_without_the_csrf_token_is_forbidden(console, company, path, data):
    await console.sign_in("boss")
    response = await console.post(page(path, company), data, csrf=False)
    assert response.status == 403
    assert (await Employee.get(code="E1")).active
    assert not await RegistrationCode.exists()


async def test_the_list_searches_by_code_name_and_department(console, company):
    await console.sign_in("boss")
    _, html = await console.get("/console/employees?q=営業")
    assert "鈴木" in html and "山田" not in html
    _, html = await console.get("/console/employees?q=E2")
    assert "佐藤" in html and "鈴木" not in html
    _, html = await console.get("/console/employees?q=本社/総務部")
    assert "山田" in html and "佐藤" in html and "鈴木" not in html


async def test_the_display_name_shows_only_while_contact_info_is_viewable(console, company, sim):
    await quick_link(sim, company.employees["E1"], "たろうのLINE")
    await console.sign_in("boss")
    _, html = await console.get("/console/employees")
    assert "登録済" in html and "未登録" in html
    assert "たろうのLINE" not in html
    await update_settings(
        contact_info_viewable=True, monthly_pack=3000, actor=Actor.console("test")
    )
    _, html = await console.get("/console/employees")
    assert "たろうのLINE" in html
    await update_settings(
        contact_info_viewable=False, monthly_pack=3000, actor=Actor.console("test")
    )
    _, html = await console.get(page("/console/employees/{E1}", company))
    assert "登録済" in html and "たろうのLINE" not in html


async def test_editing_an_employee_saves_and_bad_input_is_shown(console, company):
    await console.sign_in("boss")
    path = page("/console/employees/{E1}", company)
    status, html = await submit(
        console, path, {"name": "山田 太郎", "department": "本社/人事部", "email": "bad",
                        "role": "member", "active": "1"},
    )  # fmt: skip
    assert status == 200 and "メールアドレスの形式が正しくありません" in html
    assert (await Employee.get(code="E1")).email is None
    response = await console.post(
        path, {"name": "山田 太朗", "department": "本社/人事部", "email": "taro@example.com",
               "role": "sender", "active": "1"},
    )  # fmt: skip
    assert response.status == 303
    employee = await Employee.get(code="E1").select_related("department")
    assert employee.name == "山田 太朗" and employee.email == "taro@example.com"
    assert employee.role is EmployeeRole.SENDER and employee.department.name == "人事部"
    response = await console.post(path + "/deactivate", {})
    assert response.status == 303
    assert not (await Employee.get(code="E1")).active
    assert await AuditEntry.filter(actor="boss", action="employee_deactivate").exists()


GOOD_CSV = (
    "code,name,department,email,role\r\n"
    "E1,山田 太郎,本社/総務部,,\r\n"
    "E9,高橋 次郎,本社/人事部,takahashi@example.com,sender\r\n"
).encode("cp932")


async def test_import_previews_the_counts_then_writes_on_confirm(console, company):
    await console.sign_in("boss")
    _, html = await console.get("/console/employees/import")  # the upload form again
    assert 'type="file"' in html
    async with console.session.post(
        console.url("/console/employees/import"),
        data={"file": io.BytesIO(GOOD_CSV), "csrf_token": await console.csrf()},
    ) as r:
        html = await r.text()
    assert 'id="count-new">1<' in html and 'id="count-unchanged">1<' in html
    assert not await Employee.exists(code="E9")  # the preview wrote nothing
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)

    tampered = token[:-2] + ("00" if not token.endswith("00") else "11")
    status, html = await submit(console, "/console/employees/import/confirm", {"token": tampered})
    assert status == 200 and "確認情報が正しくありません" in html
    assert not await Employee.exists(code="E9")

    async with console.session.post(
        console.url("/console/employees/import/confirm"),
        data={"token": token, "csrf_token": await console.csrf()},
    ) as r:
        assert r.status == 200
        assert "取り込みました" in await r.text()
    takahashi = await Employee.get(code="E9").select_related("department")
    assert takahashi.role is EmployeeRole.SENDER and takahashi.department.name == "人事部"
    assert (await Employee.get(code="E3")).active  # not in the file, not deactivated
    assert await AuditEntry.filter(actor="boss", action="employees_import", result="ok").exists()


async def test_import_can_deactivate_the_missing_when_asked(console, company):
    await console.sign_in("boss")
    async with console.session.post(
        console.url("/console/employees/import"),
        data={"file": io.BytesIO(GOOD_CSV), "deactivate_missing": "1",
              "csrf_token": await console.csrf()},
    ) as r:  # fmt: skip
        html = await r.text()
    assert 'id="count-deactivated">2<' in html
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    response = await console.post("/console/employees/import/confirm", {"token": token})
    assert response.status == 200
    assert set(await Employee.filter(active=True).values_list("code", flat=True)) == {"E1", "E9"}


async def test_a_bad_csv_shows_every_error_and_writes_nothing(console, company):
    await console.sign_in("boss")
    bad = "code,name,department,email,role\nE9,高橋,本社,,\nE10,田中,本社,not-mail,\n"
    async with console.session.post(
        console.url("/console/employees/import"),
        data={"file": io.BytesIO(bad.encode()), "csrf_token": await console.csrf()},
    ) as r:
        assert r.status == 200
        html = await r.text()
    assert "3行目 email: メールアドレスの形式が正しくありません" in html
    assert 'name="token"' not in html
    assert not await Employee.exists(code="E9")


async def test_a_file_in_an_unknown_encoding_is_refused(console, company):
    await console.sign_in("boss")
    data = "code,name,department,email,role\nE9,高橋,,,\n".encode("utf-16")
    async with console.session.post(
        console.url("/console/employees/import"),
        data={"file": io.BytesIO(data), "csrf_token": await console.csrf()},
    ) as r:
        assert r.status == 200
        assert "文字コード" in await r.text()
    assert not await Employee.exists(code="E9")


async def test_export_is_utf8_with_bom_and_holds_every_employee(console, company):
    await console.sign_in("boss")
    async with console.session.get(console.url("/console/employees/export")) as r:
        assert r.status == 200
        assert "attachment" in r.headers["Content-Disposition"]
        body = await r.read()
    assert body.startswith(b"\xef\xbb\xbf")
    lines = body.decode("utf-8-sig").splitlines()
    assert lines[0] == "code,name,department,email,role,active"
    assert "E1,山田 太郎,本社/総務部,,member,1" in lines
    assert "E3,鈴木,本社/営業部,,member,1" in lines
    assert await AuditEntry.filter(actor="boss", action="employees_export").exists()


async def test_a_code_issued_for_one_employee_is_shown_once_and_works(console, company):
    await console.sign_in("boss")
    async with console.session.post(
        console.url("/console/codes/issue"),
        data={"employee_code": "E1", "days": "7", "csrf_token": await console.csrf()},
    ) as r:
        assert r.status == 200
        assert r.headers["Cache-Control"] == "no-store"
        html = await r.text()
    codes = CODE.findall(html)
    assert len(codes) == 1
    assert "「連携」と送信" in html and "社員番号" in html and "有効期限" in html
    row = await RegistrationCode.get(employee_id=company.employees["E1"].id)
    assert await verify_secret(row.code_hash, normalize_code(codes[0]))
    _, listing = await console.get("/console/codes")
    assert codes[0] not in listing  # never shown again
    assert await AuditEntry.filter(actor="boss", action="codes_issue").exists()


async def test_codes_for_a_department_skip_employees_with_line(console, company, sim):
    await quick_link(sim, company.employees["E1"])
    await console.sign_in("boss")
    async with console.session.post(
        console.url("/console/codes/issue"),
        data={"department_id": str(company.departments["本社"].id), "only_unlinked": "1",
              "days": "14", "csrf_token": await console.csrf()},
    ) as r:  # fmt: skip
        assert r.status == 200
        html = await r.text()
    assert len(CODE.findall(html)) == 2  # 佐藤 and 鈴木, in the sub-departments
    assert "佐藤 花子" in html and "鈴木" in html and "山田 太郎" not in html


async def test_issuing_for_an_unknown_employee_says_so(console, company):
    await console.sign_in("boss")
    status, html = await submit(console, "/console/codes/issue", {"employee_code": "NOPE",
                                                                 "days": "14"})  # fmt: skip
    assert status == 200 and "社員番号 NOPE の在籍中の社員はいません" in html
    assert not await RegistrationCode.exists()


async def test_revoking_an_employees_open_code(console, company):
    await console.sign_in("boss")
    await console.post("/console/codes/issue", {"employee_code": "E2", "days": "14"})
    _, html = await console.get("/console/codes")
    assert "無効にする" in html
    employee_id = company.employees["E2"].id
    response = await console.post("/console/codes/revoke", {"employee_id": str(employee_id)})
    assert response.status == 303
    assert await RegistrationCode.filter(employee_id=employee_id, revoked=True).count() == 1
    assert not await RegistrationCode.exists(employee_id=employee_id, revoked=False)
