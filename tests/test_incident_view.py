"""The incident view on the console (issue 18): who needs help on the alert page, everyone's
answers, the headline, the unanswered list with its CSV and contacts, confirm steps before
reminding and closing, the sender's own words, 代理回答 and the audit log in Japanese."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from domain.actors import Actor
from domain.alerts import close_alert, start_alert
from domain.answers import submit_answer
from domain.scope import Scope
from domain.tally import AnswerFilter, answer_list, answer_timeline, tally, with_subtotals
from models import (
    Alert,
    AlertRound,
    Answer,
    AnswerChannel,
    AnswerRevision,
    AuditEntry,
    Employee,
    Template,
)
from tests.conftest import make_company, make_console_user, quick_link

SAFE = {"本人": "無事", "家族": "全員無事", "家屋": "被害なし", "出社": "可能"}
HURT = {"本人": "重傷", "家族": "全員無事", "家屋": "被害なし", "出社": "可能"}
HOUSE = {"本人": "無事", "家族": "全員無事", "家屋": "全壊", "出社": "不可能"}


@dataclass
class Scene:
    alert_id: int
    company: object


@pytest.fixture
async def scene(sim, bot) -> Scene:
    """本社 with 総務部 (E1 山田, E2 佐藤) and 営業部 (E3 鈴木, E4 高橋) below it; E1 has LINE."""
    company = await make_company(
        {
            "本社": [],
            "総務部": [("E1", "山田 太郎"), ("E2", "佐藤 花子")],
            "営業部": [("E3", "鈴木 一郎"), ("E4", "=高橋 次郎")],
        },
        parents={"総務部": "本社", "営業部": "本社"},
    )
    await quick_link(sim, company.employees["E1"], "やまだLINE名")
    await Employee.filter(code="E2").update(email="hanako@example.com", phone="090-1111-2222")
    alert = (
        await start_alert(
            Actor.cli(), await Template.get(key="earthquake"), drill=True, sender_name="総務部"
        )
    ).alert
    await make_console_user("boss", "maintainer")
    await make_console_user("sender", "sender")
    await make_console_user("soumu", "supervisor", [company.departments["総務部"]])
    return Scene(alert.id, company)


async def answer(scene: Scene, code: str, choices: dict, message: str = "") -> None:
    employee = scene.company.employees[code]
    await submit_answer(scene.alert_id, employee, choices, message, AnswerChannel.LIFF)


def people_on(html: str) -> list[str]:
    """The names in the alert page's list of who needs help, top to bottom."""
    section = html.split('id="people"', 1)[1].split("</ul>", 1)[0]
    return re.findall(r"<strong>([^<]+)</strong>", section)


# 1. Who needs help, on screen


async def test_the_alert_page_lists_worrying_answers_newest_first_with_their_words(console, scene):
    await answer(scene, "E1", HURT, "足を骨折しました")
    await answer(scene, "E2", SAFE)
    await answer(scene, "E3", HOUSE, "自宅が倒壊")
    await console.sign_in("boss")

    status, html = await console.get(f"/console/alerts/{scene.alert_id}")

    assert status == 200
    assert people_on(html) == ["鈴木 一郎", "山田 太郎"]  # newest first; 佐藤 is safe
    assert "足を骨折しました" in html and "自宅が倒壊" in html
    assert "本社/総務部" in html and "本社/営業部" in html
    assert '<span class="choice warn">本人: 重傷</span>' in html
    assert '<span id="people-count">2</span>' in html


async def test_the_worrying_list_filters_by_item_and_choice(console, scene):
    await answer(scene, "E1", HURT)
    await answer(scene, "E3", HOUSE)
    await console.sign_in("boss")

    _, html = await console.get(f"/console/alerts/{scene.alert_id}?item=家屋&choice=全壊")
    assert people_on(html) == ["鈴木 一郎"]
    _, html = await console.get(f"/console/alerts/{scene.alert_id}?item=&choice=本人:重傷")
    assert people_on(html) == ["山田 太郎"]  # the choice list names its item
    assert '<option value="本人:重傷" selected>' in html
    _, html = await console.get(f"/console/alerts/{scene.alert_id}?item=本人")
    assert people_on(html) == ["山田 太郎"]  # a worrying choice of 本人
    assert "item=%E6%9C%AC%E4%BA%BA" in html  # the live stream keeps the filter


