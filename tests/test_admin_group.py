"""The admin group: binding a LINE group with a one-time code, and the commands a sender runs
from it, played through signed webhook events into the real app via the local LINE platform."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain import admin_groups
from domain.actors import Actor
from domain.alerts import DEFAULT_SENDER, close_alert, start_alert
from domain.answers import submit_answer
from domain.housekeeping import tidy
from models import (
    AdminGroup,
    Alert,
    AlertRound,
    AnswerChannel,
    AuditEntry,
    Employee,
    EmployeeRole,
    GroupBindCode,
    InboxEvent,
    InboxStatus,
    PendingCommand,
    Template,
    Throttle,
)
from tests.conftest import make_company, quick_link, until

GOOD = {"本人": "無事", "家族": "全員無事", "家屋": "被害なし", "出社": "可能"}
HURT = {"本人": "軽傷", "家族": "全員無事", "家屋": "被害なし", "出社": "未定"}
NOT_PERMITTED = "権限がありません"


def said(message: dict[str, Any]) -> str:
    """Everything a message shows: a text's text, a Flex bubble's texts with its altText."""
    if message["type"] == "text":
        return message["text"]
    texts = [message.get("altText", "")]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text" and isinstance(node.get("text"), str):
                texts.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message.get("contents"))
    return "\n".join(texts)


def postback_data(message: dict[str, Any]) -> dict[str, str]:
    """The postback data of a confirmation card's buttons, by label."""
    found = {}
    for button in message["contents"]["footer"]["contents"]:
        found[button["action"]["label"]] = button["action"]["data"]
    return found


async def settled() -> bool:
    """Every webhook event the bot received has been handled."""
    return not await InboxEvent.filter(status=InboxStatus.PENDING).exists()


@dataclass
class Room:
    """A LINE group with the bot in it, and the people in it by role."""

    sim: Any
    group_id: str
    users: dict[str, str]  # name -> LINE user ID

    def bot_messages(self) -> list[dict[str, Any]]:
        return self.sim.groups.messages(self.group_id)

    async def post(self, who: str, text: str, *, with_user_id: bool = True) -> list[dict]:
        """`who` posts in the group; return what the bot replied."""
        before = len(self.bot_messages())
        status = await self.sim.groups.text(
            self.group_id, self.users[who], text, with_user_id=with_user_id
        )
        assert status == 200
        await until(lambda: len(self.bot_messages()) > before)
        await until(settled)
        return self.bot_messages()[before:]

    async def say(self, who: str, text: str, **kwargs: Any) -> str:
        """`who` posts; return the text of the bot's one reply."""
        replies = await self.post(who, text, **kwargs)
        assert len(replies) == 1, replies
        return said(replies[0])

    async def ignored(self, who: str, text: str, *, with_user_id: bool = True) -> None:
        """`who` posts and the bot (having handled it) says nothing."""
        before = len(self.bot_messages())
        await self.sim.groups.text(self.group_id, self.users[who], text, with_user_id=with_user_id)
        await until(settled)
        assert len(self.bot_messages()) == before

    async def tap(self, who: str, data: str, *, with_user_id: bool = True) -> str:
        """`who` taps a postback button; return the bot's reply."""
        before = len(self.bot_messages())
        await self.sim.groups.postback(
            self.group_id, self.users[who], data, with_user_id=with_user_id
        )
        await until(lambda: len(self.bot_messages()) > before)
        await until(settled)
        return said(self.bot_messages()[-1])

    async def confirmation(self, who: str, text: str) -> tuple[str, dict[str, str]]:
        """`who` asks for an alert; return the card's text and its buttons' data."""
        replies = await self.post(who, text)
        assert len(replies) == 1 and replies[0]["type"] == "flex", replies
        return said(replies[0]), postback_data(replies[0])


async def arrange_company(sim: Any) -> tuple[Any, dict[str, str]]:
    """総務部 (a sender 山田, and 佐藤), 営業部 (a second sender 鈴木, 高橋), 開発部 (伊藤,
    without LINE), and 田中 with LINE but no department. Return the company and LINE IDs."""
    company = await make_company(
        {
            "総務部": [("E1", "山田"), ("E2", "佐藤")],
            "営業部": [("E3", "鈴木"), ("E4", "高橋")],
            "開発部": [("E5", "伊藤")],
        }
    )
    await Employee.filter(code__in=["E1", "E3"]).update(role=EmployeeRole.SENDER)
    company.employees["E6"] = await Employee.create(code="E6", name="田中")
    users = {}
    for code, name in [("E1", "山田"), ("E2", "佐藤"), ("E3", "鈴木"), ("E4", "高橋")]:
        users[name] = await quick_link(sim, await Employee.get(code=code), name)
    users["田中"] = await quick_link(sim, company.employees["E6"], "田中")
    users["部外者"] = sim.add_user("部外者").user_id  # LINE user with no employee
    return company, users


