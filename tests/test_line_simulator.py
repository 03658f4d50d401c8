"""The local LINE platform answers, delivers and signs as LINE does (tested over real HTTP)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from line_simulator import Simulator, SimulatorConfig
from line_simulator.validation import profile_validator, webhook_validator

SECRET = "test-channel-secret"
ACCESS_TOKEN = "test-channel-access-token"
LOGIN_CHANNEL_ID = "1650000000"
LIFF_ID = "1650000000-AbCdEfGh"
LIFF_ENDPOINT = "http://bot.test/liff/"
AUTH = {"Authorization": f"Bearer {ACCESS_TOKEN}"}
NOBODY = "U" + "0" * 32


class FakeBot:
    """Plays the bot's webhook: checks each signature independently and records the events."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.signature_ok: list[bool] = []
        self.url = ""

    async def callback(self, request: web.Request) -> web.Response:
        raw = await request.read()
        expected = base64.b64encode(hmac.new(SECRET.encode(), raw, hashlib.sha256).digest())
        self.signature_ok.append(request.headers.get("x-line-signature", "") == expected.decode())
        self.bodies.append(json.loads(raw))
        return web.Response(text="OK")

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for body in self.bodies for event in body["events"]]


@pytest.fixture
async def fake_bot(aiohttp_server: Any) -> FakeBot:
    fake = FakeBot()
    app = web.Application()
    app.router.add_post("/callback", fake.callback)
    server = await aiohttp_server(app)
    fake.url = str(server.make_url("/callback"))
    return fake


@pytest.fixture
def sim(fake_bot: FakeBot) -> Simulator:
    config = SimulatorConfig(
        channel_secret=SECRET,
        channel_access_token=ACCESS_TOKEN,
        login_channel_id=LOGIN_CHANNEL_ID,
        webhook_url=fake_bot.url,
        liff_apps={LIFF_ID: LIFF_ENDPOINT},
    )
    simulator = Simulator(config)
    simulator.clock.freeze()
    return simulator


@pytest.fixture
async def sim_http(aiohttp_client: Any, sim: Simulator) -> TestClient:
    client = await aiohttp_client(sim.app)
    sim.config.public_base_url = str(client.make_url("")).rstrip("/")
    return client


async def a_friend(sim: Simulator, name: str = "山田 太郎") -> str:
    user = sim.add_user(name)
    await sim.follow(user.user_id)
    return user.user_id


def text(value: str = "こんにちは") -> dict[str, Any]:
    return {"type": "text", "text": value}


def flex_with_buttons() -> dict[str, Any]:
    return {
        "type": "flex",
        "altText": "安否確認: 無事ですか？",
        "contents": {
            "type": "bubble",
            "body": {
                "type": "box",
                "layout": "vertical",
                "contents": [
                    {"type": "text", "text": "無事ですか？", "wrap": True},
                    {
                        "type": "button",
                        "style": "primary",
                        "action": {"type": "postback", "label": "無事", "data": "answer=safe"},
                    },
                    {
                        "type": "button",
                        "action": {
                            "type": "uri",
                            "label": "詳しく答える",
                            "uri": f"https://liff.line.me/{LIFF_ID}?alert=3",
                        },
                    },
                ],
            },
        },
    }


async def push(
    sim_http: TestClient, to: str, messages: list[dict[str, Any]], **headers: str
) -> Any:
    return await sim_http.post(
        "/v2/bot/message/push", json={"to": to, "messages": messages}, headers={**AUTH, **headers}
    )


async def reply_token_of_latest_event(sim: Simulator) -> str:
    return sim.last_events[-1]["replyToken"]


# Messaging API: validation


async def test_unknown_message_type_is_rejected_in_line_error_shape(sim_http: TestClient) -> None:
    response = await push(sim_http, NOBODY, [{"type": "bogus"}])

    assert response.status == 400
    body = await response.json()
    assert body["message"] == "The request body has 1 error(s)"
    assert [d["property"] for d in body["details"]] == ["messages[0].type"]
    assert response.headers["x-line-request-id"]


def _with_uri_action(action: dict[str, Any]) -> dict[str, Any]:
    message = flex_with_buttons()
    message["contents"]["body"]["contents"][2]["action"] = action
    return message


