"""Short-lived channel access tokens, as LINE recommends: with LINE_CHANNEL_ID (and the channel
secret) the bot issues itself stateless tokens through line-bot-sdk's channel access token
client, stores it for every process, reuses one until shortly before it expires, renews it
then, and keeps the current one through a failed renewal. The local LINE platform issues them
(checked against LINE's channel-access-token.yml) and accepts them until they expire."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.app import create_app
from bot.channel_token import RENEW_BEFORE, StatelessTokens
from bot.config import Config, ConfigError
from bot.keys import LINE
from domain.actors import Actor
from domain.alerts import start_alert
from line_simulator.channel_tokens import STATELESS_LIFETIME
from models import Delivery, DeliveryStatus, Template
from tests.conftest import (
    FAST_ENGINE,
    LIFF_ID,
    SECRET,
    bot_config,
    free_port_socket,
    held_port_server,
    make_company,
    quick_link,
    until,
)
from tests.test_cli import line_env, run

CHANNEL_ID = "2000000001"


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _issue(session, sim, **form) -> tuple[int, dict]:
    fields = {"grant_type": "client_credentials", "client_id": CHANNEL_ID,
              "client_secret": SECRET, **form}  # fmt: skip
    fields = {k: v for k, v in fields.items() if v is not None}
    async with session.post(f"{sim.config.public_base_url}/oauth2/v3/token", data=fields) as r:
        return r.status, await r.json()


async def _quota(session, sim, token: str) -> int:
    async with session.get(
        f"{sim.config.public_base_url}/v2/bot/message/quota",
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        return response.status


# The local LINE platform


async def test_the_platform_issues_stateless_tokens_it_accepts_until_they_expire(
    sim, browser_session
):
    sim.config.channel_id = CHANNEL_ID
    status, body = await _issue(browser_session, sim)
    assert status == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] == STATELESS_LIFETIME
    assert await _quota(browser_session, sim, body["access_token"]) == 200
    sim.clock.advance(STATELESS_LIFETIME + 1)
    assert await _quota(browser_session, sim, body["access_token"]) == 401


@pytest.mark.parametrize(
    "form",
    [{"client_secret": "wrong"}, {"client_id": "1"}, {"client_secret": None},
     {"grant_type": "password"}],
    ids=["wrong-secret", "other-channel", "no-secret", "grant-type"],
)  # fmt: skip
async def test_the_platform_refuses_a_bad_token_request(sim, browser_session, form):
    sim.config.channel_id = CHANNEL_ID
    status, body = await _issue(browser_session, sim, **form)
    assert status == 400 and body["error"]
    assert not sim.issued_tokens


# The bot


@pytest.fixture
async def served(sim, database_url):
    """The real app with no long-lived token: only the channel ID and secret."""
    sim.config.channel_id = CHANNEL_ID
    listening = free_port_socket()
    port = listening.getsockname()[1]
    config = replace(
        bot_config(sim, database_url, port),
        line_channel_access_token="",
        line_channel_id=CHANNEL_ID,
    )
    server = held_port_server(create_app(config, engine_settings=FAST_ENGINE), listening)
    await server.start_server()
    sim.config.webhook_url = f"{config.public_base_url}/callback"
    sim.config.liff_apps[LIFF_ID] = f"{config.public_base_url}/liff/"
    yield server
    await server.close()


async def test_the_bot_replies_and_delivers_with_one_issued_token(sim, served):
    company = await make_company({"総務部": [("E1", "山田"), ("E2", "佐藤")]})
    user = sim.add_user("たろう")
    assert await sim.follow(user.user_id) == 200
    await until(lambda: sim.messages_for(user.user_id))  # the greeting: a reply
    linked = [await quick_link(sim, e) for e in company.employees.values()]
    await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    await until(lambda: all(sim.messages_for(u) for u in linked))  # a multicast
    assert len(sim.issued_tokens) == 1
    assert served.app[LINE].token.issued == 1


async def test_the_token_is_renewed_shortly_before_it_expires(sim, served):
    tokens = served.app[LINE].token
    tokens.clock = clock = Clock()
    quota = served.app[LINE].quota
    assert await quota() is not None
    clock.now += STATELESS_LIFETIME - RENEW_BEFORE - 1
    assert await quota() is not None
    assert tokens.issued == 1
    clock.now += 2  # inside the renewal window
    sim.clock.advance(STATELESS_LIFETIME - RENEW_BEFORE + 1)
    assert await quota() is not None
    assert tokens.issued == 2 and len(sim.issued_tokens) == 2


async def test_a_failed_renewal_keeps_the_current_token_while_it_lasts(sim, served):
    tokens = served.app[LINE].token
    tokens.clock = clock = Clock()
    quota = served.app[LINE].quota
    assert await quota() is not None
    clock.now += STATELESS_LIFETIME - 60  # renewal due, the token still valid
    sim.inject_fault("token", 500)
    assert await quota() is not None  # sent with the old token
    assert tokens.issued == 1 and "token" not in sim.faults


async def test_deliveries_wait_out_a_token_endpoint_outage(sim, served):
    sim.inject_fault("token", 500, times=3)
    company = await make_company({"総務部": [("E1", "山田")]})
    user_id = await quick_link(sim, company.employees["E1"])
    await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    await until(lambda: Delivery.filter(status=DeliveryStatus.SENT).exists(), within=30)
    assert len(sim.messages_for(user_id)) == 1


async def test_processes_share_one_token_and_renew_it_once(sim, db, browser_session):
    sim.config.channel_id = CHANNEL_ID
    clock = Clock()
    first, second = (
        StatelessTokens(sim.config.public_base_url, CHANNEL_ID, SECRET, clock=clock)
        for _ in range(2)
    )
    try:
        token = await first.current()
        assert await second.current() == token
        assert len(sim.issued_tokens) == 1
        clock.now += STATELESS_LIFETIME - RENEW_BEFORE + 1  # inside the renewal window
        renewed = await second.current()
        assert renewed != token
        assert await first.current() == renewed
        assert len(sim.issued_tokens) == 2 and (first.issued, second.issued) == (1, 1)
        assert await _quota(browser_session, sim, renewed) == 200
    finally:
        await first.close()
        await second.close()


def test_a_channel_id_needs_the_channel_secret():
    config = Config.from_env({"LINE_CHANNEL_ID": CHANNEL_ID, "LIFF_ID": LIFF_ID})
    with pytest.raises(ConfigError, match=r"^LINE_CHANNEL_SECRET is not set"):
        config.require("line_channel_access_token", "liff_id")
    config = Config.from_env(
        {"LINE_CHANNEL_ID": CHANNEL_ID, "LINE_CHANNEL_SECRET": "s", "LIFF_ID": LIFF_ID}
    )
    config.require("line_channel_access_token", "liff_id")  # no long-lived token needed


@pytest.mark.no_delivery_engine
async def test_send_from_the_command_line_issues_its_own_token(sim, bot, database_url):
    sim.config.channel_id = CHANNEL_ID
    company = await make_company({"総務部": [("E1", "山田")]})
    user_id = await quick_link(sim, company.employees["E1"])
    env = line_env(sim, database_url)
    del env["LINE_CHANNEL_ACCESS_TOKEN"]
    env.update(LINE_CHANNEL_ID=CHANNEL_ID, LINE_CHANNEL_SECRET=SECRET)
    code, out, err = await run("send", "--drill", env=env)
    assert code == 0, err
    assert "sent 1" in out
    assert [m["type"] for m in sim.messages_for(user_id)] == ["flex"]
    assert len(sim.issued_tokens) == 1
    assert SECRET not in err and next(iter(sim.issued_tokens)) not in err
