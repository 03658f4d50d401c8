"""ID tokens already verified are remembered until they expire, so a phone answering again
does not make us check it again; a refused token is never remembered, and unlinking takes
effect at once. (How a token is first verified, with LINE's keys or its verify endpoint:
tests/test_id_token_keys.py.)

Whether LINE was asked is read from the local LINE platform: a fault injected on its verify
endpoint is used up by the first call that reaches it (and turns that answer into a 503)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from domain.actors import Actor
from domain.alerts import start_alert
from domain.linking import unlink
from models import Answer, LineAccount, Template
from tests.conftest import make_company, quick_link
from web.id_token_cache import MAX_SECONDS, VerifiedTokens, token_key
from web.keys import HTTP, ID_TOKENS
from web.line_keys import LineKeys

GOOD = {"本人": "無事", "家族": "全員無事", "家屋": "被害なし", "出社": "可能"}


@dataclass
class Drill:
    alert_id: int
    user_id: str
    yamada_id: int
    sato_id: int


class Clock:
    """A wall clock the test moves."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def drill(sim, bot) -> Drill:
    company = await make_company({"総務部": [("E1", "山田 太郎"), ("E2", "佐藤 花子")]})
    user_id = await quick_link(sim, company.employees["E1"])
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    return Drill(started.alert.id, user_id, company.employees["E1"].id, company.employees["E2"].id)


@pytest.fixture
def answer(browser_session, bot, drill):
    """POST an answer as the LIFF page does; return status and body."""

    async def run(token: str, message: str = "") -> tuple[int, dict]:
        async with browser_session.post(
            bot.make_url(f"/liff/api/alerts/{drill.alert_id}/answer"),
            headers={"Authorization": f"Bearer {token}"},
            json={"choices": GOOD, "message": message},
        ) as response:
            return response.status, await response.json()

    return run


def line_is_down(sim) -> None:
    """The next call to LINE's verify endpoint fails (and is used up by it)."""
    sim.inject_fault("verify", 500)


def line_was_asked(sim) -> bool:
    return "verify" not in sim.faults


async def test_a_phone_answering_again_with_its_token_is_not_verified_by_line_again(
    sim, drill, answer
):
    token = sim.issue_id_token(drill.user_id)
    assert (await answer(token, "第一報"))[0] == 200
    line_is_down(sim)
    status, view = await answer(token, "第二報")
    assert status == 200 and view["answer"]["revision"] == 2
    assert not line_was_asked(sim)