def _quick_reply(count: int) -> dict[str, Any]:
    item = {"type": "action", "action": {"type": "message", "label": "はい", "text": "はい"}}
    return {**text(), "quickReply": {"items": [item] * count}}


def _big_bubble() -> dict[str, Any]:
    message = flex_with_buttons()
    filler = [{"type": "text", "text": "あ" * 1000}] * 12
    message["contents"]["body"]["contents"].extend(filler)
    return message


@pytest.mark.parametrize(
    ("messages", "bad_property"),
    [
        pytest.param([{"type": "text"}], "messages[0].text", id="text-without-text"),
        pytest.param([text("あ" * 5001)], "messages[0].text", id="text-over-5000"),
        pytest.param(
            [_with_uri_action({"type": "uri", "label": "開く"})],
            "messages[0].contents.body.contents[2].action.uri",
            id="uri-action-without-uri",
        ),
        pytest.param(
            [
                _with_uri_action(
                    {"type": "uri", "label": "開く", "uri": "https://x.test/" + "a" * 990}
                )
            ],
            "messages[0].contents.body.contents[2].action.uri",
            id="uri-over-1000",
        ),
        pytest.param(
            [_with_uri_action({"type": "postback", "label": "無事", "data": "d" * 301})],
            "messages[0].contents.body.contents[2].action.data",
            id="postback-data-over-300",
        ),
        pytest.param(
            [{**flex_with_buttons(), "altText": "あ" * 1501}],
            "messages[0].altText",
            id="alt-text-over-1500",
        ),
        pytest.param([_quick_reply(14)], "messages[0].quickReply.items", id="quick-reply-over-13"),
        pytest.param([text()] * 6, "messages", id="six-messages"),
        pytest.param(
            [_with_uri_action({"type": "teleport", "label": "x"})],
            "messages[0].contents.body.contents[2].action.type",
            id="unknown-action-type",
        ),
        pytest.param([_big_bubble()], "messages[0]", id="bubble-over-30kb"),
    ],
)
async def test_invalid_messages_are_rejected_naming_the_property(
    sim_http: TestClient, sim: Simulator, messages: list[dict[str, Any]], bad_property: str
) -> None:
    user_id = await a_friend(sim)

    response = await push(sim_http, user_id, messages)

    assert response.status == 400
    body = await response.json()
    assert body["message"].startswith("The request body has")
    assert bad_property in [d["property"] for d in body["details"]]
    assert sim.messages_for(user_id) == []


async def test_valid_text_push_is_delivered_and_recorded(
    sim_http: TestClient, sim: Simulator
) -> None:
    user_id = await a_friend(sim)

    response = await push(sim_http, user_id, [text("訓練です")])

    assert response.status == 200
    sent_messages = (await response.json())["sentMessages"]
    assert len(sent_messages) == 1 and sent_messages[0]["id"] and sent_messages[0]["quoteToken"]
    assert sim.messages_for(user_id) == [text("訓練です")]
    record = sim.sent[-1]
    assert (record.kind, record.to, record.status) == ("push", [user_id], 200)
    assert record.request_id == response.headers["x-line-request-id"]


async def test_valid_flex_multicast_reaches_every_friend(
    sim_http: TestClient, sim: Simulator
) -> None:
    friends = [await a_friend(sim, f"社員{i}") for i in range(3)]

    response = await sim_http.post(
        "/v2/bot/message/multicast",
        json={"to": friends, "messages": [flex_with_buttons()]},
        headers=AUTH,
    )

    assert response.status == 200
    assert await response.json() == {}
    assert all(sim.messages_for(u) == [flex_with_buttons()] for u in friends)


@pytest.mark.parametrize(
    "to",
    [
        pytest.param(["U" + f"{i:032x}" for i in range(501)], id="501-recipients"),
        pytest.param([], id="no-recipients"),
        pytest.param(["C" + "a" * 32], id="group-id"),
        pytest.param(["not-a-user-id"], id="malformed-id"),
    ],
)
async def test_multicast_with_bad_recipients_is_rejected(
    sim_http: TestClient, to: list[str]
) -> None:
    response = await sim_http.post(
        "/v2/bot/message/multicast", json={"to": to, "messages": [text()]}, headers=AUTH
    )

    assert response.status == 400
    assert (await response.json())["details"][0]["property"].startswith("to")