async def join(sim: Any, users: dict[str, str]) -> str:
    """A group of everyone, with the bot invited (it greets once); return its ID."""
    group = sim.groups.create("防災対策本部", list(users.values()))
    assert await sim.groups.invite_bot(group.group_id) == 200
    await until(lambda: sim.groups.messages(group.group_id))
    return group.group_id


@pytest.fixture
async def unbound(sim, bot) -> Room:
    """A group the bot was invited to, not bound yet."""
    company, users = await arrange_company(sim)
    room = Room(sim, await join(sim, users), users)
    room.company = company  # type: ignore[attr-defined]
    return room


@pytest.fixture
async def room(unbound: Room) -> Room:
    """An admin group bound by 山田 (a sender)."""
    issued = await admin_groups.issue_bind_code(Actor.cli())
    reply = await unbound.say("山田", f"/bind {issued.code}")
    assert "管理グループとして登録しました" in reply
    return unbound


# Binding


async def test_join_greets_once_with_how_to_bind(unbound):
    assert len(unbound.bot_messages()) == 1
    assert "/bind" in said(unbound.bot_messages()[0])
    assert not await AdminGroup.exists()


async def test_a_sender_binds_the_group_with_a_fresh_code(unbound):
    issued = await admin_groups.issue_bind_code(Actor.cli())
    assert re.fullmatch(r"[A-Z2-9]{5}-[A-Z2-9]{5}", issued.code)
    stored = await GroupBindCode.get()
    assert issued.code.replace("-", "") not in stored.code_hash  # only a hash is kept

    reply = await unbound.say("山田", f"/bind {issued.code.lower()}")

    assert "管理グループとして登録しました" in reply and "/status" in reply
    group = await AdminGroup.get()
    assert (group.group_id, group.bound_by) == (unbound.group_id, "E1")
    stored = await GroupBindCode.get()
    assert stored.used_at is not None and stored.used_by_group == unbound.group_id
    row = await AuditEntry.get(action="group_bind")
    assert (row.via, row.actor, row.target, row.result) == ("group", "E1", unbound.group_id, "ok")


async def test_a_used_code_does_not_bind_a_second_group(unbound, sim):
    issued = await admin_groups.issue_bind_code(Actor.cli())
    assert "管理グループとして登録しました" in await unbound.say("山田", f"/bind {issued.code}")
    second = Room(sim, await join(sim, unbound.users), unbound.users)

    reply = await second.say("山田", f"/bind {issued.code}")

    assert reply == admin_groups.BIND_FAILED
    assert not await AdminGroup.exists(group_id=second.group_id)
    row = await AuditEntry.filter(action="group_bind", target=second.group_id).get()
    assert (row.actor, row.result) == ("E1", "failed")


async def test_an_expired_code_does_not_bind(unbound):
    issued = await admin_groups.issue_bind_code(Actor.cli())
    await GroupBindCode.all().update(expires_at=datetime.now(UTC) - timedelta(seconds=1))

    reply = await unbound.say("山田", f"/bind {issued.code}")

    assert reply == admin_groups.BIND_FAILED
    assert not await AdminGroup.exists()
    assert (await GroupBindCode.get()).used_at is None


@pytest.mark.parametrize(
    ("who", "with_user_id", "actor", "expected"),
    [
        ("佐藤", True, "E2", NOT_PERMITTED),  # linked, not a sender
        ("部外者", True, "未連携", NOT_PERMITTED),  # LINE user with no employee
        ("山田", False, "不明", "送信者を確認できない"),  # LINE left the userId out
    ],
)
async def test_only_a_linked_sender_may_bind(unbound, who, with_user_id, actor, expected):
    issued = await admin_groups.issue_bind_code(Actor.cli())

    reply = await unbound.say(who, f"/bind {issued.code}", with_user_id=with_user_id)

    assert expected in reply
    assert not await AdminGroup.exists()
    assert (await GroupBindCode.get()).used_at is None  # the code still works for a sender
    row = await AuditEntry.get(action="group_bind")
    assert (row.actor, row.result) == (actor, "refused")


