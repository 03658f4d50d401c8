"""Usage: billable LINE messages counted when LINE accepts them, on the Japan day, exactly
once; the month's cost, projection and cheapest pack; LINE's own figures on the page."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import partial

import pytest

from bot.keys import CONFIG, LINE
from bot.messages import delivery_message
from domain.actors import Actor
from domain.alerts import start_alert
from domain.delivery import DeliveryEngine
from domain.settings import update_settings
from domain.usage import (
    cheapest_pack,
    cost,
    japan_today,
    project,
    usage_report,
)
from models import Delivery, DeliveryStatus, Template, UsageDay
from tests.conftest import FAST_ENGINE, make_company, make_console_user, quick_link, until

pytestmark = pytest.mark.no_delivery_engine


def engine(bot, **settings) -> DeliveryEngine:
    """A delivery engine like the app's, driven by the test."""
    render = partial(delivery_message, liff_url=bot.app[CONFIG].liff_url)
    return DeliveryEngine(bot.app[LINE], render, replace(FAST_ENGINE, **settings))


async def linked_staff(sim, n: int) -> list[str]:
    """n linked, befriended employees; their LINE user IDs."""
    company = await make_company({"総務部": [(f"E{i}", f"社員{i}") for i in range(n)]})
    return [await quick_link(sim, employee) for employee in company.employees.values()]


async def counted_today() -> int:
    row = await UsageDay.get_or_none(day=japan_today())
    return row.messages if row else 0


async def test_a_multicast_to_n_recipients_counts_n_on_todays_japan_date(sim, bot):
    await linked_staff(sim, 3)
    await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    await engine(bot).run_until_idle()
    assert sim.billable_deliveries == 3
    assert await UsageDay.all().values_list("day", "messages") == [(japan_today(), 3)]


async def test_a_resumed_batch_that_line_answers_409_is_counted_exactly_once(sim, bot):
    await linked_staff(sim, 2)
    await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    # LINE accepts the multicast but its answer is lost: nothing is counted yet.
    sim.inject_fault("multicast", status=500, deliver=True)
    await engine(bot, attempts_per_claim=1).run_until_idle()
    assert await Delivery.filter(status=DeliveryStatus.SENDING).count() == 2
    assert await counted_today() == 0

    await engine(bot, stale_after=timedelta(0)).run_once()
    assert [s.status for s in sim.sent if s.kind == "multicast"][-1] == 409
    assert await Delivery.filter(status=DeliveryStatus.SENT).count() == 2
    assert await counted_today() == 2
    assert await engine(bot, stale_after=timedelta(0)).run_once() == 0
    assert await counted_today() == 2 == sim.billable_deliveries


async def test_a_batch_line_rejects_is_not_counted(sim, bot):
    await linked_staff(sim, 2)
    await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    sim.inject_fault("multicast", status=400, body={"message": "The request body has 1 error(s)"})
    await engine(bot).run_until_idle()
    assert await counted_today() == 0


async def test_replies_are_free_and_never_counted(sim, bot):
    [user_id] = await linked_staff(sim, 1)
    assert await sim.send_text(user_id, "こんにちは") == 200
    await until(lambda: sim.messages_for(user_id))
    assert [s.kind for s in sim.sent] == ["reply"]
    assert await UsageDay.all().count() == 0


def test_japan_date_turns_at_midnight_in_japan_not_utc():
    assert japan_today(datetime(2026, 3, 31, 14, 59, tzinfo=UTC)) == date(2026, 3, 31)
    assert japan_today(datetime(2026, 3, 31, 15, 0, tzinfo=UTC)) == date(2026, 4, 1)


@pytest.mark.parametrize(
    ("messages", "pack", "overage", "total"),
    [
        (0, 3000, 0, 3000),
        (3000, 3000, 0, 3000),
        (3001, 3000, 1, 3004),
        (5000, 3000, 2000, 11000),
        (5000, 10000, 0, 8000),
        (50000, 45000, 5000, 50000),
    ],
)
def test_cost_is_the_pack_price_plus_4_yen_per_message_over_it(messages, pack, overage, total):
    found = cost(messages, pack)
    assert (found.overage_messages, found.overage_yen, found.total_yen) == (
        overage,
        overage * 4,
        total,
    )


@pytest.mark.parametrize(
    ("messages", "pack"),
    [
        (0, 3000),
        (4250, 3000),  # 3,000 + 1,250 × 4 = 8,000: a tie goes to the smaller pack
        (4251, 10000),
        (15500, 10000),  # 8,000 + 5,500 × 4 = 30,000: tie
        (15501, 45000),
        (100000, 45000),
    ],
)
def test_the_cheapest_pack_for_a_month(messages, pack):
    assert cheapest_pack(messages).pack == pack


@pytest.mark.parametrize(
    ("messages", "today", "projected"),
    [
        (100, date(2026, 4, 10), 300),  # 30 days
        (100, date(2026, 3, 10), 310),  # 31 days
        (1, date(2026, 2, 3), 10),  # 28 days: 9.33 rounds up
        (500, date(2026, 4, 30), 500),  # the last day: the month as it is
        (0, date(2026, 4, 1), 0),
    ],
)
def test_the_projection_is_linear_by_day_of_month(messages, today, projected):
    assert project(messages, today) == projected


async def test_the_report_covers_this_month_by_day_with_cost_and_projection(db):
    await UsageDay.create(day=date(2026, 3, 31), messages=999)  # last month: left out
    await UsageDay.create(day=date(2026, 4, 2), messages=1000)
    await UsageDay.create(day=date(2026, 4, 5), messages=500)
    await update_settings(
        contact_info_viewable=False, monthly_pack=3000, actor=Actor.console("test")
    )
    report = await usage_report(None, today=date(2026, 4, 6))
    assert [m for _, m in report.days] == [0, 1000, 0, 0, 500, 0]
    assert report.total == 1500
    assert (report.current.pack, report.current.total_yen) == (3000, 3000)
    assert report.projected.messages == 7500  # 1,500 / 6 days × 30
    assert report.projected.total_yen == 3000 + 4500 * 4
    assert (report.cheapest.pack, report.cheapest.total_yen) == (10000, 8000)
    assert report.line_quota is None and report.line_usage is None


async def test_the_usage_page_shows_our_count_and_lines_own_figures(sim, bot, console):
    await make_console_user("boss", "maintainer")
    await linked_staff(sim, 3)
    await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    await engine(bot).run_until_idle()
    await console.sign_in("boss")
    status, html = await console.get("/console/usage")
    assert status == 200
    assert re.search(r'id="usage-total">3通<', html)
    assert re.search(r'id="line-quota">上限なし<', html)
    assert re.search(r'id="line-usage">3通<', html)  # the simulator's totalUsage


async def test_the_usage_page_says_when_line_does_not_answer(sim, bot, console):
    await make_console_user("boss", "maintainer")
    await console.sign_in("boss")
    sim.config.channel_access_token = "revoked"  # LINE now answers 401 to the bot
    status, html = await console.get("/console/usage")
    assert status == 200
    assert re.search(r'id="line-quota">取得できませんでした<', html)
    assert re.search(r'id="line-usage">取得できませんでした<', html)
    assert re.search(r'id="usage-total">0通<', html)