async def test_unparseable_json_is_rejected(sim_http: TestClient) -> None:
    response = await sim_http.post(
        "/v2/bot/message/push",
        data=b"{not json",
        headers={**AUTH, "Content-Type": "application/json"},
    )

    assert response.status == 400
    assert "JSON" in (await response.json())["message"]


async def test_body_over_2mb_is_refused_with_413(sim_http: TestClient) -> None:
    body = json.dumps({"to": NOBODY, "messages": [text("a" * (2 * 1024 * 1024))]}).encode()

    response = await sim_http.post(
        "/v2/bot/message/push",
        data=io.BytesIO(body),
        headers={**AUTH, "Content-Type": "application/json"},
    )

    assert response.status == 413
    assert "message" in await response.json()


# Messaging API: authentication and routing


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"Authorization": "Bearer wrong"}, id="wrong-token"),
        pytest.param({"Authorization": ACCESS_TOKEN}, id="not-bearer"),
    ],
)
async def test_bad_bearer_token_is_refused_with_401(
    sim_http: TestClient, headers: dict[str, str]
) -> None:
    response = await sim_http.post(
        "/v2/bot/message/push", json={"to": NOBODY, "messages": [text()]}, headers=headers
    )

    assert response.status == 401
    assert (await response.json())["message"].startswith("Authentication failed.")
    assert response.headers["x-line-request-id"]


async def test_unknown_api_path_answers_404_in_line_shape(sim_http: TestClient) -> None:
    response = await sim_http.get("/v2/bot/insight/followers", headers=AUTH)

    assert response.status == 404
    assert await response.json() == {"message": "Not found"}
    assert response.headers["x-line-request-id"]


# Retry keys


async def test_reused_retry_key_answers_409_and_delivers_once(
    sim_http: TestClient, sim: Simulator
) -> None:
    user_id = await a_friend(sim)
    key = str(uuid.uuid4())
    first = await push(sim_http, user_id, [text()], **{"X-Line-Retry-Key": key})

    again = await push(sim_http, user_id, [text()], **{"X-Line-Retry-Key": key})

    assert first.status == 200
    assert again.status == 409
    assert (await again.json())["message"] == "The retry key is already accepted"
    assert again.headers["x-line-accepted-request-id"] == first.headers["x-line-request-id"]
    assert (await again.json())["sentMessages"] == (await first.json())["sentMessages"]
    assert sim.messages_for(user_id) == [text()]


async def test_reused_retry_key_on_multicast_answers_409_and_delivers_once(
    sim_http: TestClient, sim: Simulator
) -> None:
    user_id = await a_friend(sim)
    request = {"to": [user_id], "messages": [text()]}
    headers = {**AUTH, "X-Line-Retry-Key": str(uuid.uuid4())}
    first = await sim_http.post("/v2/bot/message/multicast", json=request, headers=headers)

    again = await sim_http.post("/v2/bot/message/multicast", json=request, headers=headers)

    assert (first.status, again.status) == (200, 409)
    assert again.headers["x-line-accepted-request-id"] == first.headers["x-line-request-id"]
    assert sim.messages_for(user_id) == [text()]


async def test_retry_key_is_forgotten_after_24_hours(sim_http: TestClient, sim: Simulator) -> None:
    user_id = await a_friend(sim)
    key = str(uuid.uuid4())
    await push(sim_http, user_id, [text()], **{"X-Line-Retry-Key": key})
    sim.clock.advance(24 * 3600 + 1)

    later = await push(sim_http, user_id, [text()], **{"X-Line-Retry-Key": key})

    assert later.status == 200


async def test_retry_key_that_is_not_a_uuid_is_rejected(sim_http: TestClient) -> None:
    response = await push(sim_http, NOBODY, [text()], **{"X-Line-Retry-Key": "attempt-1"})

    assert response.status == 400
    assert "X-Line-Retry-Key" in (await response.json())["message"]


async def test_retry_key_on_reply_is_rejected(sim_http: TestClient, sim: Simulator) -> None:
    user_id = await a_friend(sim)
    token = await reply_token_of_latest_event(sim)

    response = await sim_http.post(
        "/v2/bot/message/reply",
        json={"replyToken": token, "messages": [text()]},
        headers={**AUTH, "X-Line-Retry-Key": str(uuid.uuid4())},
    )

    assert response.status == 400
    assert sim.messages_for(user_id) == []


