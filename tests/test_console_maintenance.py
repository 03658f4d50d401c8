"""Maintainer pages: templates, usage, the audit log, settings; only maintainers may open them,
every form needs its CSRF token, and every change leaves an audit row."""

from __future__ import annotations

import html as htmllib
import re
from datetime import UTC, datetime

import pytest

from domain.actors import Actor
from domain.alerts import start_alert
from domain.templates import items_from_text, items_to_text
from models import Alert, AuditEntry, OrganizationSettings, Template
from tests.conftest import make_company, make_console_user

PAGES = ["/console/templates", "/console/templates/new", "/console/usage", "/console/audit",
         "/console/settings"]  # fmt: skip

GOOD = {
    "key": "typhoon",
    "title": "【台風】安否確認",
    "message": "台風が接近しています。\n安否状況を登録してください。",
    "items": "本人*: 無事, 軽傷, 重傷!\n出社: 可能, 不可能",
    "line_enabled": "on",
}


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


@pytest.mark.parametrize("path", [*PAGES, "/console/templates/1"])
async def test_maintainer_opens_every_maintenance_page(console, users, path):
    await console.sign_in("boss")
    status, html = await console.get(path)
    assert status == 200, html


@pytest.mark.parametrize("login", ["soumu", "hassin"])
@pytest.mark.parametrize("path", PAGES)
async def test_supervisors_and_senders_are_forbidden(console, users, login, path):
    await console.sign_in(login)
    status, _ = await console.get(path)
    assert status == 403


@pytest.mark.parametrize("login", ["soumu", "hassin"])
@pytest.mark.parametrize("path", ["/console/templates/new", "/console/templates/1",
                                  "/console/settings"])  # fmt: skip
async def test_supervisors_and_senders_cannot_post_changes(console, users, login, path):
    await console.sign_in(login)
    response = await console.post(path, {**GOOD, "monthly_pack": "45000"})
    assert response.status == 403
    assert not await Template.filter(key="typhoon").exists()
    assert (await Template.get(id=1)).key == "earthquake"
    assert not await OrganizationSettings.filter(monthly_pack=45000).exists()


@pytest.mark.parametrize("path", PAGES)
async def test_anonymous_visitors_are_sent_to_sign_in(console, users, path):
    status, _ = await console.get(path)
    assert status == 303


@pytest.mark.parametrize("path", ["/console/templates/new", "/console/settings"])
async def test_changes_without_the_csrf_token_are_forbidden(console, users, path):
    await console.sign_in("boss")
    response = await console.post(path, {**GOOD, "monthly_pack": "45000"}, csrf=False)
    assert response.status == 403
    response = await console.post(path, {**GOOD, "monthly_pack": "45000", "csrf_token": "x.y"})
    assert response.status == 403
    assert not await Template.filter(key="typhoon").exists()
    assert not await OrganizationSettings.filter(monthly_pack=45000).exists()


async def test_the_menu_shows_maintenance_pages_only_to_maintainers(console, users):
    await console.sign_in("boss")
    _, html = await console.get("/console/alerts")
    for label in ("テンプレート", "利用状況", "監査ログ", "設定"):
        assert label in html
    await console.post("/console/logout")
    await console.sign_in("soumu")
    _, html = await console.get("/console/alerts")
    assert "監査ログ" not in html and "利用状況" not in html