async def test_bind_attempts_are_limited_per_group(unbound):
    issued = await admin_groups.issue_bind_code(Actor.cli())
    for _ in range(admin_groups.BIND_LIMIT):
        assert await unbound.say("山田", "/bind WRONG-CODE0") == admin_groups.BIND_FAILED

    reply = await unbound.say("山田", f"/bind {issued.code}")  # even the right code waits

    assert "一時的に受け付けを停止" in reply
    assert not await AdminGroup.exists()
    results = await AuditEntry.filter(action="group_bind").values_list("result", flat=True)
    assert sorted(results) == ["failed"] * admin_groups.BIND_LIMIT + ["refused"]


async def test_a_bound_group_says_so_when_bound_again(room):
    issued = await admin_groups.issue_bind_code(Actor.cli())
    assert await room.say("山田", f"/bind {issued.code}") == admin_groups.ALREADY_BOUND
    assert await AdminGroup.all().count() == 1
    assert await GroupBindCode.filter(used_at__isnull=True).count() == 1  # still unused


async def test_an_unbound_group_answers_only_help_and_stores_nothing(unbound, sim):
    assert "/bind" in await unbound.say("山田", "/help")
    for text in [
        "/drill",
        "訓練",
        "/alert 総務部",
        "/status",
        "/list",
        "/close",
        "/foo",
        "こんにちは",
    ]:
        await unbound.ignored("山田", text)
    member = sim.add_user("新人")
    await sim.groups.add_member(unbound.group_id, member.user_id)
    await until(settled)

    assert len(unbound.bot_messages()) == 2  # the greeting and the help
    assert not await AdminGroup.exists()
    assert not await PendingCommand.exists()
    assert not await AuditEntry.exists()
    assert not await Throttle.exists()
    assert not await Alert.exists()


async def test_leaving_unbinds_the_group_and_forgets_its_confirmations(room, sim):
    await room.confirmation("山田", "/drill")
    assert await PendingCommand.exists()

    assert await sim.groups.remove_bot(room.group_id) == 200
    await until(settled)

    assert not await AdminGroup.exists()
    assert not await PendingCommand.exists()
    row = await AuditEntry.get(action="group_unbind")
    assert (row.target, row.result) == (room.group_id, "ok")
    # Invited again, the group is an ordinary one: commands are ignored.
    await sim.groups.invite_bot(room.group_id)
    await until(settled)
    await room.ignored("山田", "/status")


async def test_a_new_member_of_an_admin_group_is_greeted(room, sim):
    member = sim.add_user("新人")
    before = len(room.bot_messages())
    await sim.groups.add_member(room.group_id, member.user_id)
    await until(lambda: len(room.bot_messages()) > before)
    assert "/help" in said(room.bot_messages()[-1])


# Who may command

COMMANDS = [
    ("/help", "group_help"),
    ("ヘルプ", "group_help"),
    ("/drill", "group_drill"),
    ("訓練", "group_drill"),
    ("/alert 総務部", "group_alert"),
    ("発信", "group_alert"),
    ("/status", "group_status"),
    ("状況 1", "group_status"),
    ("/remind 1 至急", "group_remind"),
    ("再通知", "group_remind"),
    ("/close 1", "group_close"),
    ("終了", "group_close"),
    ("/list", "group_list"),
    ("一覧", "group_list"),
]


@pytest.mark.parametrize(
    ("who", "with_user_id", "actor", "expected"),
    [
        ("佐藤", True, "E2", NOT_PERMITTED),
        ("部外者", True, "未連携", NOT_PERMITTED),
        ("山田", False, "不明", "送信者を確認できない"),
    ],
    ids=["not-a-sender", "not-linked", "no-user-id"],
)
async def test_every_command_is_refused_to_anyone_but_a_linked_sender(
    room, who, with_user_id, actor, expected
):
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    await AuditEntry.all().delete()

    for text, _ in COMMANDS:
        assert expected in await room.say(who, text, with_user_id=with_user_id), text

    assert await Alert.all().count() == 1
    assert (await Alert.get(id=started.alert.id)).closed_at is None
    assert not await AlertRound.exists()
    assert not await PendingCommand.exists()
    rows = await AuditEntry.all().order_by("id")
    assert [(r.action, r.actor, r.target, r.result) for r in rows] == [
        (action, actor, room.group_id, "refused") for _, action in COMMANDS
    ]


