"""Attempt limits shared by every process: at most `limit` attempts per key in a window, then
a back-off that expires (never a permanent lock). Used by sign-in forms."""

import contextlib
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from tortoise.expressions import Case, F, Q, When

from domain.audit import Actor, log_action
from domain.errors import Invalid, Throttled
from models import Throttle


async def reserve_attempt(
    key: str, limit: int, window: timedelta, block: timedelta, now: datetime | None = None
) -> None:
    """Count one attempt under `key` before it is made, or raise Throttled.

    The count is one conditional UPDATE (… WHERE attempts < limit), so concurrent attempts
    can never take more than `limit` between them; the attempt that reaches the limit starts
    the back-off. An expired window or back-off starts afresh."""
    now = now or datetime.now(UTC)
    expired = Q(blocked_until__lte=now) | Q(
        blocked_until__isnull=True, window_started_at__lte=now - window
    )
    for _ in range(5):
        await Throttle.filter(Q(key=key) & expired).update(
            attempts=0, window_started_at=now, blocked_until=None
        )
        taken = await Throttle.filter(
            key=key, attempts__lt=limit, blocked_until__isnull=True
        ).update(
            attempts=F("attempts") + 1,
            # default: NULL, as the row is not blocked (F lets PostgreSQL infer the type)
            blocked_until=Case(
                When(attempts__gte=limit - 1, then=now + block), default=F("blocked_until")
            ),
        )
        if taken:
            return
        row = await Throttle.get_or_none(key=key)
        if row is None:  # the first attempt: create the counter (a concurrent one wins), retry
            await Throttle.bulk_create(
                [Throttle(key=key, attempts=0, window_started_at=now)], ignore_conflicts=True
            )
            continue
        until = row.blocked_until or row.window_started_at + window
        if until > now and (row.attempts >= limit or row.blocked_until is not None):
            raise Throttled(max(1, math.ceil((until - now).total_seconds())))
        # Created, cleared or reset by a concurrent attempt in between: count again.
    raise Throttled(1)


async def clear(key: str) -> None:
    """Forget the attempts under `key` (the attempt succeeded)."""
    await Throttle.filter(key=key).delete()


async def purge_stale(older_than: timedelta = timedelta(days=1)) -> int:
    """Delete counters whose window and back-off ended more than `older_than` ago."""
    cutoff = datetime.now(UTC) - older_than
    return await Throttle.filter(
        Q(blocked_until__lt=cutoff) | Q(blocked_until__isnull=True, window_started_at__lt=cutoff)
    ).delete()


@contextlib.asynccontextmanager
async def sign_in_check(actor: Actor) -> AsyncIterator[None]:
    """Audit the check of a sign-in: a pause is "refused", a wrong answer "failed". Rows of
    their own, outside any transaction: the attempt's count must stay."""
    try:
        yield
    except Throttled:
        await log_action(actor, "sign_in", result="refused")
        raise
    except Invalid:
        await log_action(actor, "sign_in", result="failed")
        raise