async def test_a_maintainer_creates_a_template_with_ordered_items_and_media(console, users):
    await console.sign_in("boss")
    response = await console.post("/console/templates/new", GOOD)
    assert response.status == 303
    template = await Template.get(key="typhoon")
    assert template.title == "【台風】安否確認"
    assert template.items == [
        {"label": "本人", "required": True, "choices": ["無事", "軽傷", "重傷"],
         "worrying": ["重傷"]},
        {"label": "出社", "required": False, "choices": ["可能", "不可能"], "worrying": []},
    ]  # fmt: skip
    assert (template.line_enabled, template.email_enabled) == (True, False)
    status, html = await console.get(response.headers["Location"])
    assert status == 200 and "テンプレートを作成しました" in html and "【台風】安否確認" in html
    entry = await AuditEntry.get(action="template_created")
    assert (entry.actor, entry.target, entry.via) == ("boss", "typhoon", "console")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"items": "本人*: 無事, , 重傷"}, "「本人」の選択肢を入力してください。"),
        ({"items": "本人* 無事"}, "1行目に「:」がありません"),
        ({"items": "本人: 無事\n本人: 無事"}, "確認項目「本人」が重複しています。"),
        ({"line_enabled": ""}, "連絡媒体を1つ以上選択してください。"),
        ({"title": "  "}, "タイトルを入力してください。"),
        ({"message": ""}, "連絡メッセージを入力してください。"),
        ({"key": "Typhoon 1"}, "キーは半角英小文字"),
        ({"key": "earthquake"}, "キー「earthquake」は既に使われています。"),
    ],
)
async def test_an_invalid_template_shows_the_form_again_with_the_input_kept(
    console, users, change, message
):
    await console.sign_in("boss")
    form = {k: v for k, v in {**GOOD, **change}.items() if v != ""}
    async with console.session.post(
        console.url("/console/templates/new"),
        data={**form, "csrf_token": await console.csrf()},
        allow_redirects=False,
    ) as response:
        html = await response.text()
    assert response.status == 400
    assert message in text_of(html)
    for name in ("key", "title", "message", "items"):  # what was typed is still there
        assert htmllib.escape(form.get(name, ""), quote=False) in html
    assert await Template.filter(title="【台風】安否確認").count() == 0
    assert not await AuditEntry.filter(action="template_created").exists()


async def test_editing_a_template_changes_it_but_not_an_alert_already_started(console, users):
    template = await Template.get(key="earthquake")
    started = await start_alert(Actor.cli(), template, drill=True)
    await console.sign_in("boss")
    status, html = await console.get(f"/console/templates/{template.id}")
    # The editor's text form, the seed's worrying choices marked.
    assert status == 200 and "本人*: 無事, 軽傷, 重傷!\n家族*: 全員無事, 一部負傷!, 不明!" in html
    form = {**GOOD, "key": "earthquake", "items": "本人*: 無事, 負傷\n家屋: 被害なし, 被害あり",
            "email_enabled": "on"}  # fmt: skip
    response = await console.post(f"/console/templates/{template.id}", form)
    assert response.status == 303
    edited = await Template.get(id=template.id)
    assert [i["label"] for i in edited.items] == ["本人", "家屋"]
    assert (edited.title, edited.line_enabled, edited.email_enabled) == (GOOD["title"], True, True)
    alert = await Alert.get(id=started.alert.id)
    assert alert.title == "【地震】安否確認"
    assert [i["label"] for i in alert.items] == ["本人", "家族", "家屋", "出社"]
    entry = await AuditEntry.get(action="template_updated")
    assert entry.actor == "boss" and "items" in entry.detail["changed"]


async def test_an_invalid_edit_keeps_the_stored_template(console, users):
    await console.sign_in("boss")
    response = await console.post("/console/templates/1", {**GOOD, "items": "本人*:"})
    assert response.status == 400
    assert (await Template.get(id=1)).title == "【地震】安否確認"


@pytest.mark.parametrize("path", ["/console/templates/999", "/console/templates/abc"])
async def test_an_unknown_template_is_not_found(console, users, path):
    await console.sign_in("boss")
    assert (await console.get(path))[0] == 404
    assert (await console.post(path, GOOD)).status == 404


