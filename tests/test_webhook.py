"""The webhook over real HTTP: LINE's signed events in, the bot's replies out, each event once."""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import json
import logging
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bot.keys import STOPPING, WORKERS
from domain import inbox
from domain.inbox import MAX_ATTEMPTS
from line_simulator import Simulator, ids
from line_simulator.state import SentRequest
from models import InboxEvent, InboxStatus, LineAccount
from tests.conftest import SECRET, make_company, quick_link, until

# Requests refused or ignored before any query that could differ between databases, and other
# bad-input variations, run on SQLite only: each PostgreSQL test pays for a database of its own.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
NOT_AN_ANSWER = "トークへのテキスト返信は安否回答になりません"


def sign(secret: str, body: bytes) -> str:
    """x-line-signature as LINE computes it: Base64(HMAC-SHA256(secret, raw body))."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def follow_body() -> bytes:
    """A well-formed webhook body with one follow event."""
    event = {
        "type": "follow",
        "webhookEventId": "01JTESTFOLLOWEVENT00000000",
        "timestamp": 1_700_000_000_000,
        "mode": "active",
        "deliveryContext": {"isRedelivery": False},
        "source": {"type": "user", "userId": "U" + "a" * 32},
        "replyToken": "reply-token-of-a-forged-event",
        "follow": {"isUnblocked": False},
    }
    return json.dumps({"destination": "U" + "b" * 32, "events": [event]}).encode()


async def post_callback(
    session: aiohttp.ClientSession, bot: TestServer, body: bytes, headers: dict[str, str]
) -> int:
    """POST a raw body to the webhook and return the status."""
    headers = {"Content-Type": "application/json; charset=utf-8", **headers}
    async with session.post(bot.make_url("/callback"), data=body, headers=headers) as response:
        await response.read()
        return response.status


async def handled(event: dict[str, Any]) -> InboxEvent:
    """Wait until the inbox has finished with the event (done or given up) and return it."""
    return await until(
        lambda: InboxEvent.get_or_none(
            webhook_event_id=event["webhookEventId"],
            status__in=[InboxStatus.DONE, InboxStatus.FAILED],
        )
    )


def replies(sim: Simulator) -> list[SentRequest]:
    """Every reply the bot attempted (a refused one too: the simulator records it)."""
    return [s for s in sim.sent if s.kind == "reply"]


def inbox_is_idle(bot: TestServer) -> bool:
    """The inbox worker has finished its steps and sleeps (until new work or a retry)."""
    (worker,) = [w for w in bot.app[WORKERS] if w.name == "inbox"]
    return worker.idle.is_set()


# Signature and body checks


@SQLITE_ONLY
async def test_webhook_signed_with_the_channel_secret_is_stored(bot, browser_session):
    headers = {"X-Line-Signature": sign(SECRET, follow_body())}
    assert await post_callback(browser_session, bot, follow_body(), headers) == 200
    assert await InboxEvent.filter(event_type="follow").count() == 1


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (follow_body(), {"X-Line-Signature": "bm90IGEgc2lnbmF0dXJl"}),
        (follow_body(), {}),
        (follow_body(), {"X-Line-Signature": ""}),
        (follow_body(), {"X-Line-Signature": sign("another-channel-secret", follow_body())}),
        (follow_body(), {"X-Line-Signature": sign(SECRET, follow_body() + b" ")}),
        (b"\xff\xfe\x00not utf-8", {}),
    ],
    ids=[
        "wrong",
        "missing",
        "empty",
        "another-secret",
        "another-body",
        "missing-on-non-utf8-body",
    ],
)
async def test_webhook_without_a_valid_signature_is_refused_and_nothing_stored(
    bot, browser_session, body, headers
):
    assert await post_callback(browser_session, bot, body, headers) == 400
    assert await InboxEvent.all().count() == 0
    assert await LineAccount.all().count() == 0


@SQLITE_ONLY
@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"destination": "U0"}',
        b'{"destination": "U0", "events": {}}',
        b"[]",
        b"null",
        b"\xff\xfe\x00not utf-8",
        b'{"destination": "U0", "events": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    ],
    ids=["not-json", "no-events", "events-not-a-list", "array", "null", "non-utf8", "nested"],
)
async def test_signed_but_malformed_body_is_refused(bot, browser_session, body):
    headers = {"X-Line-Signature": sign(SECRET, body)}
    assert await post_callback(browser_session, bot, body, headers) == 400
    assert await InboxEvent.all().count() == 0


@SQLITE_ONLY
async def test_connection_check_with_no_events_is_answered_ok(sim, bot):
    assert await sim.send_events([]) == 200
    assert await InboxEvent.all().count() == 0


@SQLITE_ONLY
async def test_health_endpoint_answers_ok(bot, browser_session):
    async with browser_session.get(bot.make_url("/healthz")) as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok"}


# Friends


async def test_new_friend_is_greeted_and_told_how_to_link(sim, bot, line):
    user_id = await line.befriend("はなこ")

    greeting, button = sim.messages_for(user_id)
    assert "「連携」と送信" in greeting["text"]
    assert button["template"]["actions"][0]["data"] == "action=link"
    account = await LineAccount.get(user_id=user_id)
    # Only the user ID is kept on follow: no profile lookup, no employee yet.
    assert (account.display_name, account.employee_id) == ("", None)
    assert account.followed and not account.blocked


async def test_blocking_the_bot_marks_the_account_unreachable(sim, bot, line):
    user_id = await line.befriend("はなこ")

    assert await sim.unfollow(user_id) == 200

    await handled(sim.last_events[-1])
    account = await LineAccount.get(user_id=user_id)
    assert (account.blocked, account.followed, account.reachable) == (True, False, False)


async def test_unblocking_the_bot_makes_the_account_reachable_again(sim, bot, line):
    user_id = await line.befriend("はなこ")
    assert await sim.unfollow(user_id) == 200
    await handled(sim.last_events[-1])

    assert await sim.follow(user_id) == 200

    await handled(sim.last_events[-1])
    account = await LineAccount.get(user_id=user_id)
    assert (account.blocked, account.followed, account.reachable) == (False, True, True)
    assert await LineAccount.filter(user_id=user_id).count() == 1


async def test_returning_linked_friend_is_welcomed_back_not_asked_to_link(sim, bot, line):
    company = await make_company({"総務部": [("E001", "山田 太郎")]})
    user_id = await quick_link(sim, company.employees["E001"])

    assert await sim.follow(user_id) == 200

    await until(lambda: sim.messages_for(user_id))
    assert line.texts(user_id) == ["おかえりなさい。安否確認・緊急連絡はこのトークに届きます。"]
    account = await LineAccount.get(user_id=user_id)
    assert account.employee_id == company.employees["E001"].id


# Chat text


async def test_unlinked_friend_chatting_is_told_text_is_not_an_answer_and_to_link(sim, bot, line):
    user_id = await line.befriend("はなこ")

    assert await sim.send_text(user_id, "無事です") == 200

    await until(lambda: len(sim.messages_for(user_id)) == 4)
    reply = line.texts(user_id)[-2]
    assert NOT_AN_ANSWER in reply and "「回答」ボタン" in reply
    assert "まだ社員情報と連携されていません" in reply
    button = sim.messages_for(user_id)[-1]["template"]["actions"][0]
    assert button["type"] == "postback" and button["data"] == "action=link"


async def test_linked_employee_chatting_is_told_to_answer_with_the_button(sim, bot, line):
    company = await make_company({"総務部": [("E001", "山田 太郎")]})
    user_id = await quick_link(sim, company.employees["E001"])

    assert await sim.send_text(user_id, "家族も無事です") == 200

    await until(lambda: sim.messages_for(user_id))
    (reply,) = line.texts(user_id)
    assert NOT_AN_ANSWER in reply and "「回答」ボタン" in reply
    assert "連携されていません" not in reply


@SQLITE_ONLY
async def test_standby_event_gets_no_reply(sim, bot, line):
    user_id = await line.befriend("はなこ")
    sent_before = len(replies(sim))
    # LINE sends no reply token in standby; one is added so that a reply would show.
    event = {
        "type": "message",
        "mode": "standby",
        "source": {"type": "user", "userId": user_id},
        "replyToken": sim.issue_reply_token(user_id),
        "message": {"type": "text", "id": "1", "quoteToken": "q", "text": "連携"},
    }

    assert await sim.send_events([event]) == 200

    assert (await handled(event)).status == InboxStatus.DONE
    assert len(replies(sim)) == sent_before
    assert not sim.link_tokens


# Each event once


@pytest.mark.parametrize("again", ["redelivery", "identical-copy", "concurrent-copy"])
async def test_event_delivered_twice_is_handled_once(sim, bot, line, again):
    user_id = await line.befriend("はなこ")
    event = {
        "type": "message",
        "webhookEventId": ids.ulid(sim.clock.now_ms()),
        "source": {"type": "user", "userId": user_id},
        "replyToken": sim.issue_reply_token(user_id),
        "message": {"type": "text", "id": ids.message_id(), "quoteToken": "q", "text": "無事です"},
    }
    twin = copy.deepcopy(event)

    if again == "concurrent-copy":
        both = await asyncio.gather(sim.send_events([event]), sim.send_events([twin]))
        assert both == [200, 200]
    else:
        assert await sim.send_events([event]) == 200
        again_sent = sim.redeliver(event) if again == "redelivery" else sim.send_events([twin])
        assert await again_sent == 200

    # The inbox handles events in arrival order: once a later one is done, so is the copy.
    assert await sim.send_text(user_id, "連携解除") == 200
    await handled(sim.last_events[-1])
    assert await InboxEvent.filter(webhook_event_id=event["webhookEventId"]).count() == 1
    assert await InboxEvent.all().count() == 3  # follow, the text, the later text
    assert len(replies(sim)) == 3
    assert sum(NOT_AN_ANSWER in text for text in line.texts(user_id)) == 1


@SQLITE_ONLY
@pytest.mark.parametrize("event_type", ["videoPlayComplete", "somethingLineAddsNextYear"])
async def test_event_type_the_bot_does_not_handle_is_stored_and_ignored(sim, bot, line, event_type):
    user_id = await line.befriend("はなこ")
    sent_before = len(sim.sent)
    event = {
        "type": event_type,
        "source": {"type": "user", "userId": user_id},
        "replyToken": sim.issue_reply_token(user_id),
        "videoPlayComplete": {"trackingId": "drill-video"},
    }

    assert await sim.send_events([event]) == 200

    row = await handled(event)
    assert (row.event_type, row.status, row.attempts) == (event_type, InboxStatus.DONE, 1)
    assert len(sim.sent) == sent_before


# Failures while handling


async def test_event_failing_at_line_is_retried_until_it_succeeds(sim, bot, line):
    user_id = await line.befriend("はなこ")
    sim.inject_fault("linkToken", 500, times=2)

    assert await sim.send_text(user_id, "連携") == 200

    row = await handled(sim.last_events[-1])
    assert (row.status, row.attempts) == (InboxStatus.DONE, 3)
    link_button = sim.messages_for(user_id)[-1]
    assert link_button["template"]["actions"][0]["uri"].startswith(
        str(bot.make_url("/link?linkToken="))
    )


async def test_event_that_keeps_failing_is_given_up_without_blocking_later_events(sim, bot, line):
    hanako = await line.befriend("はなこ")
    taro = await line.befriend("たろう")
    sim.inject_fault("linkToken", 500, times=MAX_ATTEMPTS)

    assert await sim.send_text(hanako, "連携") == 200
    failing = sim.last_events[-1]
    assert await sim.send_text(taro, "無事です") == 200

    await until(lambda: len(sim.messages_for(taro)) == 4)
    assert NOT_AN_ANSWER in line.texts(taro)[-2]
    row = await handled(failing)
    assert (row.status, row.attempts, row.last_error) == (
        InboxStatus.FAILED,
        MAX_ATTEMPTS,
        "ApiException",
    )
    assert len(sim.messages_for(hanako)) == 2  # only the greeting
    assert row.payload is None  # given up: what the user wrote is not kept either


async def test_failed_event_is_retried_after_a_pause_not_at_once(sim, bot, line, monkeypatch):
    monkeypatch.setattr(inbox, "RETRY_BASE", 120.0)  # the first retry is minutes away
    monkeypatch.setattr(inbox, "RETRY_CAP", 600.0)
    user_id = await line.befriend("はなこ")
    sim.inject_fault("linkToken", 500, times=MAX_ATTEMPTS)

    assert await sim.send_text(user_id, "連携") == 200

    event_id = sim.last_events[-1]["webhookEventId"]
    failed_once = await until(
        lambda: InboxEvent.get_or_none(webhook_event_id=event_id, last_error__isnull=False)
    )
    await until(lambda: inbox_is_idle(bot))  # the worker went to sleep after the failure
    row = await InboxEvent.get(webhook_event_id=event_id)
    assert (row.status, row.attempts, row.last_error) == (
        InboxStatus.PENDING,
        1,
        "ApiException",
    )
    assert row.retry_at is not None
    assert (row.retry_at - failed_once.received_at).total_seconds() > 100
    assert sim.faults["linkToken"].times == MAX_ATTEMPTS - 1  # LINE was asked once
    assert len(sim.messages_for(user_id)) == 2  # only the greeting


# Events that cannot be read

# Each is signed by LINE yet cannot be parsed; each carries chat text that must not be logged.
UNREADABLE = {
    "no-type": {"source": {"type": "user"}},
    "type-is-a-list": {"type": ["message"]},
    "type-is-an-object": {"type": {"message": True}},
    "message-without-a-message": {"type": "message", "source": {"type": "user"}},
    "message-that-is-a-list": {"type": "message", "source": {"type": "user"}, "message": [1]},
    "message-type-is-a-list": {
        "type": "message",
        "source": {"type": "user"},
        "message": {"type": ["text"], "id": "1", "text": "x"},
    },
    "postback-without-data": {"type": "postback", "source": {"type": "user"}, "postback": {}},
}
CHAT_TEXT = "家が倒壊しました"


async def test_unreadable_events_are_given_up_at_once_with_one_log_line_each(
    sim, bot, line, caplog
):
    caplog.set_level(logging.INFO)
    user_id = await line.befriend("はなこ")
    sent_before = len(sim.sent)
    events = []
    for shape in UNREADABLE.values():
        event = copy.deepcopy(shape)
        if isinstance(event.get("source"), dict):
            event["source"]["userId"] = user_id
        event["replyToken"] = sim.issue_reply_token(user_id)
        event["note"] = CHAT_TEXT
        events.append(event)

    assert await sim.send_events(events) == 200

    rows = [await handled(event) for event in events]
    await until(lambda: inbox_is_idle(bot))
    for event, row in zip(events, rows, strict=True):
        await row.refresh_from_db()
        stored_type = event["type"] if isinstance(event.get("type"), str) else ""
        assert (row.event_type, row.status, row.attempts, row.last_error, row.payload) == (
            stored_type,
            InboxStatus.FAILED,
            1,
            "UnreadableEvent",
            None,
        )
        lines = [r for r in caplog.records if event["webhookEventId"] in r.getMessage()]
        assert len(lines) == 1, [r.getMessage() for r in lines]
        assert lines[0].levelno == logging.WARNING and lines[0].exc_info is None
    assert CHAT_TEXT not in caplog.text
    assert "Traceback" not in caplog.text
    assert len(sim.sent) == sent_before  # nothing was answered to what could not be read
    # The inbox goes on: a readable event after them is handled as usual.
    assert await sim.send_text(user_id, "無事です") == 200
    assert (await handled(sim.last_events[-1])).status == InboxStatus.DONE


# What the inbox keeps


async def test_handled_event_keeps_no_payload_and_its_redelivery_is_not_handled_again(
    sim, bot, line
):
    user_id = await line.befriend("はなこ")
    assert await sim.send_text(user_id, CHAT_TEXT) == 200
    event = sim.last_events[-1]
    row = await handled(event)
    assert (row.status, row.event_type, row.attempts, row.payload) == (
        InboxStatus.DONE,
        "message",
        1,
        None,
    )
    assert row.processed_at is not None
    assert await InboxEvent.filter(payload__isnull=False).count() == 0  # the follow too
    replies_before = len(replies(sim))

    assert await sim.redeliver(event) == 200

    # The inbox handles events in arrival order: once a later one is done, so is the copy.
    assert await sim.send_text(user_id, "連携解除") == 200
    await handled(sim.last_events[-1])
    assert await InboxEvent.filter(webhook_event_id=event["webhookEventId"]).count() == 1
    assert len(replies(sim)) == replies_before + 1  # only the later text was answered
    assert sum(NOT_AN_ANSWER in text for text in line.texts(user_id)) == 1
    assert (await InboxEvent.get(id=row.id)).processed_at == row.processed_at


@SQLITE_ONLY
async def test_a_stopping_process_answers_503_and_stores_nothing(bot, browser_session):
    bot.app[STOPPING].set()  # what SIGTERM does first (bot/lifecycle.py)
    body = follow_body()
    status = await post_callback(
        browser_session, bot, body, {"X-Line-Signature": sign(SECRET, body)}
    )
    assert status == 503  # LINE redelivers it, to a process that runs
    assert await InboxEvent.all().count() == 0
    async with browser_session.get(bot.make_url("/readyz")) as response:
        assert response.status == 503
        assert (await response.json())["status"] == "stopping"