async def test_a_supervisor_sees_only_worrying_answers_in_their_departments(console, scene):
    await answer(scene, "E1", HURT)
    await answer(scene, "E3", HOUSE, "自宅が倒壊")
    await console.sign_in("soumu")

    _, html = await console.get(f"/console/alerts/{scene.alert_id}")

    assert people_on(html) == ["山田 太郎"]
    assert "自宅が倒壊" not in html


async def next_tally(stream) -> str:
    """The stream's next tally event; a stream that never sends one fails within 30 s (not at
    the suite's 300 s timeout)."""
    async with asyncio.timeout(30):
        event = (await stream.content.readuntil(b"\n\n")).decode()
        while not event.startswith("event: tally"):
            event = (await stream.content.readuntil(b"\n\n")).decode()
    return event


async def test_the_live_stream_carries_the_worrying_list(console, scene, bot):
    await console.sign_in("boss")
    async with console.session.get(
        console.url(f"/console/alerts/{scene.alert_id}/events")
    ) as stream:
        assert stream.status == 200
        await stream.content.readuntil(b"\n\n")  # retry: the stream is open
        await answer(scene, "E3", HOUSE, "自宅が倒壊")
        event = await next_tally(stream)
    assert '"name": "鈴木 一郎"' in event and "自宅が倒壊" in event
    assert '"matched": 1' in event


async def test_closing_tells_the_live_stream_it_has_ended(console, scene, bot):
    await console.sign_in("boss")
    async with console.session.get(
        console.url(f"/console/alerts/{scene.alert_id}/events")
    ) as stream:
        await stream.content.readuntil(b"\n\n")  # retry: the stream is open
        await close_alert(Actor.console("sender"), scene.alert_id)
        event = await next_tally(stream)
    assert '"closed": true' in event


async def test_everyone_s_answers_are_paged_and_searched_by_name_or_code(console, scene):
    await answer(scene, "E1", HURT)
    await answer(scene, "E2", SAFE, "無事です")
    await console.sign_in("soumu")

    _, html = await console.get(f"/console/alerts/{scene.alert_id}/answers")
    assert "山田 太郎" in html and "佐藤 花子" in html and "2 名" in html
    _, html = await console.get(f"/console/alerts/{scene.alert_id}/answers?q=E2")
    assert "佐藤 花子" in html and "山田 太郎" not in html
    _, html = await console.get(f"/console/alerts/{scene.alert_id}/answers?q=山田")
    assert "山田 太郎" in html and "佐藤 花子" not in html
    _, html = await console.get(f"/console/alerts/{scene.alert_id}/answers?q=%25")
    assert "0 名" in html  # a wildcard is searched for, not expanded


async def test_the_answer_list_pages_newest_first(scene):
    for code in ["E1", "E2", "E3"]:
        await answer(scene, code, SAFE)
    first = await answer_list(scene.alert_id, Scope.everything(), AnswerFilter(per_page=2))
    second = await answer_list(scene.alert_id, Scope.everything(), AnswerFilter(per_page=2, page=2))
    assert (first.matched, first.pages) == (3, 2)
    assert [e.code for e in first.entries] == ["E3", "E2"]
    assert [e.code for e in second.entries] == ["E1"]