async def test_ordinary_chat_in_an_admin_group_is_ignored(room):
    await AuditEntry.all().delete()
    await room.ignored("山田", "お疲れさまです")
    await room.ignored("佐藤", "訓練お疲れさまでした")
    assert not await AuditEntry.exists()


# /drill and /alert: the confirmation card


async def test_a_drill_is_confirmed_then_started_and_marked_as_a_drill_everywhere(room, sim):
    card, buttons = await room.confirmation("山田", "/drill")

    assert "【訓練】【地震】安否確認" in card and "訓練" in card
    assert "対象" in card and "6名" in card  # every active employee
    assert "震度6強" in card
    assert not await Alert.exists()  # nothing starts before 実行
    assert buttons["実行"].startswith("action=group_confirm&token=")
    assert buttons["取消"].startswith("action=group_cancel&token=")

    reply = await room.tap("山田", buttons["実行"])

    assert reply.startswith("連絡 #1 を開始しました（対象 6名、LINE 5名）")
    assert "【訓練】" in reply
    alert = await Alert.get()
    assert alert.drill and alert.sender_name == "総務部"  # the commanding sender's department
    satou = room.users["佐藤"]
    await until(lambda: [m for m in sim.messages_for(satou) if m["type"] == "flex"])
    assert "【訓練】" in said(sim.messages_for(satou)[-1])
    rows = await AuditEntry.filter(action__in=["group_drill", "group_confirm"]).order_by("id")
    assert [(r.action, r.actor, r.result) for r in rows] == [
        ("group_drill", "E1", "ok"),
        ("group_confirm", "E1", "ok"),
    ]
    assert rows[1].detail["alert"] == alert.id


async def test_a_drill_carries_the_senders_own_message_after_two_dashes(room, sim):
    card, buttons = await room.confirmation(
        "山田", "/drill 総務部 -- 本社ビルで火災報知器が鳴りました。\n階段で避難してください。"
    )

    assert "本社ビルで火災報知器が鳴りました。" in card and "震度6強" not in card
    assert "総務部" in card
    await room.tap("山田", buttons["実行"])
    alert = await Alert.get()
    assert alert.message == "本社ビルで火災報知器が鳴りました。\n階段で避難してください。"
    assert alert.title == "【地震】安否確認"  # the template's title where none was given
    satou = room.users["佐藤"]
    await until(lambda: [m for m in sim.messages_for(satou) if m["type"] == "flex"])
    assert "火災報知器" in said(sim.messages_for(satou)[-1])
    row = await AuditEntry.get(action="group_drill")
    assert row.detail["own_message"] is True and "火災" not in str(row.detail)


async def test_an_alert_without_a_message_after_the_dashes_keeps_the_templates(room):
    card, _ = await room.confirmation("鈴木", "発信 営業部 --")
    assert "震度6強" in card and "営業部" in card


async def test_a_real_alert_to_departments_is_marked_as_a_drill_nowhere(room, sim):
    card, buttons = await room.confirmation("鈴木", "発信 earthquake 営業部　開発部")

    assert "【訓練】" not in card and "本番" in card
    assert "営業部、開発部" in card and "3名" in card
    reply = await room.tap("鈴木", buttons["実行"])

    assert "対象 3名、LINE 2名" in reply and "【訓練】" not in reply
    alert = await Alert.get()
    assert not alert.drill and alert.sender_name == "営業部"
    assert sorted(d.name for d in await alert.target_departments) == ["営業部", "開発部"]
    takahashi = room.users["高橋"]
    await until(lambda: sim.messages_for(takahashi))
    assert "【訓練】" not in said(sim.messages_for(takahashi)[-1])
    assert sim.messages_for(room.users["佐藤"]) == []  # 総務部 is not a target
    status = await room.say("鈴木", "/status")
    assert "【訓練】" not in status


async def test_a_sender_without_a_department_sends_as_the_system(room):
    await Employee.filter(code="E6").update(role=EmployeeRole.SENDER)
    _, buttons = await room.confirmation("田中", "/drill")
    await room.tap("田中", buttons["実行"])
    assert (await Alert.get()).sender_name == DEFAULT_SENDER


