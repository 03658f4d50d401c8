"""Usage: billable LINE messages per Japan day, counted when LINE accepts a push or multicast;
the month against the chosen pack, overage, a linear projection, the cheapest pack for it, and
LINE's own figures beside ours."""

import asyncio
import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Protocol

from tortoise.expressions import F

from domain.settings import PACKS, get_settings
from models import UsageDay

JST = timezone(timedelta(hours=9), "JST")
OVERAGE_YEN = 4  # per message beyond the pack


@dataclass(frozen=True)
class LineQuota:
    """LINE's monthly limit: `type` is "none" (no limit) or "limited" with `value` messages."""

    type: str
    value: int | None = None


class QuotaReader(Protocol):
    """What the usage page needs of LINE: the quota and this month's consumption."""

    async def quota(self) -> LineQuota | None:
        """GET /v2/bot/message/quota, or None when LINE did not answer."""
        ...

    async def consumption(self) -> int | None:
        """GET /v2/bot/message/quota/consumption's totalUsage, or None."""
        ...


def japan_today(now: datetime | None = None) -> date:
    """Today's date in Japan, the day a billable message is counted on."""
    return (now or datetime.now(JST)).astimezone(JST).date()


async def prepare_day(day: date) -> None:
    """Make sure the day's counter row exists (before the transaction that adds to it)."""
    await UsageDay.get_or_create(day=day)


async def add_billable(day: date, messages: int) -> None:
    """Add messages to a day's counter; call inside the transaction that marks them sent,
    after `prepare_day`, so a batch is counted exactly when its rows become sent."""
    if messages <= 0:
        return
    updated = await UsageDay.filter(day=day).update(messages=F("messages") + messages)
    if not updated:
        await UsageDay.create(day=day, messages=messages)


@dataclass(frozen=True)
class Cost:
    """What a month of `messages` costs on a pack: the pack's price plus 4 円 per extra message."""

    pack: int
    pack_yen: int
    messages: int
    overage_messages: int
    overage_yen: int
    total_yen: int


def cost(messages: int, pack: int) -> Cost:
    """The month's cost of `messages` on `pack` (one of PACKS)."""
    over = max(0, messages - pack)
    return Cost(
        pack, PACKS[pack], messages, over, over * OVERAGE_YEN, PACKS[pack] + over * OVERAGE_YEN
    )


def cheapest_pack(messages: int) -> Cost:
    """The pack that makes `messages` a month cheapest (the smaller pack on a tie)."""
    return min((cost(messages, pack) for pack in sorted(PACKS)), key=lambda c: c.total_yen)


def project(messages: int, day: date) -> int:
    """The month's total if it goes on as it went so far (linear by day of month, rounded up)."""
    days_in_month = calendar.monthrange(day.year, day.month)[1]
    return -(-messages * days_in_month // day.day)


@dataclass(frozen=True)
class UsageReport:
    """This month's usage as the maintainer's page shows it."""

    today: date
    days: list[tuple[date, int]]
    total: int
    current: Cost
    projected: Cost
    cheapest: Cost
    line_quota: LineQuota | None
    line_usage: int | None


async def usage_report(reader: QuotaReader | None, today: date | None = None) -> UsageReport:
    """This month by day, total, cost on the chosen pack, projection, cheapest pack, and
    LINE's own quota and consumption (None where LINE did not answer)."""
    today = today or japan_today()
    first = today.replace(day=1)
    counted = dict(
        await UsageDay.filter(day__gte=first, day__lte=today).values_list("day", "messages")
    )
    days = [
        (first + timedelta(days=n), counted.get(first + timedelta(days=n), 0))
        for n in range(today.day)
    ]
    total = sum(messages for _, messages in days)
    pack = (await get_settings()).monthly_pack
    if pack not in PACKS:
        pack = min(PACKS)
    projected = project(total, today)
    quota, usage = (
        await asyncio.gather(reader.quota(), reader.consumption())
        if reader is not None
        else (None, None)
    )
    return UsageReport(
        today=today,
        days=days,
        total=total,
        current=cost(total, pack),
        projected=cost(projected, pack),
        cheapest=cheapest_pack(projected),
        line_quota=quota,
        line_usage=usage,
    )