# Reply tokens


async def reply(sim_http: TestClient, token: str, messages: list[dict[str, Any]]) -> Any:
    return await sim_http.post(
        "/v2/bot/message/reply", json={"replyToken": token, "messages": messages}, headers=AUTH
    )


async def test_reply_reaches_the_user_whose_event_carried_the_token(
    sim_http: TestClient, sim: Simulator
) -> None:
    user_id = await a_friend(sim)
    await sim.send_text(user_id, "連携")

    response = await reply(sim_http, await reply_token_of_latest_event(sim), [text("連携します")])

    assert response.status == 200
    assert len((await response.json())["sentMessages"]) == 1
    assert sim.messages_for(user_id) == [text("連携します")]
    assert sim.sent[-1].to == [user_id]


async def test_reply_token_can_be_used_only_once(sim_http: TestClient, sim: Simulator) -> None:
    user_id = await a_friend(sim)
    token = await reply_token_of_latest_event(sim)
    await reply(sim_http, token, [text("一回目")])

    again = await reply(sim_http, token, [text("二回目")])

    assert again.status == 400
    assert await again.json() == {"message": "Invalid reply token"}
    assert sim.messages_for(user_id) == [text("一回目")]


async def test_reply_token_expires_after_a_minute(sim_http: TestClient, sim: Simulator) -> None:
    user_id = await a_friend(sim)
    sim.clock.advance(61)

    response = await reply(sim_http, await reply_token_of_latest_event(sim), [text()])

    assert response.status == 400
    assert sim.messages_for(user_id) == []


async def test_unknown_reply_token_is_rejected(sim_http: TestClient) -> None:
    response = await reply(sim_http, "made-up-token", [text()])

    assert response.status == 400
    assert await response.json() == {"message": "Invalid reply token"}


# Delivery to people who cannot receive


async def test_push_to_non_friend_answers_200_but_is_not_delivered(
    sim_http: TestClient, sim: Simulator
) -> None:
    stranger = sim.add_user("未登録 花子").user_id

    response = await push(sim_http, stranger, [text()])

    assert response.status == 200
    assert sim.messages_for(stranger) == []


async def test_multicast_skips_users_who_blocked_and_bills_only_deliveries(
    sim_http: TestClient, sim: Simulator
) -> None:
    friend = await a_friend(sim, "友だち")
    blocker = await a_friend(sim, "ブロックした人")
    await sim.unfollow(blocker)

    response = await sim_http.post(
        "/v2/bot/message/multicast",
        json={"to": [friend, blocker, NOBODY], "messages": [text()]},
        headers=AUTH,
    )
    usage = await sim_http.get("/v2/bot/message/quota/consumption", headers=AUTH)

    assert response.status == 200
    assert sim.messages_for(friend) == [text()]
    assert sim.messages_for(blocker) == []
    assert await usage.json() == {"totalUsage": 1}


async def test_quota_is_unlimited(sim_http: TestClient) -> None:
    response = await sim_http.get("/v2/bot/message/quota", headers=AUTH)

    assert await response.json() == {"type": "none"}


async def test_profile_is_available_for_friends_only(sim_http: TestClient, sim: Simulator) -> None:
    friend = await a_friend(sim, "山田 太郎")
    stranger = sim.add_user("未登録 花子").user_id

    found = await sim_http.get(f"/v2/bot/profile/{friend}", headers=AUTH)
    missing = await sim_http.get(f"/v2/bot/profile/{stranger}", headers=AUTH)

    assert await found.json() == {"userId": friend, "displayName": "山田 太郎"}
    assert missing.status == 404
    assert await missing.json() == {"message": "Not found"}


async def test_profile_carries_the_language_set_for_the_user(
    sim_http: TestClient, sim: Simulator
) -> None:
    user = sim.add_user("Jane Smith", language="en")
    await sim.follow(user.user_id)

    response = await sim_http.get(f"/v2/bot/profile/{user.user_id}", headers=AUTH)

    profile = await response.json()
    assert profile == {"userId": user.user_id, "displayName": "Jane Smith", "language": "en"}
    # The shape LINE documents (UserProfileResponse in LINE's OpenAPI file).
    assert not list(profile_validator().iter_errors(profile))