async def test_the_list_is_narrowed_by_worry_item_choice_and_name_newest_first(scene):
    """Filtered, ordered and paged by the database (reading every answer cost 2 s a refresh
    at 100,000), on both databases."""
    await answer(scene, "E1", HURT)  # 本人: 重傷
    await answer(scene, "E2", {**SAFE, "家族": "不明"})
    await answer(scene, "E3", HOUSE)  # 家屋: 全壊, 出社: 不可能 (鈴木 一郎)
    await answer(scene, "E4", SAFE)
    expected = {
        AnswerFilter(): ["E4", "E3", "E2", "E1"],
        AnswerFilter(worrying_only=True): ["E3", "E2", "E1"],
        AnswerFilter(item="家屋"): ["E3"],  # no choice: a worrying one for the item
        AnswerFilter(item="本人", choice="無事"): ["E4", "E3", "E2"],
        AnswerFilter(item="家族", choice="不明", worrying_only=True): ["E2"],
        AnswerFilter(item="出社", choice="可能"): ["E4", "E2", "E1"],
        AnswerFilter(item="ない項目"): [],
        AnswerFilter(worrying_only=True, search="鈴木"): ["E3"],
        AnswerFilter(worrying_only=True, per_page=2, page=2): ["E1"],
        AnswerFilter(worrying_only=True, per_page=2, page=9): ["E1"],  # past the end: the last
        AnswerFilter(worrying_only=True, per_page=2, page=10**30): ["E1"],  # typed into the URL
    }
    for query, codes in expected.items():
        listed = await answer_list(scene.alert_id, Scope.everything(), query)
        assert [e.code for e in listed.entries] == codes, query
    worrying = await answer_list(scene.alert_id, Scope.everything(), AnswerFilter(True, per_page=2))
    assert (worrying.matched, worrying.pages) == (3, 2)
    past = AnswerFilter(worrying_only=True, per_page=2, page=9)
    listed = await answer_list(scene.alert_id, Scope.everything(), past)
    assert (listed.matched, listed.page, listed.pages) == (3, 2, 2)
    none = await answer_list(scene.alert_id, Scope.everything(), AnswerFilter(item="ない項目"))
    assert (none.matched, none.page, none.pages) == (0, 1, 1)


async def test_the_timeline_counts_first_answers_per_minute_within_the_scope(scene):
    for code in ["E1", "E3", "E4"]:
        await answer(scene, code, HURT)
    await answer(scene, "E1", SAFE)  # answering again is not a first answer
    start = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    for code, seconds in {"E1": 10, "E3": 50, "E4": 130}.items():
        employee_id = scene.company.employees[code].id
        first = await Answer.get(alert_id=scene.alert_id, employee_id=employee_id)
        await AnswerRevision.filter(answer_id=first.id, revision=1).update(
            answered_at=start + timedelta(seconds=seconds)
        )
    everyone = await answer_timeline(scene.alert_id, Scope.everything())
    assert [(p.at, p.answered) for p in everyone] == [(start, 2), (start + timedelta(minutes=2), 3)]
    soumu = await Scope.departments([scene.company.departments["総務部"].id])
    assert [(p.at, p.answered) for p in await answer_timeline(scene.alert_id, soumu)] == [
        (start, 1)
    ]
    eigyo = await Scope.departments([scene.company.departments["営業部"].id])
    assert [(p.at, p.answered) for p in await answer_timeline(scene.alert_id, eigyo)] == [
        (start, 1),
        (start + timedelta(minutes=2), 2),
    ]


# 3. The headline


async def test_the_headline_shows_the_rate_a_bar_and_time_since_start(console, scene):
    await answer(scene, "E1", SAFE)
    await console.sign_in("boss")

    _, html = await console.get(f"/console/alerts/{scene.alert_id}")

    assert '<span id="rate">25.0</span>' in html
    assert '<progress id="rate-bar" max="100" value="25.0"' in html
    assert re.search(r'id="elapsed"[^>]*>開始から \d+分', html)


