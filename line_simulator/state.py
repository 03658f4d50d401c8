"""Records the simulator keeps: users, what the bot sent, and single-use tokens."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any, NamedTuple


@dataclass
class SimUser:
    """A LINE user of the simulated channel."""

    user_id: str
    display_name: str
    friend: bool = False
    blocked: bool = False
    # The profile's language (BCP 47); None: not in the profile, as before the user consents
    # to LINE's privacy policy.
    language: str | None = None

    @property
    def reachable(self) -> bool:
        """Tell whether messages sent to this user are delivered."""
        return self.friend and not self.blocked


@dataclass
class SentRequest:
    """One call the bot made to reply, push or multicast, with the status LINE answered."""

    kind: str
    to: list[str]
    messages: list[dict[str, Any]]
    retry_key: str | None
    request_id: str
    status: int
    dropped: bool = False  # done, then the connection was dropped before the answer


class LinkTokenRecord(NamedTuple):
    """An issued account-link token: whose, when (epoch seconds), and whether it was used."""

    user_id: str
    issued_at: float
    used: bool


class ReplyTokenRecord(NamedTuple):
    """A reply token the simulator put in a webhook event (a group's event: its group, where
    the reply lands)."""

    user_id: str | None
    issued_at: float
    used: bool
    group_id: str | None = None


@dataclass
class AcceptedRetry:
    """A retry key LINE accepted, remembered for 24 hours."""

    request_id: str
    accepted_at: float
    sent_messages: list[dict[str, str]] | None


@dataclass
class Fault:
    """A canned answer for the next `times` calls to one endpoint."""

    status: int
    times: int
    body: dict[str, Any] | None
    deliver: bool = False
    hold: asyncio.Event | None = None  # verify: answer only once this is set


@dataclass
class FaultRates:
    """Random faults of one endpoint, each call on its own: the share answered LINE's
    rate-limit 429 or a 500 before any work, and the share done (delivered, retry key
    remembered) whose connection is then dropped before the answer."""

    rate_429: float = 0.0
    rate_5xx: float = 0.0
    drop_after_accept: float = 0.0
    rng: random.Random = field(default_factory=random.Random)

    def roll(self) -> str | None:
        """Draw this call's fault: "429", "5xx", "drop" or None."""
        draw = self.rng.random()
        for name, share in (
            ("429", self.rate_429),
            ("5xx", self.rate_5xx),
            ("drop", self.drop_after_accept),
        ):
            if draw < share:
                return name
            draw -= share
        return None


@dataclass
class TimelineEntry:
    """One line of a user's chat as the chat page shows it: who spoke and what."""

    sender: str  # "bot" or "user"
    message: dict[str, Any] = field(default_factory=dict)


@dataclass
class GroupEntry(TimelineEntry):
    """One line of a group's chat: who spoke (`user_id` of a member, None for the bot)."""

    user_id: str | None = None


@dataclass
class SimGroup:
    """A LINE group: its members (user IDs), whether the bot is in it, and its chat."""

    group_id: str
    name: str
    member_ids: list[str] = field(default_factory=list)
    bot_member: bool = False
    timeline: list[GroupEntry] = field(default_factory=list)
