"""What each rich menu tap and its word typed in chat does, for a linked, an unlinked and a
blocked user: signed webhook events into the real app, replies read from the local LINE
platform. Every reply uses the event's reply token; nothing here is a push."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from domain.actors import Actor
from domain.alerts import close_alert, start_alert
from domain.answers import submit_answer
from models import AnswerChannel, Delivery, LineAccount, Template
from tests.conftest import LIFF_ID, make_company, quick_link, until
from tests.test_reminders import flex_text

GOOD = {"本人": "無事", "家族": "全員無事", "家屋": "被害なし", "出社": "可能"}

# Each menu area's postback and the word typed in chat that does the same.
ANSWER = [("postback", "action=answer"), ("text", "回答"), ("text", "最新の安否確認に回答")]
MY_ANSWER = [("postback", "action=my_answer"), ("text", "自分の回答")]
LINK_INFO = [("postback", "action=link_info"), ("text", "連携情報")]
HELP = [("postback", "action=help"), ("text", "使い方")]


@pytest.fixture
async def company(bot):
    return await make_company(
        {
            "総務部": [("E001", "山田 太郎"), ("E002", "佐藤 花子")],
            "営業部": [("E101", "鈴木 一郎")],
        }
    )


async def tap(sim, user_id: str, how: str, what: str) -> list[dict]:
    """Tap a menu area (a postback) or type its word; return the bot's reply messages."""

    def replies() -> list:
        return [s for s in sim.sent if s.kind == "reply" and s.status == 200]

    before = len(replies())
    if how == "postback":
        assert await sim.postback(user_id, what) == 200
    else:
        assert await sim.send_text(user_id, what) == 200
    await until(lambda: len(replies()) > before)
    assert {s.kind for s in sim.sent} <= {"reply", "multicast"}  # never a push
    (reply,) = replies()[before:]
    assert reply.to == [user_id]
    return reply.messages


def bubbles(message: dict) -> list[dict]:
    contents = message["contents"]
    return contents["contents"] if contents["type"] == "carousel" else [contents]


def answer_uri(bubble: dict) -> str:
    return bubble["footer"]["contents"][0]["action"]["uri"]


def alert_of(uri: str) -> int:
    return int(parse_qs(urlsplit(uri).query)["alert"][0])


async def started(*, drill: bool = False, departments=None):
    return (await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=drill)).alert


# 最新の安否確認に回答


@pytest.mark.parametrize(("how", "what"), ANSWER)
async def test_answer_lists_open_alerts_addressed_to_me_newest_first(sim, bot, company, how, what):
    yamada = company.employees["E001"]
    user_id = await quick_link(sim, yamada)
    older = await started(drill=True)
    closed = await started()
    newer = await started()
    await close_alert(Actor.cli(), closed.id)
    await submit_answer(older.id, yamada, GOOD, "", AnswerChannel.LIFF)
    await until(lambda: len(sim.messages_for(user_id)) == 3)  # the three alerts arrived

    (reply,) = await tap(sim, user_id, how, what)

    shown = bubbles(reply)
    assert [alert_of(answer_uri(b)) for b in shown] == [newer.id, older.id]  # not the closed one
    first, second = (flex_text({"contents": b}) for b in shown)
    assert "確認状態" in first and "未回答" in first and "開始日時" in first
    assert "【訓練】" not in first  # a real alert is marked nowhere
    assert "回答済" in second and "【訓練】" in second
    assert all(b["footer"]["contents"][0]["action"]["label"] == "回答" for b in shown)
    assert answer_uri(shown[0]).startswith(f"{sim.config.public_base_url}/liff/{LIFF_ID}")


async def test_answer_with_no_open_alert_says_so(sim, bot, company):
    user_id = await quick_link(sim, company.employees["E001"])
    alert = await started()
    await close_alert(Actor.cli(), alert.id)

    (reply,) = await tap(sim, user_id, "postback", "action=answer")

    assert reply["text"] == "現在、回答が必要な安否確認はありません。"


async def test_answer_does_not_show_alerts_sent_to_other_departments(sim, bot, company):
    user_id = await quick_link(sim, company.employees["E101"])  # 営業部
    from domain.alerts import find_departments

    template = await Template.get(key="earthquake")
    await start_alert(
        Actor.cli(), template, drill=False, departments=await find_departments(["総務部"])
    )

    (reply,) = await tap(sim, user_id, "text", "回答")

    assert reply["text"] == "現在、回答が必要な安否確認はありません。"


# 自分の回答


