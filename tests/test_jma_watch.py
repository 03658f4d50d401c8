"""The JMA worker against a local feed: an earthquake published in the feed reaches employees;
it asks politely (conditional requests, backoff on errors, nothing while no rule is active);
bad bulletins in the feed are refused one by one and the worker keeps going."""

from __future__ import annotations

# ruff: noqa: F811  (the `feed` fixture is imported, then named as a parameter)
import time

import pytest

from bot.jma_watch import JmaWatcher
from bot.keys import LINE
from domain.actors import Actor
from domain.jma import rules
from models import Alert, JmaBulletin
from tests.conftest import until
from tests.jma_helpers import (  # noqa: F401  (fixtures)
    IWATE_SHINGEN,
    IWATE_SOKUHOU,
    arrange_offices,
    feed,
    sample,
    start_jma_bot,
)
from tests.test_jma_bulletins import BILLION_LAUGHS, MALFORMED

POLL = 60.0


@pytest.fixture
async def bot(sim, database_url, feed):
    """The real app without its own JMA worker: each test here steps a watcher itself, and a
    second poller would ask the feed too."""
    server = await start_jma_bot(sim, database_url, feed[1], jma_worker=False)
    yield server
    await server.close()


async def iwate_rule() -> None:
    await rules.add_rule(
        Actor.cli(), rules.RuleDraft(name="岩手震度4", min_intensity="4", areas=("岩手県",))
    )


def watcher(bot, feed_url: str) -> JmaWatcher:
    """A watcher like the app's, stepped by the test."""
    return JmaWatcher((feed_url,), POLL, bot.app[LINE])


async def test_an_earthquake_appearing_in_the_feed_reaches_employees(sim, database_url, feed):
    jma, url = feed
    server = await start_jma_bot(sim, database_url, url, poll=0.05)
    try:
        users = await arrange_offices(sim)
        await iwate_rule()

        jma.publish("20210219091253_0_VXSE51_010000.xml", sample(IWATE_SOKUHOU), "震度速報")

        await until(lambda: sim.messages_for(users["大阪花子"]))
        assert await Alert.all().count() == 1
        bulletin = await JmaBulletin.get()
        assert bulletin.entry_id.endswith("_VXSE51_010000.xml")
        assert bulletin.outcome.startswith("開始: 連絡 #1")
    finally:
        await server.close()


async def test_the_feed_is_asked_conditionally_and_bulletins_fetched_once(sim, bot, feed):
    jma, url = feed
    await arrange_offices(sim)
    await iwate_rule()
    jma.publish("20210219091253_0_VXSE51_010000.xml", sample(IWATE_SOKUHOU))
    watch = watcher(bot, url)

    await watch.step()
    watch.feeds[0].next_fetch = 0  # due again at once
    await watch.step()

    first, second = jma.feed_requests
    assert "If-None-Match" not in first
    assert second["If-None-Match"] == '"jma-1"' and "If-Modified-Since" in second
    assert jma.bulletin_requests == ["20210219091253_0_VXSE51_010000.xml"]
    assert watch.feeds[0].next_fetch - time.monotonic() > POLL - 5  # once a minute

    jma.publish("20210219091451_0_VXSE53_010000.xml", sample(IWATE_SHINGEN))
    watch.feeds[0].next_fetch = 0
    await watch.step()
    assert jma.bulletin_requests[-1] == "20210219091451_0_VXSE53_010000.xml"
    assert len(jma.bulletin_requests) == 2
    assert await Alert.all().count() == 1