async def test_a_confirmation_works_only_once(room):
    _, buttons = await room.confirmation("山田", "/drill")
    await room.tap("山田", buttons["実行"])

    assert await room.tap("山田", buttons["実行"]) == admin_groups.PENDING_USED
    assert await room.tap("山田", buttons["取消"]) == admin_groups.PENDING_USED
    assert await Alert.all().count() == 1


async def test_a_late_confirmation_starts_nothing(room):
    _, buttons = await room.confirmation("山田", "/drill")
    await PendingCommand.all().update(expires_at=datetime.now(UTC) - timedelta(seconds=1))

    assert await room.tap("山田", buttons["実行"]) == admin_groups.PENDING_EXPIRED
    assert not await Alert.exists()
    row = await AuditEntry.get(action="group_confirm")
    assert (row.actor, row.result) == ("E1", "failed")


async def test_another_admin_cannot_confirm_what_a_sender_asked(room):
    _, buttons = await room.confirmation("山田", "/drill")

    assert await room.tap("鈴木", buttons["実行"]) == admin_groups.PENDING_NOT_YOURS
    assert NOT_PERMITTED in await room.tap("佐藤", buttons["実行"])
    assert "送信者を確認できない" in await room.tap("山田", buttons["実行"], with_user_id=False)
    assert not await Alert.exists()
    assert "開始しました" in await room.tap("山田", buttons["実行"])  # still the asker's
    rows = await AuditEntry.filter(action="group_confirm").order_by("id")
    assert [(r.actor, r.result) for r in rows] == [
        ("E3", "refused"),
        ("E2", "refused"),
        ("不明", "refused"),
        ("E1", "ok"),
    ]


async def test_cancelling_starts_nothing_and_spends_the_confirmation(room):
    _, buttons = await room.confirmation("山田", "/alert")

    assert await room.tap("山田", buttons["取消"]) == "発信を取り消しました。"
    assert await room.tap("山田", buttons["実行"]) == admin_groups.PENDING_USED
    assert not await Alert.exists()


async def test_a_confirmation_from_another_group_does_nothing(room, sim):
    _, buttons = await room.confirmation("山田", "/drill")
    other = Room(sim, await join(sim, room.users), room.users)
    issued = await admin_groups.issue_bind_code(Actor.cli())
    await other.say("山田", f"/bind {issued.code}")

    assert await other.tap("山田", buttons["実行"]) == admin_groups.PENDING_GONE
    assert not await Alert.exists()


# Bad input: a clear Japanese reply, nothing changes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/alert xyz", "テンプレートまたは部署「xyz」が見つかりません。"),
        ("発信 earthquake 存在しない部", "部署「存在しない部」が見つかりません。"),
        ("/drill 総務部 存在しない部", "部署「存在しない部」が見つかりません。"),
        ("/status 99", "連絡 99 が見つかりません。"),
        ("/status abc", "連絡の番号を数字で指定してください"),
        ("/remind #99 至急", "連絡 99 が見つかりません。"),
        ("/close ９９", "連絡 99 が見つかりません。"),
        ("/close 1 2", "連絡の番号を数字で指定してください"),
        ("/frobnicate", "そのコマンドはありません"),
    ],
)
async def test_bad_input_gets_a_clear_reply_and_changes_nothing(room, text, expected):
    await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)

    assert expected in await room.say("山田", text)

    assert await Alert.all().count() == 1 and not await AlertRound.exists()
    assert (await Alert.get()).closed_at is None
    assert not await PendingCommand.exists()
    row = await AuditEntry.filter(target=room.group_id).order_by("-id").first()
    assert (row.actor, row.result) == ("E1", "failed")


@pytest.mark.parametrize("text", ["/status", "/remind", "/close"])
async def test_commands_without_an_open_alert_say_there_is_none(room, text):
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    await close_alert(Actor.cli(), started.alert.id)
    assert await room.say("山田", text) == admin_groups.NO_OPEN_ALERT
    assert not await AlertRound.exists()


async def test_an_alert_reaching_nobody_asks_for_no_confirmation(room):
    await Employee.filter(department__name="開発部").update(active=False)
    assert "対象の社員がいません" in await room.say("山田", "/alert 開発部")
    assert not await PendingCommand.exists()


# /status, /remind, /close, /list