@pytest.mark.parametrize(("how", "what"), MY_ANSWER)
async def test_my_answer_shows_each_item_choice_message_and_time(sim, bot, company, how, what):
    yamada = company.employees["E001"]
    user_id = await quick_link(sim, yamada)
    earlier = await started()
    latest = await started(drill=True)
    before = {**GOOD, "本人": "軽傷"}
    await submit_answer(earlier.id, yamada, before, "前の連絡", AnswerChannel.LIFF)
    answer = await submit_answer(
        latest.id, yamada, {**GOOD, "家屋": "一部倒壊"}, "自宅待機します", AnswerChannel.LIFF
    )

    (reply,) = await tap(sim, user_id, how, what)

    body = flex_text(reply)
    assert "【訓練】" in body and "回答日時" in body
    for label, choice in {**GOOD, "家屋": "一部倒壊"}.items():
        assert label in body and choice in body
    assert "自宅待機します" in body and "前の連絡" not in body and "軽傷" not in body
    from web.timefmt import jst

    assert jst(answer.answered_at) in body
    footer = reply["contents"]["footer"]["contents"][0]["action"]
    assert footer["label"] == "回答を修正する" and alert_of(footer["uri"]) == latest.id


async def test_my_answer_before_answering_says_unanswered_with_the_button(sim, bot, company):
    user_id = await quick_link(sim, company.employees["E001"])
    alert = await started()

    (reply,) = await tap(sim, user_id, "postback", "action=my_answer")

    assert "未回答" in flex_text(reply)
    action = reply["contents"]["footer"]["contents"][0]["action"]
    assert action["label"] == "回答" and alert_of(action["uri"]) == alert.id


async def test_my_answer_when_no_alert_ever_came(sim, bot, company):
    user_id = await quick_link(sim, company.employees["E001"])

    (reply,) = await tap(sim, user_id, "text", "自分の回答")

    assert reply["text"] == "これまでに届いた安否確認はありません。"


# 連携情報


@pytest.mark.parametrize(("how", "what"), LINK_INFO)
async def test_link_info_shows_my_record_only_with_unlink(sim, bot, company, how, what):
    user_id = await quick_link(sim, company.employees["E001"])
    await quick_link(sim, company.employees["E002"])

    (reply,) = await tap(sim, user_id, how, what)

    body = flex_text(reply)
    assert "E001" in body and "山田 太郎" in body and "総務部" in body
    assert "E002" not in body and "佐藤" not in body
    action = reply["contents"]["footer"]["contents"][0]["action"]
    assert (action["label"], action["data"]) == ("連携解除", "action=unlink")


# 使い方


@pytest.mark.parametrize(("how", "what"), HELP)
async def test_help_says_how_to_answer_how_to_link_and_who_to_ask(sim, bot, company, how, what):
    linked = await quick_link(sim, company.employees["E001"])
    unlinked = sim.add_user("だれか").user_id
    sim.users[unlinked].friend = True

    (for_linked,) = await tap(sim, linked, how, what)
    (for_unlinked,) = await tap(sim, unlinked, how, what)

    for reply in (for_linked, for_unlinked):
        assert "【回答のしかた】" in reply["text"] and "【お問い合わせ】" in reply["text"]
    assert "【LINE連携のしかた】" in for_unlinked["text"]
    assert "【連携の確認・解除】" in for_linked["text"]


# Unlinked users


@pytest.mark.parametrize(
    ("how", "what"),
    [*ANSWER, *MY_ANSWER, *LINK_INFO, ("postback", "action=unlink_confirm")],
)
async def test_unlinked_user_is_told_to_link_first_with_the_button(sim, bot, line, how, what):
    user_id = await line.befriend("はなこ")

    text, button = await tap(sim, user_id, how, what)

    assert "連携が必要です" in text["text"]
    action = button["template"]["actions"][0]
    assert (action["type"], action["data"]) == ("postback", "action=link")


async def test_unlinked_user_tapping_link_gets_the_link_button(sim, bot, line):
    user_id = await line.befriend("はなこ")

    (reply,) = await tap(sim, user_id, "postback", "action=link")

    assert reply["template"]["actions"][0]["uri"].startswith(f"{bot.make_url('/link')}")


async def test_a_retired_employees_account_is_treated_as_unlinked(sim, bot, company):
    yamada = company.employees["E001"]
    user_id = await quick_link(sim, yamada)
    yamada.active = False
    await yamada.save()

    text, _button = await tap(sim, user_id, "postback", "action=link_info")

    assert "連携が必要です" in text["text"]


# Other text


async def test_other_text_is_not_an_answer_and_shows_the_answer_button(sim, bot, company):
    user_id = await quick_link(sim, company.employees["E001"])
    alert = await started()
    await until(lambda: sim.messages_for(user_id))

    text, button = await tap(sim, user_id, "text", "無事です")

    assert "安否回答になりません" in text["text"]
    action = button["template"]["actions"][0]
    assert action["label"] == "回答" and alert_of(action["uri"]) == alert.id
    assert not await Delivery.filter(alert_id=alert.id, kind="reminder").exists()