async def test_opening_the_form_verifies_the_token_the_answer_then_uses(
    sim, drill, answer, browser_session, bot
):
    token = sim.issue_id_token(drill.user_id)
    async with browser_session.get(
        bot.make_url(f"/liff/api/alerts/{drill.alert_id}"),
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        assert response.status == 200
    line_is_down(sim)
    assert (await answer(token))[0] == 200
    assert not line_was_asked(sim)


async def test_a_new_token_of_the_same_user_is_verified_afresh(sim, bot, drill, answer):
    assert (await answer(sim.issue_id_token(drill.user_id)))[0] == 200
    assert len(bot.app[ID_TOKENS].verified) == 1
    assert (await answer(sim.issue_id_token(drill.user_id)))[0] == 200
    assert len(bot.app[ID_TOKENS].verified) == 2


@pytest.mark.parametrize("kind", ["other-channel", "tampered"])
async def test_a_token_line_refuses_is_refused_every_time_and_never_remembered(
    sim, bot, drill, answer, kind
):
    token = {
        "other-channel": sim.issue_id_token(drill.user_id, audience="9999999999"),
        "tampered": sim.issue_id_token(drill.user_id)[:-4] + "AAAA",
    }[kind]
    for _ in range(2):
        status, body = await answer(token)
        assert status == 401 and body["error"] == "invalid_id_token"
    assert len(bot.app[ID_TOKENS].verified) == 0
    line_is_down(sim)  # a third try is checked again, with LINE's keys, and refused again
    assert (await answer(token))[0] == 401
    assert not await Answer.exists(alert_id=drill.alert_id)


async def test_a_token_line_could_not_verify_is_asked_about_again(sim, bot, drill, answer):
    token = sim.issue_id_token(drill.user_id)
    sim.inject_fault("certs", 500)  # LINE's keys cannot be fetched: its verify endpoint decides
    line_is_down(sim)
    assert (await answer(token))[0] == 503
    assert len(bot.app[ID_TOKENS].verified) == 0
    assert (await answer(token))[0] == 200


async def test_a_remembered_token_is_checked_again_shortly_before_it_expires(
    sim, bot, drill, answer
):
    clock = Clock(sim.clock.now())
    bot.app[ID_TOKENS].verified = VerifiedTokens(clock=clock)
    token = sim.issue_id_token(drill.user_id, expires_in=3600)
    assert (await answer(token))[0] == 200
    clock.now += 3600 - 60  # our clock and LINE's may differ: trust it no closer to `exp`
    assert bot.app[ID_TOKENS].verified.user_id(token) is None
    sim.inject_fault("certs", 500)
    bot.app[ID_TOKENS].keys = LineKeys(bot.app[HTTP], sim.config.public_base_url)
    line_is_down(sim)
    assert (await answer(token))[0] == 503
    assert line_was_asked(sim)


async def test_an_expired_token_is_refused_though_it_was_remembered(sim, bot, drill, answer):
    clock = Clock(sim.clock.now())
    bot.app[ID_TOKENS].verified = VerifiedTokens(clock=clock)
    bot.app[ID_TOKENS].clock = clock  # our clock, for the token's `exp`
    token = sim.issue_id_token(drill.user_id, expires_in=3600)
    assert (await answer(token, "第一報"))[0] == 200
    clock.now += 3601
    sim.clock.advance(3601)  # LINE's clock too: LINE now says the token expired
    status, body = await answer(token, "第二報")
    assert status == 401 and body["error"] == "invalid_id_token"
    assert (await Answer.get(alert_id=drill.alert_id)).message == "第一報"


async def test_unlinking_refuses_the_next_answer_though_the_token_is_remembered(sim, drill, answer):
    token = sim.issue_id_token(drill.user_id)
    assert (await answer(token))[0] == 200
    await unlink(drill.user_id, Actor.cli())
    status, body = await answer(token, "解除後")
    assert status == 403 and body["error"] == "not_linked"
    answer_row = await Answer.get(alert_id=drill.alert_id)
    assert answer_row.revision == 1 and answer_row.message == ""


async def test_relinking_to_another_employee_answers_as_that_employee(sim, drill, answer):
    token = sim.issue_id_token(drill.user_id)
    assert (await answer(token, "山田です"))[0] == 200
    await unlink(drill.user_id, Actor.cli())
    await LineAccount.filter(user_id=drill.user_id).update(employee_id=drill.sato_id)
    status, view = await answer(token, "佐藤です")
    assert status == 200 and view["answer"]["revision"] == 1
    mine = await Answer.get(alert_id=drill.alert_id, employee_id=drill.sato_id)
    theirs = await Answer.get(alert_id=drill.alert_id, employee_id=drill.yamada_id)
    assert (mine.message, theirs.message) == ("佐藤です", "山田です")


# The memory itself


def test_only_a_digest_of_the_token_is_kept():
    tokens = VerifiedTokens(clock=Clock(1000.0))
    tokens.remember("header.payload.signature", "U1", 5000)
    assert tokens.user_id("header.payload.signature") == "U1"
    assert list(tokens._entries) == [token_key("header.payload.signature")]
    assert "payload" not in repr(tokens._entries)


def test_the_least_recently_used_token_is_forgotten_first():
    tokens = VerifiedTokens(max_entries=2, clock=Clock(1000.0))
    tokens.remember("a.a.a", "U1", 5000)
    tokens.remember("b.b.b", "U2", 5000)
    assert tokens.user_id("a.a.a") == "U1"  # used: b is now the least recent
    tokens.remember("c.c.c", "U3", 5000)
    assert len(tokens) == 2
    assert (tokens.user_id("a.a.a"), tokens.user_id("b.b.b")) == ("U1", None)


@pytest.mark.parametrize(
    "expires", [None, "5000", True, 1000 + 60, 900], ids=["none", "text", "bool", "soon", "past"]
)
def test_a_token_without_a_usable_future_expiry_is_not_remembered(expires):
    tokens = VerifiedTokens(clock=Clock(1000.0))
    tokens.remember("a.a.a", "U1", expires)
    assert len(tokens) == 0 and tokens.user_id("a.a.a") is None


def test_a_token_is_remembered_at_most_an_hour_whatever_its_expiry():
    clock = Clock(1000.0)
    tokens = VerifiedTokens(clock=clock)
    tokens.remember("a.a.a", "U1", 1000 + 10 * MAX_SECONDS)
    clock.now += MAX_SECONDS - 1
    assert tokens.user_id("a.a.a") == "U1"
    clock.now += 1
    assert tokens.user_id("a.a.a") is None and len(tokens) == 0
