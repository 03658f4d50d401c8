"""Every action of people and sessions writes its audit row in its own transaction: when the
"ok" row cannot be written, the change is not kept either, and the failure is recorded
(console, CLI, employee page, LINE chat). Domain errors render each face's own Japanese page
with a way back; answer links e-mailed before the signing helper still open."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from domain import console_users
from domain.actors import Actor
from domain.answer_links import verify_link
from domain.errors import NotFound
from models import (
    AuditEntry,
    ConsoleRole,
    ConsoleUser,
    EmployeeEmail,
    LineAccount,
    OrganizationSettings,
    Template,
)
from tests import me_helpers
from tests.conftest import make_company, make_console_user, quick_link, until
from tests.me_helpers import EmployeePhone

bot, phone = me_helpers.bot, me_helpers.phone  # fixtures: the app with LINE Login on


@pytest.fixture
def lose_ok_rows(monkeypatch):
    """From the call on, saving an "ok" audit row raises, as a crash between the change and
    its row would; "refused" and "failed" rows are saved as usual."""
    save = AuditEntry.save

    async def failing(self, *args, **kwargs):
        if self.result == "ok":
            raise RuntimeError("the audit row was lost")
        return await save(self, *args, **kwargs)

    return lambda: monkeypatch.setattr(AuditEntry, "save", failing)


@pytest.fixture
async def company(bot):
    company = await make_company({"総務部": [("E001", "山田 太郎")], "営業部": [("E101", "鈴木")]})
    await make_console_user("boss", "maintainer")
    await make_console_user("soumu", "supervisor", [company.departments["総務部"]])
    return company


async def no_ok_row(action: str) -> bool:
    return not await AuditEntry.exists(action=action, result="ok")


# The console


async def test_a_settings_change_whose_row_is_lost_is_not_kept(console, company, lose_ok_rows):
    await console.sign_in("boss")
    before = (await OrganizationSettings.first()) or await OrganizationSettings.create()
    lose_ok_rows()

    response = await console.post(
        "/console/settings", {"monthly_pack": "10000", "contact_info_viewable": "on"}
    )

    assert response.status == 500
    after = await OrganizationSettings.get(id=before.id)
    assert (after.monthly_pack, after.contact_info_viewable) == (
        before.monthly_pack,
        before.contact_info_viewable,
    )
    assert await no_ok_row("settings_changed")
    assert await AuditEntry.exists(
        via="console", actor="boss", action="settings_changed", result="failed"
    )


async def test_a_template_whose_row_is_lost_is_not_created(console, company, lose_ok_rows):
    await console.sign_in("boss")
    lose_ok_rows()
    form = {
        "key": "typhoon",
        "title": "【台風】安否確認",
        "message": "状況を教えてください。",
        "items": "本人: 無事, 軽傷, 重傷",
        "line_enabled": "on",
    }

    response = await console.post("/console/templates/new", form)

    assert response.status == 500
    assert not await Template.exists(key="typhoon")
    assert await no_ok_row("template_created")
    assert await AuditEntry.exists(action="template_created", result="failed")


async def test_a_refused_sign_in_writes_its_row_without_signing_in(console, company):
    response = await console.sign_in("boss", "wrong password")

    assert response.status == 401
    assert await AuditEntry.exists(via="console", actor="boss", action="sign_in", result="failed")
    assert await no_ok_row("sign_in")


# The CLI (its commands call these same domain functions)


async def test_a_console_user_whose_row_is_lost_is_not_added(db, lose_ok_rows):
    lose_ok_rows()
    with pytest.raises(RuntimeError):
        await console_users.add_user(
            "admin", "管理者", "a long enough secret", ConsoleRole.MAINTAINER, [], Actor.cli()
        )

    assert not await ConsoleUser.exists(login="admin")
    assert await AuditEntry.exists(via="cli", action="user_add", target="admin", result="failed")


async def test_a_refused_cli_action_is_recorded_as_failed(db):
    with pytest.raises(NotFound):
        await console_users.disable_user("nobody", Actor.cli())

    assert await AuditEntry.exists(via="cli", action="user_disable", result="failed")


# The employee page


async def test_an_address_whose_row_is_lost_is_not_added(
    sim, bot, phone: EmployeePhone, company, lose_ok_rows
):
    await phone.first_sign_in(company.employees["E001"])
    lose_ok_rows()

    response = await phone.post("/me/email/add", {"address": "taro@home.example"})

    assert response.status == 500
    assert not await EmployeeEmail.exists(address="taro@home.example")
    assert await no_ok_row("email_add")
    assert await AuditEntry.exists(via="me", actor="E001", action="email_add", result="failed")


async def test_the_employee_pages_actions_are_audited_by_the_employee(
    sim, bot, phone: EmployeePhone, company
):
    await phone.first_sign_in(company.employees["E001"])
    await phone.post("/me/email/add", {"address": "taro@home.example"})
    added = await EmployeeEmail.get(address="taro@home.example")
    await phone.post("/me/email/switch", {"email_id": str(added.id), "enabled": "0"})
    await phone.post("/me/email/remove", {"email_id": str(added.id)})

    rows = await AuditEntry.filter(via="me", actor="E001").order_by("id")
    assert [(r.action, r.result) for r in rows] == [
        ("sign_in", "ok"),
        ("password_set", "ok"),
        ("email_add", "ok"),
        ("email_switch", "ok"),
        ("email_remove", "ok"),
    ]


# LINE chat


async def test_an_unlink_in_chat_whose_row_is_lost_keeps_the_link(sim, bot, company, lose_ok_rows):
    yamada = company.employees["E001"]
    user_id = await quick_link(sim, yamada)
    lose_ok_rows()

    assert await sim.postback(user_id, "action=unlink_confirm") == 200
    await until(lambda: AuditEntry.exists(action="line_unlink", result="failed"))

    assert (await LineAccount.get(user_id=user_id)).employee_id == yamada.id
    assert await no_ok_row("line_unlink")
    row = await AuditEntry.filter(action="line_unlink", result="failed").first()
    assert (row.via, row.actor, row.target) == ("line", "E001", "E001")


async def test_an_unlink_in_chat_is_audited_by_the_employee(sim, bot, company):
    user_id = await quick_link(sim, company.employees["E001"])

    assert await sim.postback(user_id, "action=unlink_confirm") == 200
    await until(lambda: AuditEntry.exists(action="line_unlink", result="ok"))

    assert (await LineAccount.get(user_id=user_id)).employee_id is None
    assert await AuditEntry.exists(via="line", actor="E001", action="line_unlink", result="ok")


# Each face's error page


async def test_a_page_beyond_the_role_is_a_japanese_403_page_with_the_way_back(console, company):
    await console.sign_in("soumu")

    status, html = await console.get("/console/templates")

    assert status == 403
    assert "この操作を行う権限がありません。" in html
    assert "安否確認 管理画面" in html and "ログアウト" in html  # the header, signed in
    assert 'href="/console/"' in html and "管理画面のトップへ戻る" in html


async def test_a_missing_console_record_is_a_japanese_404_page(console, company):
    await console.sign_in("boss")

    status, html = await console.get("/console/templates/99999")

    assert status == 404
    assert "テンプレートが見つかりません。" in html
    assert "管理画面のトップへ戻る" in html and "ログアウト" in html


async def test_a_missing_address_on_the_employee_page_is_a_japanese_404_page(
    sim, bot, phone: EmployeePhone, company
):
    await phone.first_sign_in(company.employees["E001"])

    response = await phone.post("/me/email/remove", {"email_id": "99999"})
    html = await response.text()

    assert response.status == 404
    assert "メールアドレスが見つかりません。" in html
    assert "安否確認 社員ページ" in html and 'href="/me/"' in html and "社員ページへ戻る" in html


# Signed tokens


def test_an_answer_link_signed_before_the_signing_helper_still_opens():
    secret, later = "s3cret", datetime.now(UTC) + timedelta(days=1)

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    # The format answer links were e-mailed in before domain.signing existed.
    payload = b64(f"7.9.2.{int(later.timestamp())}".encode())
    key = hmac.new(secret.encode(), b"anpi answer link v1", hashlib.sha256).digest()
    token = f"{payload}.{b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())}"

    link = verify_link(secret, token)

    assert (link.alert_id, link.employee_id, link.round) == (7, 9, 2)