# Webhooks


async def test_webhook_is_signed_with_hmac_of_the_channel_secret(
    sim: Simulator, fake_bot: FakeBot
) -> None:
    from linebot.v3 import WebhookParser
    from linebot.v3.webhooks import MessageEvent

    user_id = await a_friend(sim)
    await sim.send_text(user_id, "連携")

    assert fake_bot.signature_ok == [True, True]
    raw = json.dumps(fake_bot.bodies[-1])
    signature = base64.b64encode(hmac.new(SECRET.encode(), raw.encode(), hashlib.sha256).digest())
    events = WebhookParser(SECRET).parse(raw, signature.decode())
    assert isinstance(events[0], MessageEvent)
    assert events[0].message.text == "連携"


async def test_webhook_bodies_match_lines_webhook_schema(sim: Simulator, fake_bot: FakeBot) -> None:
    user_id = await a_friend(sim)
    await sim.send_text(user_id, "こんにちは")
    await sim.postback(user_id, "action=link")
    await sim.unfollow(user_id)

    for body in fake_bot.bodies:
        assert list(webhook_validator().iter_errors(body)) == []
        assert body["destination"] == sim.bot_user_id


async def test_follow_carries_a_reply_token_and_unfollow_does_not(
    sim: Simulator, fake_bot: FakeBot
) -> None:
    user_id = await a_friend(sim)
    await sim.unfollow(user_id)

    follow, unfollow = fake_bot.events
    assert follow["type"] == "follow" and follow["replyToken"]
    assert unfollow["type"] == "unfollow" and "replyToken" not in unfollow
    assert len(follow["webhookEventId"]) == 26
    assert follow["deliveryContext"] == {"isRedelivery": False}
    assert not sim.users[user_id].friend


async def test_redelivery_keeps_the_event_id_and_says_so(sim: Simulator, fake_bot: FakeBot) -> None:
    user_id = await a_friend(sim)
    await sim.postback(user_id, "answer=safe")

    await sim.redeliver(sim.last_events[-1])

    original, redelivered = fake_bot.events[-2:]
    assert redelivered["webhookEventId"] == original["webhookEventId"]
    assert redelivered["replyToken"] == original["replyToken"]
    assert redelivered["deliveryContext"] == {"isRedelivery": True}
    assert original["postback"] == {"data": "answer=safe"}


# Account linking


async def issue_link_token(sim_http: TestClient, user_id: str) -> str:
    response = await sim_http.post(f"/v2/bot/user/{user_id}/linkToken", headers=AUTH)
    assert response.status == 200
    return (await response.json())["linkToken"]


async def test_link_token_links_once_then_fails(
    sim_http: TestClient, sim: Simulator, fake_bot: FakeBot
) -> None:
    user_id = await a_friend(sim)
    link_token = await issue_link_token(sim_http, user_id)
    dialog = f"/dialog/bot/accountLink?linkToken={link_token}&nonce=nonce-0123456789abcdef"

    first = await sim_http.get(dialog)
    linked = fake_bot.events[-1]
    second = await sim_http.get(dialog)
    failed = fake_bot.events[-1]

    assert first.status == 200
    assert "アカウント連携が完了しました" in await first.text()
    assert linked["link"] == {"result": "ok", "nonce": "nonce-0123456789abcdef"}
    assert linked["source"] == {"type": "user", "userId": user_id} and linked["replyToken"]
    assert second.status == 400
    assert failed["link"] == {"result": "failed", "nonce": "nonce-0123456789abcdef"}
    assert "source" not in failed and "replyToken" not in failed
    assert sim.link_tokens[link_token].used


async def test_link_token_expires_after_ten_minutes(
    sim_http: TestClient, sim: Simulator, fake_bot: FakeBot
) -> None:
    user_id = await a_friend(sim)
    link_token = await issue_link_token(sim_http, user_id)
    sim.clock.advance(601)

    response = await sim_http.get(
        f"/dialog/bot/accountLink?linkToken={link_token}&nonce=abcdefghijk"
    )

    assert response.status == 400
    assert fake_bot.events[-1]["link"]["result"] == "failed"