async def answered_drill(room: Room) -> Alert:
    """A drill to everyone: 山田 answers 無事, 鈴木 軽傷; the rest not."""
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    employees = {e.code: e for e in await Employee.all()}
    await submit_answer(started.alert.id, employees["E1"], GOOD, "", AnswerChannel.LIFF)
    await submit_answer(started.alert.id, employees["E3"], HURT, "", AnswerChannel.LIFF)
    return started.alert


async def test_status_shows_the_share_the_choices_and_the_departments_answering_least(room):
    alert = await answered_drill(room)

    reply = await room.say("山田", "状況")

    assert reply.startswith(f"#{alert.id} 【訓練】【地震】安否確認")
    assert "回答 2/6 (33.3%)" in reply and "未回答 4名" in reply
    assert "■本人: 無事 1 / 軽傷 1 / 重傷 0" in reply
    assert "■出社: 可能 1 / 不可能 0 / 未定 1" in reply
    lowest = reply.split("回答率の低い部署:\n")[1].splitlines()
    assert lowest == [
        "・(所属なし) 0/1 (0.0%)",
        "・開発部 0/1 (0.0%)",
        "・営業部 1/2 (50.0%)",
    ]
    assert reply == await room.say("山田", f"/status #{alert.id}")
    row = await AuditEntry.filter(action="group_status").first()
    assert row.detail == {"alert": alert.id, "answered": 2, "total": 6}


async def test_status_names_the_latest_open_alert_when_no_number_is_given(room):
    first = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    second = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=False)
    assert (await room.say("山田", "/status")).startswith(f"#{second.alert.id} 【地震】")
    await close_alert(Actor.cli(), second.alert.id)
    assert (await room.say("山田", "/status")).startswith(f"#{first.alert.id} 【訓練】")
    closed = await room.say("山田", f"/status {second.alert.id}")
    assert "(終了)" in closed  # a closed alert's tally can still be read


async def test_remind_reaches_only_those_who_have_not_answered(room, sim):
    alert = await answered_drill(room)
    users = room.users
    await until(lambda: all(sim.messages_for(users[n]) for n in ["山田", "佐藤", "鈴木"]))

    reply = await room.say("山田", f"再通知 {alert.id} 至急　回答してください")

    # 佐藤, 高橋 and 田中 have LINE and have not answered; 伊藤 has no LINE.
    assert "未回答 4名のうち、LINEで届く 3名に再通知しました。" in reply
    assert "【訓練】" in reply
    round_ = await AlertRound.get()
    assert round_.message == "至急　回答してください"
    assert round_.sender_name == alert.sender_name  # the original 連絡者, not the reminder's
    await until(lambda: len(sim.messages_for(users["佐藤"])) == 2)
    reminder = sim.messages_for(users["佐藤"])[-1]
    assert "【再通知】" in said(reminder) and reminder["altText"].startswith("【再通知】")
    assert "【安否確認システム】" in said(reminder)  # the alert's own 連絡者, not the reminder's
    assert len(sim.messages_for(users["山田"])) == 1  # answered: not reminded
    assert len(sim.messages_for(users["鈴木"])) == 1
    row = await AuditEntry.get(action="group_remind")
    assert row.detail == {"alert": alert.id, "round": 1, "unanswered": 4, "line": 3}
    assert "至急" not in str(row.detail)  # what people wrote is not kept


async def test_close_then_remind_is_refused(room):
    alert = await answered_drill(room)

    closed = await room.say("山田", "/close")

    assert f"#{alert.id} 【訓練】【地震】安否確認" in closed and "終了しました" in closed
    assert "回答 2/6" in closed
    assert (await Alert.get(id=alert.id)).closed_at is not None
    assert "すでに終了" in await room.say("山田", f"/remind {alert.id}")
    assert "すでに終了" in await room.say("山田", f"/close {alert.id}")
    assert not await AlertRound.exists()
    results = await AuditEntry.filter(action__in=["group_close", "group_remind"]).order_by("id")
    assert [(r.action, r.result) for r in results] == [
        ("group_close", "ok"),
        ("group_remind", "failed"),
        ("group_close", "failed"),
    ]


async def test_list_shows_the_open_alerts_newest_first(room):
    first = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    closed = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    await close_alert(Actor.cli(), closed.alert.id)
    latest = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=False)

    reply = await room.say("山田", "一覧")

    assert reply.startswith("受付中の連絡 2件:")
    assert reply.index(f"#{latest.alert.id} 【地震】") < reply.index(f"#{first.alert.id} 【訓練】")
    assert f"#{closed.alert.id} " not in reply
    assert "回答 0/6 (0.0%)" in reply


