"""The template editor's delivery options: how e-mail follows LINE (both at once, or LINE
first with e-mail after a delay) and scheduled reminders (every N minutes, at most M times,
with a follow-up message), validated and stored; and the console says when e-mail is off."""

from __future__ import annotations

import pytest

from models import AuditEntry, EmailMode, Template
from tests.conftest import make_console_user
from tests.mail import fast_mail, mail_bot, smtp_server

FORM = {
    "key": "typhoon",
    "title": "【台風】安否確認",
    "message": "台風が接近しています。",
    "items": "本人*: 無事, 軽傷, 重傷!",
    "line_enabled": "on",
    "email_enabled": "on",
    "email_mode": "fallback",
    "fallback_delay_minutes": "15",
    "reminder_interval_minutes": "10",
    "reminder_max": "3",
    "follow_up_message": "未回答の方は至急回答してください",
}


@pytest.fixture
async def maintainer(bot):
    await make_console_user("boss", "maintainer")


async def test_a_maintainer_sets_the_e_mail_fallback_and_scheduled_reminders(console, maintainer):
    await console.sign_in("boss")
    response = await console.post("/console/templates/new", FORM)
    assert response.status == 303
    template = await Template.get(key="typhoon")
    assert template.email_mode is EmailMode.FALLBACK and template.fallback_delay_minutes == 15
    assert (template.reminder_interval_minutes, template.reminder_max) == (10, 3)
    assert template.follow_up_message == "未回答の方は至急回答してください"
    _, html = await console.get(f"/console/templates/{template.id}")
    assert 'value="fallback" checked' in html and 'value="15"' in html
    assert "未回答の方は至急回答してください" in html
    _, listing = await console.get("/console/templates")
    assert "未回答15分後にe-mail" in listing and "10分ごと・最大3回" in listing


async def test_changing_the_options_is_audited_by_name(console, maintainer):
    await console.sign_in("boss")
    await console.post("/console/templates/new", FORM)
    template = await Template.get(key="typhoon")
    await console.post(f"/console/templates/{template.id}", {**FORM, "reminder_max": "5"})
    entry = await AuditEntry.filter(action="template_updated").first()
    assert entry.detail["changed"] == ["reminder_max"]


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("reminder_interval_minutes", "3", "再通知の間隔は0(しない)か5〜1440分"),
        ("reminder_interval_minutes", "x", "再通知の間隔"),
        ("reminder_max", "11", "再通知の回数は0〜10回"),
        ("fallback_delay_minutes", "0", "1〜1440分"),
        ("fallback_delay_minutes", "1441", "1〜1440分"),
        ("email_mode", "sometimes", "e-mailの送り方を選択してください"),
        ("follow_up_message", "あ" * 1001, "二次連絡のメッセージは1000文字以内"),
    ],
)
async def test_out_of_range_options_are_refused_with_what_is_wrong(
    console, maintainer, field, value, says
):
    await console.sign_in("boss")
    form = {**FORM, field: value, "csrf_token": await console.csrf()}
    async with console.session.post(console.url("/console/templates/new"), data=form) as response:
        assert response.status == 400
        assert says in await response.text()
    assert not await Template.filter(key="typhoon").exists()


async def test_reminders_off_need_no_interval(console, maintainer):
    await console.sign_in("boss")
    form = {**FORM, "reminder_interval_minutes": "0", "reminder_max": "0"}
    assert (await console.post("/console/templates/new", form)).status == 303


async def test_templates_with_e_mail_on_say_e_mail_is_off_without_smtp(console, maintainer):
    await console.sign_in("boss")
    await console.post("/console/templates/new", FORM)
    _, listing = await console.get("/console/templates")
    assert "SMTP_URL未設定のためe-mailは送信されません" in listing
    _, editor = await console.get("/console/templates/new")
    assert 'id="email-off"' in editor


@pytest.fixture
async def smtp():
    async with smtp_server() as server:
        yield server


async def test_with_smtp_set_the_console_does_not_warn(sim, database_url, smtp, monkeypatch):
    from aiohttp import ClientSession, CookieJar

    from tests.conftest import ConsoleActions

    fast_mail(monkeypatch)
    async with mail_bot(sim, database_url, smtp) as server:
        await make_console_user("boss", "maintainer")
        async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as session:
            console = ConsoleActions(server, session)
            await console.sign_in("boss")
            await console.post("/console/templates/new", FORM)
            _, listing = await console.get("/console/templates")
    assert "e-mail" in listing and "SMTP_URL未設定" not in listing