async def test_account_link_dialog_without_nonce_is_refused(sim_http: TestClient) -> None:
    response = await sim_http.get("/dialog/bot/accountLink?linkToken=abc")

    assert response.status == 400


async def test_link_token_for_unknown_user_is_refused(sim_http: TestClient) -> None:
    response = await sim_http.post(f"/v2/bot/user/{NOBODY}/linkToken", headers=AUTH)

    assert response.status == 400
    assert "message" in await response.json()


# LINE Login: ID tokens


async def verify(sim_http: TestClient, **form: str) -> Any:
    return await sim_http.post("/oauth2/v2.1/verify", data=form)


async def test_verify_returns_the_claims_of_a_fresh_token(
    sim_http: TestClient, sim: Simulator
) -> None:
    user_id = sim.add_user("山田 太郎").user_id

    response = await verify(
        sim_http, id_token=sim.issue_id_token(user_id), client_id=LOGIN_CHANNEL_ID
    )

    assert response.status == 200
    claims = await response.json()
    assert claims["iss"] == "https://access.line.me"
    assert (claims["sub"], claims["aud"], claims["name"]) == (
        user_id,
        LOGIN_CHANNEL_ID,
        "山田 太郎",
    )
    assert claims["exp"] - claims["iat"] == 3600


@pytest.mark.parametrize(
    ("make_form", "description"),
    [
        pytest.param(
            lambda sim, uid: {"id_token": sim.issue_id_token(uid, expires_in=-1)},
            "IdToken expired.",
            id="expired",
        ),
        pytest.param(
            lambda sim, uid: {"id_token": sim.issue_id_token(uid, audience="999")},
            "Invalid IdToken Audience.",
            id="other-channel",
        ),
        pytest.param(lambda sim, uid: {"id_token": "garbage"}, "Invalid IdToken.", id="garbage"),
        pytest.param(
            lambda sim, uid: {"id_token": sim.issue_id_token(uid)[:-4] + "AAAA"},
            "Invalid IdToken.",
            id="bad-signature",
        ),
    ],
)
async def test_verify_refuses_bad_tokens(
    sim_http: TestClient, sim: Simulator, make_form: Any, description: str
) -> None:
    user_id = sim.add_user("山田 太郎").user_id

    response = await verify(sim_http, client_id=LOGIN_CHANNEL_ID, **make_form(sim, user_id))

    assert response.status == 400
    assert await response.json() == {"error": "invalid_request", "error_description": description}


async def test_verify_refuses_a_token_that_expired_while_waiting(
    sim_http: TestClient, sim: Simulator
) -> None:
    token = sim.issue_id_token(sim.add_user("山田 太郎").user_id)
    sim.clock.advance(3601)

    response = await verify(sim_http, id_token=token, client_id=LOGIN_CHANNEL_ID)

    assert (await response.json())["error_description"] == "IdToken expired."


@pytest.mark.parametrize("missing", ["id_token", "client_id"])
async def test_verify_requires_both_parameters(
    sim_http: TestClient, sim: Simulator, missing: str
) -> None:
    form = {"id_token": sim.issue_id_token(sim.add_user("a").user_id), "client_id": "1"}
    del form[missing]

    response = await verify(sim_http, **form)

    assert response.status == 400
    assert (await response.json())["error"] == "invalid_request"


async def test_certs_publish_the_key_that_signs_id_tokens(
    sim_http: TestClient, sim: Simulator
) -> None:
    user_id = sim.add_user("山田 太郎").user_id
    token = sim.issue_id_token(user_id)

    jwks = await (await sim_http.get("/oauth2/v2.1/certs")).json()

    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
    claims = jwt.decode(
        token, key, algorithms=["ES256"], audience=LOGIN_CHANNEL_ID, options={"verify_iat": False}
    )
    assert claims["sub"] == user_id


# LIFF host