async def test_a_feed_that_errors_is_asked_less_often_until_it_recovers(sim, bot, feed):
    jma, url = feed
    await arrange_offices(sim)
    await iwate_rule()
    watch = watcher(bot, url)
    jma.fail_next(500, 503)

    await watch.step()
    first_pause = watch.feeds[0].next_fetch - time.monotonic()
    watch.feeds[0].next_fetch = 0
    await watch.step()
    second_pause = watch.feeds[0].next_fetch - time.monotonic()

    assert watch.feeds[0].failures == 2
    assert first_pause > POLL * 1.5 and second_pause > first_pause * 1.5
    jma.publish("20210219091253_0_VXSE51_010000.xml", sample(IWATE_SOKUHOU))
    watch.feeds[0].next_fetch = 0
    await watch.step()
    assert watch.feeds[0].failures == 0
    assert await Alert.all().count() == 1


async def test_an_unreachable_feed_backs_off_and_the_worker_keeps_running(sim, bot):
    await iwate_rule()
    watch = watcher(bot, "http://127.0.0.1:9/feed.xml")  # nothing listens on port 9

    assert await watch.step() == 0
    assert watch.feeds[0].failures == 1


async def test_bad_bulletins_are_refused_one_by_one_and_the_next_good_one_is_handled(
    sim, bot, feed
):
    jma, url = feed
    users = await arrange_offices(sim)
    await iwate_rule()
    jma.publish("1_0_VXSE51_lol.xml", BILLION_LAUGHS)
    jma.publish("2_0_VXSE53_bad.xml", MALFORMED)
    jma.publish("3_0_VXSE53_huge.xml", b"<" * (50 * 1024 * 1024))
    jma.publish("4_0_VXSE51_other.xml", sample("VXSE52_20080614_jmasample_IwateMiyagi.xml"))
    jma.publish("5_0_VXSE51_010000.xml", sample(IWATE_SOKUHOU))
    watch = watcher(bot, url)

    await watch.step()

    await until(lambda: sim.messages_for(users["岩手太郎"]))
    assert await Alert.all().count() == 1
    assert await JmaBulletin.all().count() == 1  # only the good one was read
    watch.feeds[0].next_fetch = 0
    jma.publish("6_0_VXSE53_010000.xml", sample(IWATE_SHINGEN))  # the feed changed
    await watch.step()
    # Refused bulletins are not fetched again.
    assert sorted(jma.bulletin_requests) == [
        "1_0_VXSE51_lol.xml",
        "2_0_VXSE53_bad.xml",
        "3_0_VXSE53_huge.xml",
        "4_0_VXSE51_other.xml",
        "5_0_VXSE51_010000.xml",
        "6_0_VXSE53_010000.xml",
    ]


async def test_types_no_rule_acts_on_are_not_fetched(sim, bot, feed):
    jma, url = feed
    await iwate_rule()
    jma.publish("20211123230030_0_VFVO53_010000.xml", b"<x/>", "降灰予報（定時）")
    watch = watcher(bot, url)

    await watch.step()

    assert len(jma.feed_requests) == 1 and jma.bulletin_requests == []


async def test_without_an_active_rule_the_feed_is_not_asked(sim, bot, feed):
    jma, url = feed
    watch = watcher(bot, url)

    await watch.step()

    assert jma.feed_requests == []


async def test_jma_watch_runs_the_poller_alone_and_stops_on_sigterm(sim, db, feed):
    from tests.processes import ROOT, BotProcess, clean_env
    from tests.test_cli import line_env

    jma, url = feed
    await arrange_offices(sim)  # delivering is another process's work (`serve`, `worker`)
    await iwate_rule()
    env = clean_env(**line_env(sim, db), JMA_FEED_URL=url, JMA_POLL_SECONDS="0.2")
    watch = await BotProcess.start("jma-watch", cwd=ROOT, env=env, ready="workers running: jma")
    try:
        jma.publish("20210219091253_0_VXSE51_010000.xml", sample(IWATE_SOKUHOU), "震度速報")

        # The bulletin's outcome is written after the alert it started has committed.
        await until(lambda: JmaBulletin.exclude(outcome="").exists(), within=30)
        assert (await JmaBulletin.get()).outcome.startswith("開始: 連絡 #1")
        assert await Alert.exists()
    finally:
        assert await watch.stop() == 0