async def test_list_says_when_nothing_is_open(room):
    assert await room.say("山田", "/list") == "受付中の連絡はありません。"


async def test_help_lists_every_command(room):
    reply = await room.say("山田", "/HELP")
    for word in ["/drill", "/alert", "/status", "/remind", "/close", "/list", "訓練", "再通知"]:
        assert word in reply


# Parsing and housekeeping (no LINE needed)


@pytest.mark.parametrize(
    ("text", "command", "args"),
    [
        ("/alert earthquake 総務部", admin_groups.GroupCommand.ALERT, ["earthquake", "総務部"]),
        ("発信　総務部　営業部", admin_groups.GroupCommand.ALERT, ["総務部", "営業部"]),
        ("／ｓｔａｔｕｓ　＃１２", admin_groups.GroupCommand.STATUS, ["＃１２"]),
        ("  訓練  ", admin_groups.GroupCommand.DRILL, []),
        ("/nope", admin_groups.GroupCommand.UNKNOWN, []),
    ],
)
def test_commands_are_parsed_with_ascii_and_full_width_spaces(text, command, args):
    parsed = admin_groups.parse_command(text)
    assert parsed is not None and (parsed.command, parsed.args) == (command, args)


@pytest.mark.parametrize("text", ["こんにちは", "訓練お疲れさま", "", "   "])
def test_chat_is_not_a_command(text):
    assert admin_groups.parse_command(text) is None


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("12", 12),
        ("#12", 12),
        ("＃１２", 12),
        ("１２", 12),
        ("x", None),
        ("#", None),
        ("1.5", None),
    ],
)
def test_alert_numbers_are_read_as_people_type_them(raw, number):
    assert admin_groups.alert_number(raw) == number


async def test_housekeeping_purges_expired_confirmations_and_bind_codes(db):
    company = await make_company({"総務部": [("E1", "山田")]})
    employee = company.employees["E1"]
    long_ago = datetime.now(UTC) - timedelta(days=2)
    await admin_groups.create_pending("C" + "0" * 32, "U1", employee, "drill", {})
    fresh = await admin_groups.create_pending("C" + "0" * 32, "U1", employee, "drill", {})
    await admin_groups.issue_bind_code(Actor.cli())
    await admin_groups.issue_bind_code(Actor.cli())
    await PendingCommand.filter(id=1).update(expires_at=long_ago)
    await GroupBindCode.filter(id=1).update(expires_at=long_ago)

    assert await tidy(timedelta(days=7)) == 2

    assert await PendingCommand.all().count() == 1 and await GroupBindCode.all().count() == 1
    assert fresh  # the unexpired confirmation is kept


async def test_the_demo_company_has_an_admin_group_bound_by_its_senders(sim, bot):
    from bot.demo import seed_admin_group, seed_company

    pairs, _ = await seed_company(sim)

    group_id = await seed_admin_group(sim, [pairs[0], pairs[6]])

    await until(lambda: AdminGroup.exists(group_id=group_id))
    assert sim.groups.get(group_id).name == "防災対策本部"
    senders = await Employee.filter(role=EmployeeRole.SENDER).values_list("code", flat=True)
    assert sorted(senders) == sorted([pairs[0][0].code, pairs[6][0].code])
    room = Room(sim, group_id, {"first": pairs[0][1], "second": pairs[6][1]})
    await until(settled)
    assert "/drill" in await room.say("second", "/help")


def test_the_largest_status_reply_stays_within_lines_text_limit():
    from bot.group_messages import MAX_TEXT_UTF16, status
    from domain.check_items import CheckItem
    from domain.tally import Tally

    # The largest a template may be: 20 items of 20 choices, labels of 50 characters.
    items = tuple(
        CheckItem(f"{i:02d}" + "項" * 48, tuple(f"{i:02d}{j:02d}" + "🙂" * 46 for j in range(20)))
        for i in range(20)
    )
    counts = {item.label: dict.fromkeys(item.choices, 0) for item in items}
    result = Tally(1, "題" * 200, True, 100, 50, items, counts)

    (message,) = status(result, closed=False)

    assert len(message["text"].encode("utf-16-le")) // 2 <= MAX_TEXT_UTF16
    assert message["text"].startswith("#1 【訓練】") and message["text"].endswith("…")