async def test_other_text_with_nothing_open_says_there_is_nothing_to_answer(sim, bot, company):
    user_id = await quick_link(sim, company.employees["E001"])

    (reply,) = await tap(sim, user_id, "text", "おはようございます")

    assert "安否回答になりません" in reply["text"]
    assert "回答が必要な安否確認はありません" in reply["text"]


# Blocked users


async def test_blocked_user_is_skipped_by_deliveries_and_welcomed_back_on_follow(
    sim, bot, line, company
):
    yamada = company.employees["E001"]
    user_id = await line.linked_friend(yamada)
    assert await sim.unfollow(user_id) == 200
    await until(lambda: LineAccount.exists(user_id=user_id, blocked=True))

    alert = await started()
    assert not await Delivery.filter(alert_id=alert.id, employee_id=yamada.id).exists()

    before = len(sim.messages_for(user_id))
    assert await sim.follow(user_id) == 200
    await until(lambda: len(sim.messages_for(user_id)) > before)
    assert "おかえりなさい" in line.texts(user_id)[-1]
    account = await LineAccount.get(user_id=user_id)
    assert (account.followed, account.blocked, account.employee_id) == (True, False, yamada.id)
    (reply,) = await tap(sim, user_id, "text", "回答")
    assert [alert_of(answer_uri(b)) for b in bubbles(reply)] == [alert.id]


# The menu each user sees


@pytest.fixture
async def menus(sim, bot) -> dict[str, str]:
    """Both rich menus synced to the local platform: {kind: LINE rich menu ID}."""
    from bot import richmenus
    from bot.keys import LINE
    from domain import rich_menus

    await richmenus.sync(bot.app[LINE])
    return {kind: (await rich_menus.current(kind)).rich_menu_id for kind in ("unlinked", "linked")}


def menu_seen(sim, user_id: str) -> str | None:
    menu = sim.richmenus.menu_of(user_id)
    return menu.rich_menu_id if menu is not None else None


async def test_linking_shows_the_linked_menu_and_unlinking_the_default_again(
    sim, bot, line, company, menus
):
    user_id = await line.befriend("たろう")
    assert menu_seen(sim, user_id) == menus["unlinked"]  # the default for every follower

    await line.link(user_id, company.employees["E001"])
    await until(lambda: menu_seen(sim, user_id) == menus["linked"])

    await tap(sim, user_id, "postback", "action=unlink_confirm")
    await until(lambda: menu_seen(sim, user_id) == menus["unlinked"])
    assert user_id not in sim.richmenus.user_links


async def test_following_again_restores_the_menu_that_fits(sim, bot, line, company, menus):
    linked = await line.linked_friend(company.employees["E001"])
    unlinked = await line.befriend("だれか")
    for user_id in (linked, unlinked):
        assert await sim.unfollow(user_id) == 200
    sim.richmenus.user_links.clear()  # whatever LINE kept while blocked, it is not relied on

    for user_id in (linked, unlinked):
        assert await sim.follow(user_id) == 200
    await until(lambda: menu_seen(sim, linked) == menus["linked"])

    assert menu_seen(sim, unlinked) == menus["unlinked"]
    assert "おかえりなさい" in line.texts(linked)[-1]


async def test_each_area_of_the_linked_menu_does_what_its_label_says(sim, bot, company, menus):
    user_id = await quick_link(sim, company.employees["E001"])
    sim.richmenus.user_links[user_id] = menus["linked"]
    alert = await started()
    await until(lambda: sim.messages_for(user_id))
    expected = [
        ("回答", lambda m: [alert_of(answer_uri(b)) for b in bubbles(m)] == [alert.id]),
        ("自分の回答", lambda m: "未回答" in flex_text(m)),
        ("連携情報", lambda m: "E001" in flex_text(m)),
        ("掲示板", lambda m: m["text"] == "掲示板に新しい投稿はありません。"),
        ("使い方", lambda m: "【回答のしかた】" in m["text"]),
    ]

    for index, (word, check) in enumerate(expected):
        before = len(sim.messages_for(user_id))
        result = await sim.richmenus.tap(user_id, index)
        assert (result.status, result.action["displayText"]) == (200, word)
        await until(lambda before=before: len(sim.messages_for(user_id)) > before)
        reply = sim.messages_for(user_id)[-1]
        assert check(reply), (word, reply)


async def test_each_area_of_the_default_menu_works_for_a_new_follower(sim, bot, line, menus):
    user_id = await line.befriend("はなこ")

    result = await sim.richmenus.tap(user_id, 0)
    await until(lambda: "LINE連携の手続き" in line.texts(user_id)[-1])
    assert result.action["data"] == "action=link"

    await sim.richmenus.tap(user_id, 1)
    await until(lambda: "【LINE連携のしかた】" in line.texts(user_id)[-1])