async def test_departments_are_named_by_path_with_a_subtotal_for_their_parent(scene):
    await answer(scene, "E1", SAFE)
    await answer(scene, "E3", HOUSE)
    rows = with_subtotals((await tally(scene.alert_id)).departments)
    assert [(d.path, d.subtotal, d.answered, d.total) for d in rows] == [
        ("本社", True, 2, 4),
        ("本社/営業部", False, 1, 2),
        ("本社/総務部", False, 1, 2),
    ]
    assert rows[0].choice_counts["家屋"]["全壊"] == 1


# 2. The unanswered list


async def test_the_unanswered_list_shows_contacts_in_plain_words_never_the_line_name(
    console, scene
):
    await console.sign_in("soumu")
    _, html = await console.get(f"/console/alerts/{scene.alert_id}/unanswered")
    assert "hanako@example.com" in html and "090-1111-2222" in html
    assert "LINE未連携のため届きません" in html  # 佐藤 has no LINE
    assert "LINE名" not in html
    assert "remind-link" not in html  # a supervisor may not remind


async def test_the_unanswered_csv_has_contacts_and_is_safe_for_spreadsheets(console, scene):
    await console.sign_in("boss")
    status, body = await console.get(f"/console/alerts/{scene.alert_id}/unanswered.csv")
    assert status == 200
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][:5] == ["社員番号", "氏名", "部署", "メール", "電話"]
    by_code = {row[0]: row for row in rows[1:]}
    assert by_code["E2"][3:5] == ["hanako@example.com", "090-1111-2222"]
    assert by_code["E4"][1] == "'=高橋 次郎"  # a formula is written as text
    assert "やまだLINE名" not in body


async def test_a_sender_reminds_from_the_unanswered_list_after_a_confirm_step(console, scene):
    await console.sign_in("sender")
    _, html = await console.get(f"/console/alerts/{scene.alert_id}/unanswered")
    assert f'href="/console/alerts/{scene.alert_id}/remind"' in html

    status, html = await console.get(f"/console/alerts/{scene.alert_id}/remind")

    assert status == 200
    assert '<strong id="remind-count">4</strong>' in html
    assert "4 名に再通知する" in html
    assert not await AlertRound.exists()  # asking writes nothing
    response = await console.post(f"/console/alerts/{scene.alert_id}/remind", {"message": ""})
    assert response.status == 303
    round_ = await AlertRound.get()
    assert round_.sender_name == "総務部"  # the original 連絡者, not the console user


# 4. Confirm before closing; a closed page is not live


async def test_closing_asks_first_and_a_closed_page_stops_being_live(console, scene):
    await console.sign_in("sender")
    _, html = await console.get(f"/console/alerts/{scene.alert_id}")
    assert "自動更新中" in html and "data-events=" in html
    assert f'href="/console/alerts/{scene.alert_id}/close"' in html

    status, html = await console.get(f"/console/alerts/{scene.alert_id}/close")
    assert status == 200 and "元に戻せません" in html
    assert not (await Alert.get(id=scene.alert_id)).is_closed

    assert (await console.post(f"/console/alerts/{scene.alert_id}/close")).status == 303
    _, html = await console.get(f"/console/alerts/{scene.alert_id}")
    assert "自動更新中" not in html and "data-events=" not in html
    assert "開始から終了まで" in html


@pytest.mark.parametrize("page", ["remind", "close"])
async def test_a_supervisor_is_not_offered_the_confirm_steps(console, scene, page):
    await console.sign_in("soumu")
    status, _ = await console.get(f"/console/alerts/{scene.alert_id}/{page}")
    assert status == 403


# 5. The sender's own words


async def test_a_sender_edits_the_title_and_message_on_the_confirm_step(console, scene):
    await console.sign_in("sender")
    form = {"template": "earthquake", "drill": "real", "departments": []}
    template = await Template.get(key="earthquake")
    form["template"] = str(template.id)
    response = await console.post("/console/alerts/new", form)
    assert response.status == 200
    edited = {**form, "title": "本社ビル火災", "message": "階段で避難してください。"}

    again = await console.post("/console/alerts/new", edited)  # 変更を確認する
    assert again.status == 200
    started = await console.post("/console/alerts/start", edited)

    assert started.status == 303
    alert = await Alert.filter(drill=False).get()
    assert (alert.title, alert.message) == ("本社ビル火災", "階段で避難してください。")
    assert alert.sender_name == "senderさん"


