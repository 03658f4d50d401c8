"""The board (掲示板) of an alert, through the real app and the local LINE platform: posting
from the console (confirm step with the billable pushes, scope) and from the admin group,
the push through the outbox, reading by the free reply to 掲示板, replying in LIFF, who sees
which replies, the CSV, and retention. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from domain import admin_groups
from domain.actors import Actor
from domain.alerts import start_alert
from domain.board import post_to_board
from domain.delivery_report import delivery_problems
from domain.retention import Retention, apply_retention
from domain.scope import Scope
from domain.tally import unanswered
from domain.usage import japan_today
from models import (
    Alert,
    AuditEntry,
    BoardPost,
    BoardReply,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Employee,
    EmployeeRole,
    Template,
    UsageDay,
)
from tests.conftest import make_company, make_console_user, quick_link, until
from tests.test_admin_group import Room, join, said
from tests.test_chat_menu import tap

NOTICE = "本社ビルは本日立入禁止です。自宅待機してください。"


@pytest.fixture
async def company(sim, bot):
    """総務部 (山田, 佐藤) and 営業部 (鈴木), all linked; one alert to everyone, delivered."""
    company = await make_company(
        {"総務部": [("E1", "山田"), ("E2", "佐藤")], "営業部": [("E3", "鈴木")]}
    )
    company.users = {
        code: await quick_link(sim, company.employees[code], f"{name}のLINE")
        for code, name in [("E1", "山田"), ("E2", "佐藤"), ("E3", "鈴木")]
    }
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    company.alert = started.alert
    await until(lambda: all(sim.messages_for(u) for u in company.users.values()))
    await until(lambda: sim.billable_deliveries == 3)
    await until(lambda: sent(3))
    return company


def board_pushes(sim, user_id: str) -> list[dict]:
    return [m for m in sim.messages_for(user_id) if m.get("altText", "").startswith("掲示板:")]


async def sent(n: int) -> bool:
    """Whether n deliveries are recorded sent (and counted)."""
    return await Delivery.filter(status=DeliveryStatus.SENT).count() == n


async def counted_today() -> int:
    row = await UsageDay.get_or_none(day=japan_today())
    return row.messages if row else 0


async def supervisor(console, login: str, department) -> None:
    await make_console_user(login, "supervisor", [department])
    response = await console.sign_in(login)
    assert response.status in (302, 303)


# Posting from the console


async def test_a_supervisor_posts_with_a_push_only_to_their_departments_after_a_confirm_step(
    sim, company, console
):
    await supervisor(console, "soumu", company.departments["総務部"])
    alert_id = company.alert.id
    status, page = await console.get(f"/console/alerts/{alert_id}/board")
    assert status == 200 and "まだ投稿はありません" in page

    form = {"body": NOTICE, "push": "1", "replies_allowed": "1"}
    async with console.session.post(
        console.url(f"/console/alerts/{alert_id}/board"),
        data={**form, "csrf_token": await console.csrf()},
    ) as response:
        assert response.status == 200
        shown = await response.text()
    assert not await BoardPost.exists()  # the confirm step writes nothing
    assert re.search(r'id="confirm-readers">2 名<', shown)  # 総務部 only, not 営業部
    assert re.search(r'id="confirm-pushes"><strong class="warn">2 通\(課金対象\)', shown)
    assert re.search(r'id="confirm-usage">3 通 / プラン 3000 通<', shown)

    posted = await console.post(f"/console/alerts/{alert_id}/board/post", form)
    assert posted.status == 303 and "notice=posted" in posted.headers["Location"]
    await until(lambda: board_pushes(sim, company.users["E1"]))
    await until(lambda: board_pushes(sim, company.users["E2"]))
    await until(lambda: sim.billable_deliveries == 5)
    assert not board_pushes(sim, company.users["E3"])
    push = board_pushes(sim, company.users["E1"])[0]
    assert NOTICE in str(push) and f"board={alert_id}" in str(push)
    await until(lambda: sent(5))
    assert await counted_today() == 5  # billable, counted like any push

    post = await BoardPost.get()
    assert post.pushed and post.author == "soumuさん" and post.replies_allowed
    assert post.departments == [company.departments["総務部"].id]
    row = await AuditEntry.get(action="board_posted")
    assert (row.via, row.actor, row.target, row.result) == (
        "console",
        "soumu",
        f"alert:{alert_id}",
        "ok",
    )
    assert row.detail["line"] == 2 and NOTICE not in str(row.detail)


async def test_a_board_push_is_not_a_round_of_the_alert_for_the_unanswered_list(sim, company):
    posted = await post_to_board(Actor.cli(), company.alert.id, NOTICE, author="総務部", push=True)
    assert posted.pushes == 3
    await until(lambda: sent(6))
    # Had the push failed, it still says nothing of whether the alert reached them.
    await Delivery.filter(kind=DeliveryKind.BOARD).update(
        status=DeliveryStatus.FAILED, reason="LINE 400: test"
    )
    people = await unanswered(company.alert.id, Scope.everything())
    assert {p.line for p in people} == {"送信済"}
    assert not any(p.line_unreachable for p in people)
    report = await delivery_problems(company.alert.id)
    assert not report.has_problems and report.summary() == [("LINE", [("送信済", 3)])]


async def test_a_supervisor_cannot_address_a_department_outside_their_scope(company, console):
    await supervisor(console, "eigyo", company.departments["営業部"])
    other = company.departments["総務部"].id
    form = {"body": NOTICE, "departments": str(other)}
    response = await console.post(f"/console/alerts/{company.alert.id}/board/post", form)
    assert response.status == 422
    assert not await BoardPost.exists()
    assert await AuditEntry.get(action="board_posted", result="refused")


async def test_a_post_without_csrf_is_refused(company, console):
    await supervisor(console, "soumu", company.departments["総務部"])
    response = await console.post(
        f"/console/alerts/{company.alert.id}/board/post", {"body": NOTICE}, csrf=False
    )
    assert response.status == 403
    assert not await BoardPost.exists()


# Reading in LINE: the word 掲示板 (free)


@pytest.mark.parametrize(
    ("how", "word"),
    [("postback", "action=board"), ("text", "掲示板"), ("text", "board"), ("text", "Board")],
)
async def test_the_word_board_replies_with_the_posts_that_reach_me_for_free(
    sim, company, how, word
):
    eigyo = company.departments["営業部"]
    await post_to_board(Actor.cli(), company.alert.id, "全員への連絡", author="総務部")
    await post_to_board(
        Actor.cli(), company.alert.id, "営業部への連絡", author="総務部", departments=[eigyo]
    )
    sent_before = len(sim.sent)

    (reply,) = await tap(sim, company.users["E3"], how, word)  # asserts: a reply, no push
    assert "営業部への連絡" in str(reply) and "全員への連絡" in str(reply)
    (reply,) = await tap(sim, company.users["E1"], how, word)
    assert "全員への連絡" in str(reply) and "営業部への連絡" not in str(reply)
    assert {s.kind for s in sim.sent[sent_before:]} == {"reply"}
    assert await counted_today() == 3  # replies are never counted


async def test_the_word_board_says_so_when_nothing_was_posted(sim, company):
    (reply,) = await tap(sim, company.users["E1"], "text", "掲示板")
    assert reply == {"type": "text", "text": "掲示板に新しい投稿はありません。"}


# Reading and replying in LIFF; who sees which reply


@pytest.fixture
def api(browser_session, bot):
    async def run(method, path, token=None, **kwargs):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with browser_session.request(
            method, bot.make_url(path), headers=headers, **kwargs
        ) as response:
            return response.status, await response.json()

    return run


async def test_employees_reply_in_liff_and_see_only_their_own_replies(sim, company, api):
    posted = await post_to_board(
        Actor.cli(), company.alert.id, NOTICE, author="総務部", replies_allowed=True
    )
    post_id = posted.post.id
    yamada, sato = (sim.issue_id_token(company.users[c]) for c in ("E1", "E2"))

    status, view = await api("GET", f"/liff/api/board/{company.alert.id}", yamada)
    assert status == 200
    assert view["alert"]["title"] == "【訓練】【地震】安否確認"
    assert [(p["body"], p["replies_allowed"], p["my_replies"]) for p in view["posts"]] == [
        (NOTICE, True, [])
    ]
    status, view = await api(
        "POST", f"/liff/api/board/posts/{post_id}/reply", yamada, json={"body": "承知しました"}
    )
    assert status == 200
    assert [r["body"] for r in view["posts"][0]["my_replies"]] == ["承知しました"]

    status, view = await api("GET", f"/liff/api/board/{company.alert.id}", sato)
    assert status == 200 and view["posts"][0]["my_replies"] == []  # not 山田's reply

    row = await AuditEntry.get(action="board_replied")
    assert (row.via, row.actor, row.result) == ("line", "E1", "ok")
    assert "承知しました" not in str(row.detail)


@pytest.mark.parametrize(
    ("replies_allowed", "body", "status", "code"),
    [
        (False, "返信", 403, "replies_not_allowed"),
        (True, "", 422, "empty_body"),
        (True, "あ" * 1001, 422, "body_too_long"),
    ],
)
async def test_a_reply_the_post_does_not_take_is_refused(
    sim, company, api, replies_allowed, body, status, code
):
    posted = await post_to_board(
        Actor.cli(), company.alert.id, NOTICE, author="総務部", replies_allowed=replies_allowed
    )
    token = sim.issue_id_token(company.users["E1"])
    got, error = await api(
        "POST", f"/liff/api/board/posts/{posted.post.id}/reply", token, json={"body": body}
    )
    assert (got, error["error"]) == (status, code)
    assert not await BoardReply.exists()


async def test_a_post_to_another_department_is_neither_shown_nor_answerable(sim, company, api):
    eigyo = company.departments["営業部"]
    posted = await post_to_board(
        Actor.cli(), company.alert.id, "営業部だけ", author="本部", departments=[eigyo],
        replies_allowed=True,
    )  # fmt: skip
    token = sim.issue_id_token(company.users["E1"])
    status, view = await api("GET", f"/liff/api/board/{company.alert.id}", token)
    assert status == 200 and view["posts"] == []
    status, error = await api(
        "POST", f"/liff/api/board/posts/{posted.post.id}/reply", token, json={"body": "x"}
    )
    assert (status, error["error"]) == (404, "post_not_found")


async def test_the_board_api_needs_a_verified_id_token(company, api):
    status, error = await api("GET", f"/liff/api/board/{company.alert.id}", "not-a-token")
    assert (status, error["error"]) == (401, "invalid_id_token")


async def test_posters_see_the_replies_of_people_in_their_scope_only(sim, company, api, console):
    posted = await post_to_board(
        Actor.cli(), company.alert.id, NOTICE, author="総務部", replies_allowed=True
    )
    for code, body in [("E1", "山田の返信"), ("E3", "鈴木の返信")]:
        token = sim.issue_id_token(company.users[code])
        path = f"/liff/api/board/posts/{posted.post.id}/reply"
        assert (await api("POST", path, token, json={"body": body}))[0] == 200

    await supervisor(console, "soumu", company.departments["総務部"])
    status, thread = await console.get(f"/console/alerts/{company.alert.id}/board/thread")
    assert status == 200 and NOTICE in thread
    assert "山田の返信" in thread and "鈴木の返信" not in thread
    assert "山田のLINE" not in thread  # never a LINE display name

    status, sheet = await console.get(f"/console/alerts/{company.alert.id}/board.csv")
    rows = list(csv.reader(io.StringIO(sheet.lstrip("\ufeff"))))
    assert rows[0] == ["種別", "投稿番号", "日時", "投稿者・社員番号", "氏名", "部署", "本文"]
    assert [(r[0], r[3], r[6]) for r in rows[1:]] == [
        ("投稿", "総務部", NOTICE),
        ("返信", "E1", "山田の返信"),
    ]
    assert await AuditEntry.get(action="board_exported", actor="soumu")


async def test_the_csv_neutralises_cells_that_look_like_formulas(sim, company, api, console):
    posted = await post_to_board(
        Actor.cli(), company.alert.id, '=HYPERLINK("x")', author="総務部", replies_allowed=True
    )
    token = sim.issue_id_token(company.users["E1"])
    path = f"/liff/api/board/posts/{posted.post.id}/reply"
    assert (await api("POST", path, token, json={"body": "@SUM(A1)"}))[0] == 200
    await make_console_user("admin", "maintainer")
    await console.sign_in("admin")
    status, sheet = await console.get(f"/console/alerts/{company.alert.id}/board.csv")
    assert status == 200
    rows = list(csv.reader(io.StringIO(sheet.lstrip("\ufeff"))))
    assert rows[1][6] == '\'=HYPERLINK("x")' and rows[2][6] == "'@SUM(A1)"


# The admin group


async def test_a_sender_posts_from_the_admin_group_after_confirming_the_pushes(sim, company):
    await Employee.filter(code="E1").update(role=EmployeeRole.SENDER)
    users = {"山田": company.users["E1"], "佐藤": company.users["E2"]}
    room = Room(sim, await join(sim, users), users)
    issued = await admin_groups.issue_bind_code(Actor.cli())
    assert "登録しました" in await room.say("山田", f"/bind {issued.code}")

    replies = await room.post("山田", f"/post {NOTICE}")  # the latest open alert
    cancel = replies[1]["template"]["actions"][1]["data"]
    assert await room.tap("山田", cancel) == "掲示板への投稿を取り消しました。"
    assert not await BoardPost.exists()

    replies = await room.post("山田", f"/post #{company.alert.id} {NOTICE}")
    details, card = said(replies[0]), replies[1]
    assert NOTICE in details and "対象 3名・LINEで送信 3通(課金対象" in details
    assert not await BoardPost.exists()
    confirm = card["template"]["actions"][0]["data"]
    assert await room.tap("佐藤", confirm) == admin_groups.NOT_PERMITTED
    assert not await BoardPost.exists()

    done = await room.tap("山田", confirm)
    assert f"連絡 #{company.alert.id} の掲示板に投稿しました(対象 3名、LINEで送信 3通)" in done
    await until(lambda: all(board_pushes(sim, u) for u in company.users.values()))
    post = await BoardPost.get()
    assert post.author == "総務部" and post.pushed and post.replies_allowed
    actions = await AuditEntry.filter(via="group").values_list("action", "result")
    assert ("group_post", "ok") in actions and ("group_confirm", "ok") in actions


async def test_a_member_may_not_post_from_the_admin_group(sim, company):
    await Employee.filter(code="E1").update(role=EmployeeRole.SENDER)
    users = {"山田": company.users["E1"], "佐藤": company.users["E2"]}
    room = Room(sim, await join(sim, users), users)
    issued = await admin_groups.issue_bind_code(Actor.cli())
    await room.say("山田", f"/bind {issued.code}")
    assert await room.say("佐藤", f"/post {NOTICE}") == admin_groups.NOT_PERMITTED
    assert not await BoardPost.exists()


# Retention


async def test_retention_purges_the_board_with_the_answers_of_a_long_closed_alert(
    sim, company, api
):
    posted = await post_to_board(
        Actor.cli(), company.alert.id, NOTICE, author="総務部", replies_allowed=True
    )
    token = sim.issue_id_token(company.users["E1"])
    path = f"/liff/api/board/posts/{posted.post.id}/reply"
    assert (await api("POST", path, token, json={"body": "了解"}))[0] == 200
    await Alert.filter(id=company.alert.id).update(closed_at=datetime.now(UTC) - timedelta(days=40))
    await apply_retention(Retention(answers=timedelta(days=30)))
    assert not await BoardPost.exists() and not await BoardReply.exists()
    row = await AuditEntry.get(action="answers_purged")
    assert row.detail["board"] == 2