async def test_changing_the_settings_is_saved_and_audited(console, users):
    await console.sign_in("boss")
    status, html = await console.get("/console/settings")
    assert status == 200 and "連絡先情報閲覧可" in html and "45,000通パック" in html
    response = await console.post(
        "/console/settings", {"contact_info_viewable": "on", "monthly_pack": "10000"}
    )
    assert response.status == 303
    row = await OrganizationSettings.get()
    assert (row.contact_info_viewable, row.monthly_pack) == (True, 10000)
    entry = await AuditEntry.get(action="settings_changed")
    assert entry.actor == "boss"
    assert entry.detail == {"contact_info_viewable": [False, True], "monthly_pack": [3000, 10000]}
    status, html = await console.get("/console/settings")
    assert 'name="contact_info_viewable" checked' in html
    assert 'value="10000" selected' in html
    # Switching it off again is audited too.
    await console.post("/console/settings", {"monthly_pack": "10000"})
    assert not (await OrganizationSettings.get()).contact_info_viewable
    assert await AuditEntry.filter(action="settings_changed").count() == 2


@pytest.mark.parametrize("pack", ["2000", "", "abc", "99999999999"])
async def test_a_pack_that_is_not_offered_is_refused(console, users, pack):
    await console.sign_in("boss")
    response = await console.post("/console/settings", {"monthly_pack": pack})
    assert response.status == 400
    assert (await OrganizationSettings.get()).monthly_pack == 3000
    assert not await AuditEntry.filter(action="settings_changed").exists()


async def test_the_audit_log_filters_by_who_and_japan_dates_newest_first(console, users):
    def at(day: int, hour: int) -> datetime:
        return datetime(2026, 4, day, hour, tzinfo=UTC)

    for actor, moment, action in [
        ("alice", at(1, 14), "early"),  # 23:00 JST on 4/1
        ("alice", at(1, 15), "midnight"),  # 00:00 JST on 4/2
        ("alice", at(2, 14), "late"),  # 23:00 JST on 4/2
        ("alice", at(2, 15), "next_day"),  # 00:00 JST on 4/3
        ("bob", at(2, 3), "bobs"),
    ]:
        entry = await AuditEntry.create(via="console", actor=actor, action=action)
        await AuditEntry.filter(id=entry.id).update(at=moment)
    await console.sign_in("boss")
    status, html = await console.get("/console/audit?actor=alice&since=2026-04-02&until=2026-04-02")
    assert status == 200
    shown = re.findall(r"<td>(early|midnight|late|next_day|bobs)</td>", html)
    assert shown == ["late", "midnight"]
    _, html = await console.get("/console/audit?actor=bob")
    assert re.findall(r"<td>(early|midnight|late|next_day|bobs)</td>", html) == ["bobs"]
    _, html = await console.get("/console/audit")
    assert re.findall(r"<td>(early|midnight|late|next_day|bobs)</td>", html) == [
        "next_day", "late", "bobs", "midnight", "early",
    ]  # fmt: skip
    assert "ログイン" in html  # boss's own sign-in, named in Japanese


async def test_a_malformed_date_in_the_audit_filter_is_named_not_an_error(console, users):
    await console.sign_in("boss")
    status, html = await console.get("/console/audit?since=yesterday")
    assert status == 200 and "YYYY-MM-DD" in html


@pytest.mark.parametrize("query", ["until=9999-12-31", "since=0001-01-01", "since=9999-12-31"])
async def test_a_date_at_the_end_of_the_calendar_is_named_not_an_error(console, users, query):
    await console.sign_in("boss")
    status, html = await console.get(f"/console/audit?{query}")
    assert status == 200 and "1900年から9999年までの範囲" in html


@pytest.mark.parametrize(
    "text",
    ["本人*: 無事, 軽傷, 重傷!\n出社: 可能, 不可能!", "家屋*: 被害なし, 一部倒壊!, 全壊!"],
)
def test_the_editors_text_form_round_trips_required_and_worrying_marks(text):
    assert items_to_text(items_from_text(text)) == text


def test_the_editor_accepts_full_width_marks_and_japanese_commas():
    assert items_from_text("本人＊：無事、重傷！") == [
        {"label": "本人", "required": True, "choices": ["無事", "重傷"], "worrying": ["重傷"]}
    ]