async def test_the_confirm_step_shows_the_edited_words(console, scene):
    await console.sign_in("sender")
    template = await Template.get(key="earthquake")
    form = {"template": str(template.id), "drill": "drill", "title": "火災", "message": "避難"}
    async with console.session.post(
        console.url("/console/alerts/new"), data={**form, "csrf_token": await console.csrf()}
    ) as response:
        html = await response.text()
    assert '<dd id="confirm-title">【訓練】火災</dd>' in html
    assert 'name="title" value="火災"' in html


async def test_a_title_too_long_is_refused_on_the_confirm_step(console, scene):
    await console.sign_in("sender")
    template = await Template.get(key="earthquake")
    form = {"template": str(template.id), "drill": "drill", "title": "長" * 201}
    response = await console.post("/console/alerts/new", form)
    assert response.status == 422


# 6. 代理回答 through the console


async def test_a_supervisor_enters_an_answer_for_someone_who_phoned(console, scene):
    await console.sign_in("soumu")
    status, html = await console.get(f"/console/alerts/{scene.alert_id}/proxy?code=E2")
    assert status == 200 and 'value="E2"' in html
    form = {"code": "E2", "item-0": "重傷", "item-1": "全員無事", "item-2": "被害なし"}
    form |= {"item-3": "不可能", "message": "電話で連絡あり"}

    response = await console.post(f"/console/alerts/{scene.alert_id}/proxy", form)

    assert response.status == 303
    _, html = await console.get(f"/console/alerts/{scene.alert_id}")
    assert "代理回答(入力: soumu)" in html and "電話で連絡あり" in html
    _, html = await console.get(f"/console/alerts/{scene.alert_id}/answers")
    assert "管理画面" in html and "代理回答(入力: soumu)" in html


async def test_a_supervisor_may_not_enter_an_answer_outside_their_departments(console, scene):
    await console.sign_in("soumu")
    form = {"code": "E3", "item-0": "無事", "item-1": "全員無事", "item-2": "被害なし"}
    form |= {"item-3": "可能"}
    response = await console.post(f"/console/alerts/{scene.alert_id}/proxy", form)
    assert response.status == 403
    row = await AuditEntry.get(action="answer_entered_for")
    assert (row.actor, row.result) == ("soumu", "refused")


# 9. The audit log in Japanese


async def test_the_audit_log_names_actions_and_details_in_japanese(console, scene):
    await close_alert(Actor.console("sender"), scene.alert_id)
    await console.sign_in("boss")
    _, html = await console.get("/console/audit")
    assert "<td>終了</td>" in html and f"連絡 #{scene.alert_id}" in html
    assert "<td>発信</td>" in html
    assert "訓練: はい" in html and "対象: 4" in html  # alert_started's details
    assert "管理画面" in html and "コマンド" in html  # the faces, in words
    assert "{&#34;" not in html and '{"' not in html  # no raw JSON


def test_every_audited_action_has_a_japanese_name():
    import ast
    from pathlib import Path

    from console.views.maintenance import ACTIONS
    from domain.admin_groups import GroupCommand
    from domain.employees import IMPORT_ACTION

    root = Path(__file__).resolve().parent.parent
    written = {IMPORT_ACTION, "group_confirm", "group_cancel"}
    written |= {f"group_{c.value}" for c in GroupCommand}
    for package in ["domain", "bot", "console", "me", "liff", "web"]:
        for path in (root / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and getattr(node.func, "id", getattr(node.func, "attr", ""))
                    in ("audited", "log_action")
                    and len(node.args) > 1
                    and isinstance(node.args[1], ast.Constant)
                ):
                    written.add(node.args[1].value)
    assert sorted(written - ACTIONS.keys()) == []
