"""The `Simulator`: state of one simulated channel and the user-side actions on it."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import random
from collections import Counter, defaultdict
from typing import Any

from aiohttp import web

from line_simulator import ids
from line_simulator.app import create_app
from line_simulator.channel_tokens import IssuedToken
from line_simulator.clock import Clock
from line_simulator.config import RETRY_KEY_TTL, SimulatorConfig
from line_simulator.groups import GroupStore
from line_simulator.id_tokens import ISSUER, IdTokenSigner
from line_simulator.ratelimit import TokenBucket
from line_simulator.richmenu import RichMenuStore
from line_simulator.state import (
    AcceptedRetry,
    Fault,
    FaultRates,
    LinkTokenRecord,
    ReplyTokenRecord,
    SentRequest,
    SimUser,
    TimelineEntry,
)
from line_simulator.validation import messaging_validators
from line_simulator.webhook_sender import encode_body, post_webhook

log = logging.getLogger(__name__)

FAULT_ENDPOINTS = (
    "reply", "push", "multicast", "profile", "linkToken", "verify", "certs", "token",
    "leaveGroup", "groupSummary",
)  # fmt: skip


class Simulator:
    """A local LINE platform for one Messaging API channel and its LINE Login channel."""

    def __init__(self, config: SimulatorConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or Clock()
        self.bot_user_id = ids.user_id()
        self.users: dict[str, SimUser] = {}
        self.sent: list[SentRequest] = []
        self.last_events: list[dict[str, Any]] = []
        self.link_tokens: dict[str, LinkTokenRecord] = {}
        self.reply_tokens: dict[str, ReplyTokenRecord] = {}
        self.accepted_retry_keys: dict[str, AcceptedRetry] = {}
        self.faults: dict[str, Fault] = {}
        self.issued_tokens: dict[str, IssuedToken] = {}  # channel access tokens, by token
        self.fault_rates: dict[str, FaultRates] = {}
        self.timelines: defaultdict[str, list[TimelineEntry]] = defaultdict(list)
        self.billable_deliveries = 0
        self.signer = IdTokenSigner()
        self._buckets: dict[str, TokenBucket] = {}
        self.groups = GroupStore(self)
        self.richmenus = RichMenuStore(self)
        messaging_validators()  # compile the request schemas once, at startup
        self.app: web.Application = create_app(self)

    # Users and what they received

    def add_user(
        self, display_name: str, user_id: str | None = None, *, language: str | None = None
    ) -> SimUser:
        """Create a LINE user (not yet a friend of the bot); `language` is their profile's
        (None: the profile has none)."""
        user = SimUser(user_id or ids.user_id(), display_name, language=language)
        self.users[user.user_id] = user
        return user

    def messages_for(self, user_id: str) -> list[dict[str, Any]]:
        """Return every message object delivered to the user, in order."""
        return [e.message for e in self.timelines.get(user_id, []) if e.sender == "bot"]

    def delivery_counts(self, marker: str) -> Counter[str]:
        """How many messages each user received whose JSON contains `marker` (e.g. an alert's
        `alert=12"`), to count lost and duplicated deliveries."""
        found: dict[int, bool] = {}  # a multicast's message is one object in every timeline
        counts: Counter[str] = Counter()
        for user_id, timeline in self.timelines.items():
            for entry in timeline:
                if entry.sender != "bot":
                    continue
                key = id(entry.message)
                if key not in found:
                    text = json.dumps(entry.message, ensure_ascii=False)
                    found[key] = marker in text
                if found[key]:
                    counts[user_id] += 1
        return counts

    def deliver(self, user_id: str, messages: list[dict[str, Any]]) -> bool:
        """Put messages in the user's chat if LINE would; return whether it did."""
        user = self.users.get(user_id)
        if user is None or not user.reachable:
            return False
        self.timelines[user_id].extend(TimelineEntry("bot", m) for m in messages)
        return True

    # Webhook events the user's actions cause

    async def follow(self, user_id: str) -> int:
        """Make the user a friend (add or unblock) and send a `follow` event."""
        user = self.users[user_id]
        was_blocked = user.blocked
        user.friend, user.blocked = True, False
        event = self._user_event("follow", user_id, follow={"isUnblocked": was_blocked})
        return await self.send_events([event])

    async def unfollow(self, user_id: str) -> int:
        """Make the user block the bot and send an `unfollow` event (no reply token)."""
        user = self.users[user_id]
        user.friend, user.blocked = False, True
        event = {"type": "unfollow", "source": {"type": "user", "userId": user_id}}
        return await self.send_events([event])

    async def send_text(self, user_id: str, text: str) -> int:
        """Send a text message from the user to the bot."""
        message = {
            "type": "text",
            "id": ids.message_id(),
            "quoteToken": ids.opaque_token(),
            "text": text,
        }
        self.timelines[user_id].append(TimelineEntry("user", {"type": "text", "text": text}))
        return await self.send_events([self._user_event("message", user_id, message=message)])

    async def postback(self, user_id: str, data: str, *, display_text: str | None = None) -> int:
        """Send a postback (a tapped postback button) from the user to the bot."""
        if display_text:
            entry = TimelineEntry("user", {"type": "text", "text": display_text})
            self.timelines[user_id].append(entry)
        event = self._user_event("postback", user_id, postback={"data": data})
        return await self.send_events([event])

    async def send_events(self, events: list[dict[str, Any]]) -> int:
        """Complete, sign and POST events to the bot's webhook; return the bot's HTTP status."""
        url = self.config.webhook_url
        if not url:
            raise RuntimeError("SimulatorConfig.webhook_url is not set")
        now_ms = self.clock.now_ms()
        for event in events:
            event.setdefault("webhookEventId", ids.ulid(now_ms))
            event.setdefault("timestamp", now_ms)
            event.setdefault("mode", "active")
            event.setdefault("deliveryContext", {"isRedelivery": False})
            token = event.get("replyToken")
            if token and token not in self.reply_tokens:
                source = event.get("source", {})
                group_id = source.get("groupId") if source.get("type") == "group" else None
                self.reply_tokens[token] = ReplyTokenRecord(
                    source.get("userId"), self.clock.now(), False, group_id
                )
            self.last_events.append(event)
        body = encode_body(self.bot_user_id, events)
        status = await post_webhook(
            url, self.config.channel_secret, body, time_limit=self.config.webhook_timeout
        )
        log.info("sent %d webhook event(s), bot answered %s", len(events), status)
        return status

    async def redeliver(self, event: dict[str, Any]) -> int:
        """Send an event again as a redelivery: same webhookEventId and reply token."""
        again = copy.deepcopy(event)
        again["deliveryContext"] = {"isRedelivery": True}
        return await self.send_events([again])

    def issue_reply_token(self, user_id: str | None, group_id: str | None = None) -> str:
        """Return a new reply token bound to the user (or the group, where the reply then
        lands), valid for one minute."""
        token = ids.opaque_token(24)
        self.reply_tokens[token] = ReplyTokenRecord(user_id, self.clock.now(), False, group_id)
        return token

    def _user_event(self, kind: str, user_id: str, **fields: Any) -> dict[str, Any]:
        return {
            "type": kind,
            "source": {"type": "user", "userId": user_id},
            "replyToken": self.issue_reply_token(user_id),
            **fields,
        }

    # LINE Login

    def issue_id_token(
        self, user_id: str, *, expires_in: int = 3600, audience: str | None = None
    ) -> str:
        """Return an ES256 ID token for the user, as `liff.getIDToken()` would."""
        user = self.users[user_id]
        now = int(self.clock.now())
        claims = {
            "iss": ISSUER,
            "sub": user_id,
            "aud": audience or self.config.login_channel_id,
            "exp": now + expires_in,
            "iat": now,
            "amr": ["linesso"],
            "name": user.display_name,
        }
        return self.signer.issue(claims)

    # Faults, rate limits, retry keys

    def inject_fault(
        self,
        endpoint: str,
        status: int = 500,
        times: int = 1,
        body: dict[str, Any] | None = None,
        *,
        deliver: bool = False,
        hold: asyncio.Event | None = None,
    ) -> None:
        """Make the next `times` calls answer `status`; with `deliver`, after doing the work;
        with `hold` (verify only), not before the event is set: a LINE that does not answer."""
        if endpoint not in FAULT_ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; use one of {FAULT_ENDPOINTS}")
        self.faults[endpoint] = Fault(status, times, body, deliver, hold)

    def set_fault_rates(
        self,
        endpoint: str,
        *,
        rate_429: float = 0.0,
        rate_5xx: float = 0.0,
        drop_after_accept: float = 0.0,
        seed: int | None = None,
    ) -> None:
        """From now on answer a share of the endpoint's calls LINE's rate-limit 429 or a 500
        (nothing done), and drop the connection of a share of those it accepted (delivered,
        retry key remembered, no answer); all zero switches them off. Reply, push, multicast."""
        if endpoint not in ("reply", "push", "multicast"):
            raise ValueError(f"fault rates apply to reply, push and multicast, not {endpoint!r}")
        if rate_429 + rate_5xx + drop_after_accept > 1:
            raise ValueError("the fault rates add up to more than 1")
        if not (rate_429 or rate_5xx or drop_after_accept):
            self.fault_rates.pop(endpoint, None)
            return
        self.fault_rates[endpoint] = FaultRates(
            rate_429, rate_5xx, drop_after_accept, random.Random(seed)
        )

    def roll_fault(self, endpoint: str) -> str | None:
        """This call's random fault under `set_fault_rates`: "429", "5xx", "drop" or None."""
        rates = self.fault_rates.get(endpoint)
        return rates.roll() if rates is not None else None

    def take_fault(self, endpoint: str) -> Fault | None:
        """Return the pending fault of an endpoint, counting this call against it."""
        fault = self.faults.get(endpoint)
        if fault is None:
            return None
        fault.times -= 1
        if fault.times <= 0:
            del self.faults[endpoint]
        return fault

    def allow_request(self, endpoint: str) -> bool:
        """Spend one request of the endpoint's rate limit; False means answer 429."""
        rate = self.config.rates.get(endpoint)
        if not self.config.rate_limits or rate is None:
            return True
        bucket = self._buckets.setdefault(endpoint, TokenBucket(self.clock))
        return bucket.take(rate)

    def accepted_retry(self, retry_key: str) -> AcceptedRetry | None:
        """Return the earlier accepted request with this retry key, if within 24 hours."""
        accepted = self.accepted_retry_keys.get(retry_key.lower())
        if accepted and self.clock.now() - accepted.accepted_at > RETRY_KEY_TTL:
            del self.accepted_retry_keys[retry_key.lower()]
            return None
        return accepted

    def remember_retry(
        self, retry_key: str, request_id: str, sent_messages: list[dict[str, str]] | None
    ) -> None:
        """Remember an accepted retry key for 24 hours."""
        self.accepted_retry_keys[retry_key.lower()] = AcceptedRetry(
            request_id, self.clock.now(), sent_messages
        )