@pytest.mark.parametrize(
    ("path", "expected_state"),
    [
        pytest.param(f"/liff/{LIFF_ID}?alert=3", "?alert=3", id="query-only"),
        pytest.param(f"/liff/{LIFF_ID}/answers/7?from=chat", "/answers/7?from=chat", id="path"),
        pytest.param(f"/liff/{LIFF_ID}", None, id="bare"),
    ],
)
async def test_liff_host_redirects_to_endpoint_with_state_and_token(
    sim_http: TestClient, sim: Simulator, path: str, expected_state: str | None
) -> None:
    user_id = sim.add_user("山田 太郎").user_id
    sim_http.session.cookie_jar.update_cookies({"sim_user": user_id})

    response = await sim_http.get(path, allow_redirects=False)

    assert response.status == 302
    target = urlsplit(response.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == LIFF_ENDPOINT
    assert parse_qs(target.query).get("liff.state") == (
        [expected_state] if expected_state else None
    )
    fragment_name, token = target.fragment.split("=", 1)
    assert fragment_name == "sim_id_token"
    verified = await verify(sim_http, id_token=token, client_id=LOGIN_CHANNEL_ID)
    assert (await verified.json())["sub"] == user_id


async def test_liff_host_asks_who_is_opening_when_no_user_is_chosen(
    sim_http: TestClient, sim: Simulator
) -> None:
    sim.add_user("山田 太郎")

    response = await sim_http.get(f"/liff/{LIFF_ID}?alert=3", allow_redirects=False)

    page = await response.text()
    assert response.status == 200
    assert "山田 太郎" in page and "/_sim/open?user=U" in page


async def test_choosing_a_user_sets_the_cookie_and_opens_the_app(
    sim_http: TestClient, sim: Simulator
) -> None:
    user_id = sim.add_user("山田 太郎").user_id
    here = f"/liff/{LIFF_ID}?alert=3"

    chosen = await sim_http.get(
        "/_sim/open", params={"user": user_id, "url": here}, allow_redirects=False
    )
    opened = await sim_http.get(chosen.headers["Location"], allow_redirects=False)

    assert chosen.status == 302 and chosen.headers["Location"] == here
    assert opened.status == 302
    assert opened.headers["Location"].startswith(LIFF_ENDPOINT + "?liff.state=%3Falert%3D3#")


async def test_open_refuses_urls_outside_the_simulator(
    sim_http: TestClient, sim: Simulator
) -> None:
    user_id = sim.add_user("山田 太郎").user_id

    response = await sim_http.get(
        "/_sim/open", params={"user": user_id, "url": "https://evil.test/"}, allow_redirects=False
    )

    assert response.status == 400


async def test_unknown_liff_app_is_404(sim_http: TestClient) -> None:
    response = await sim_http.get("/liff/0000000000-unknown")

    assert response.status == 404


async def test_liff_sdk_stand_in_is_served_as_javascript(sim_http: TestClient) -> None:
    response = await sim_http.get("/liff/sdk.js")

    assert response.status == 200
    assert response.content_type == "application/javascript"
    assert "window.liff" in await response.text()


# Faults and rate limits


async def test_injected_fault_answers_once_then_the_endpoint_recovers(
    sim_http: TestClient, sim: Simulator
) -> None:
    user_id = await a_friend(sim)
    sim.inject_fault("multicast", status=500, times=1)
    request = {"to": [user_id], "messages": [text()]}

    failed = await sim_http.post("/v2/bot/message/multicast", json=request, headers=AUTH)
    retried = await sim_http.post("/v2/bot/message/multicast", json=request, headers=AUTH)

    assert failed.status == 500
    assert "message" in await failed.json()
    assert retried.status == 200
    assert sim.messages_for(user_id) == [text()]
    assert [r.status for r in sim.sent if r.kind == "multicast"] == [500, 200]


async def test_lost_answer_then_retry_with_same_key_is_409_and_delivered_once(
    sim_http: TestClient, sim: Simulator
) -> None:
    user_id = await a_friend(sim)
    sim.inject_fault("push", status=503, deliver=True)
    key = {"X-Line-Retry-Key": str(uuid.uuid4())}

    lost = await push(sim_http, user_id, [text()], **key)
    retried = await push(sim_http, user_id, [text()], **key)

    assert (lost.status, retried.status) == (503, 409)
    assert sim.messages_for(user_id) == [text()]


async def test_injected_fault_uses_the_given_body(sim_http: TestClient, sim: Simulator) -> None:
    sim.inject_fault(
        "profile", status=429, body={"message": "You have reached your monthly limit."}
    )

    response = await sim_http.get(f"/v2/bot/profile/{NOBODY}", headers=AUTH)

    assert response.status == 429
    assert await response.json() == {"message": "You have reached your monthly limit."}


async def test_push_past_the_rate_limit_answers_429_until_the_bucket_refills(
    sim_http: TestClient, sim: Simulator
) -> None:
    user_id = await a_friend(sim)
    sim.config.rates["push"] = 3
    statuses = [(await push(sim_http, user_id, [text()])).status for _ in range(4)]
    limited = await push(sim_http, user_id, [text()])
    sim.clock.advance(1)

    refilled = await push(sim_http, user_id, [text()])

    assert statuses == [200, 200, 200, 429]
    assert await limited.json() == {
        "message": "The API rate limit has been exceeded. Try again later."
    }
    assert refilled.status == 200


# Compatibility with the product's client


async def test_line_bot_sdk_client_pushes_and_sees_409_on_retry(
    sim_http: TestClient, sim: Simulator
) -> None:
    from linebot.v3.messaging import (
        ApiException,
        AsyncApiClient,
        AsyncMessagingApi,
        Configuration,
        PushMessageRequest,
        TextMessage,
    )

    user_id = await a_friend(sim)
    configuration = Configuration(host=sim.config.public_base_url, access_token=ACCESS_TOKEN)
    request = PushMessageRequest(to=user_id, messages=[TextMessage(text="訓練です")])
    key = str(uuid.uuid4())
    async with AsyncApiClient(configuration) as client:
        api = AsyncMessagingApi(client)
        sent = await api.push_message(request, x_line_retry_key=key)
        with pytest.raises(ApiException) as retried:
            await api.push_message(request, x_line_retry_key=key)

    assert len(sent.sent_messages) == 1
    assert retried.value.status == 409
    assert retried.value.headers["x-line-accepted-request-id"] == sim.sent[0].request_id
    assert sim.messages_for(user_id) == [{"type": "text", "text": "訓練です"}]


# Chat pages


async def test_chat_page_shows_flex_alt_text_and_opens_liff_as_the_user(
    sim_http: TestClient, sim: Simulator
) -> None:
    user_id = await a_friend(sim)
    await push(sim_http, user_id, [flex_with_buttons()])

    page = await (await sim_http.get(f"/_sim/chat/{user_id}")).text()

    assert "安否確認: 無事ですか？" in page
    assert f"/_sim/open?user={user_id}&amp;url=" in page
    assert 'name="data" value="answer=safe"' in page


async def test_tapping_a_postback_button_on_the_chat_page_sends_a_postback(
    sim_http: TestClient, sim: Simulator, fake_bot: FakeBot
) -> None:
    user_id = await a_friend(sim)

    response = await sim_http.post(
        f"/_sim/chat/{user_id}/postback", data={"data": "answer=safe"}, allow_redirects=False
    )

    assert response.status == 303
    assert fake_bot.events[-1]["type"] == "postback"
    assert fake_bot.events[-1]["postback"] == {"data": "answer=safe"}


async def test_index_lists_users_with_friend_status(sim_http: TestClient, sim: Simulator) -> None:
    await a_friend(sim, "山田 太郎")
    sim.add_user("佐藤 花子")

    page = await (await sim_http.get("/")).text()

    assert "山田 太郎" in page and "佐藤 花子" in page


async def test_send_events_fills_missing_fields_and_keeps_given_ones(
    sim: Simulator, fake_bot: FakeBot
) -> None:
    user_id = sim.add_user("山田 太郎").user_id
    event = {
        "type": "message",
        "webhookEventId": "01HZZZZZZZZZZZZZZZZZZZZZZZ",
        "source": {"type": "user", "userId": user_id},
        "message": {"type": "text", "id": "1", "quoteToken": "q", "text": "hi"},
    }

    status = await sim.send_events([event])

    sent = fake_bot.events[-1]
    assert status == 200
    assert sent["webhookEventId"] == "01HZZZZZZZZZZZZZZZZZZZZZZZ"
    assert sent["mode"] == "active" and sent["deliveryContext"] == {"isRedelivery": False}
    assert isinstance(sent["timestamp"], int)
    assert sim.last_events[-1] is event
