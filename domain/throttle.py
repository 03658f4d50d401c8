"""Attempt limits shared by every process: at most `limit` attempts per key in a window, then
a back-off that expires (never a permanent lock); and the sign-in forms' rule built on them."""

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from tortoise.expressions import Case, F, Q, When

from domain.actors import Actor
from domain.audit import log_action
from domain.errors import Invalid, Throttled
from domain.hashing import unauthenticated_place
from models import Throttle

# Sign-in forms (console, employee page): after SIGN_IN_LIMIT failures of one account from
# one client address within SIGN_IN_WINDOW, that pair pauses for SIGN_IN_BACKOFF; past
# SIGN_IN_SLOW_AFTER failures of the account from every address, each attempt on it waits
# SIGN_IN_FIRST_DELAY seconds, doubling per further failure up to SIGN_IN_MAX_DELAY.
SIGN_IN_LIMIT = 5
SIGN_IN_WINDOW = timedelta(minutes=15)
SIGN_IN_BACKOFF = timedelta(minutes=15)
SIGN_IN_SLOW_AFTER = 10
SIGN_IN_FIRST_DELAY = 0.5
SIGN_IN_MAX_DELAY = 8.0

_sleep = asyncio.sleep  # the slowing's wait (tests record it instead of waiting)


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


async def clear_account(account: str) -> None:
    """Forget every count of a sign-in account (its password was just set)."""
    await Throttle.filter(Q(key__startswith=f"{account}@") | Q(key=_failures_key(account))).delete()


def _failures_key(account: str) -> str:
    return f"failures:{account}"


def slow_down_delay(failures: int) -> float:
    """Seconds an attempt on an account waits after `failures` failures from anywhere: none
    up to SIGN_IN_SLOW_AFTER, then doubling up to SIGN_IN_MAX_DELAY (never a refusal)."""
    over = failures - SIGN_IN_SLOW_AFTER
    return 0.0 if over < 0 else min(SIGN_IN_MAX_DELAY, SIGN_IN_FIRST_DELAY * 2**over)


async def _account_failures(account: str, now: datetime) -> int:
    row = await Throttle.get_or_none(key=_failures_key(account))
    if row is None or row.window_started_at <= now - SIGN_IN_WINDOW:
        return 0
    return row.attempts


@contextlib.asynccontextmanager
async def sign_in_check(actor: Actor, account: str, address: str) -> AsyncIterator[None]:
    """One sign-in attempt on `account` (such as "console:boss") from a client `address`,
    the body checking the secret (Invalid when wrong). Failures cost the guesser, not the
    owner: SIGN_IN_LIMIT failures of one account from one address pause that pair
    (Throttled); the account's failures from every address only slow each attempt on it
    (slow_down_delay), so its owner still gets in. The attempt also takes a place in the hash
    queue (HashQueueBusy at once when full, costing nobody an attempt). Audited in rows of
    their own, outside any transaction, since the counts must stay: a pause is "refused", a
    wrong answer "failed"."""
    now = datetime.now(UTC)
    pair = f"{account}@{address}"
    try:
        delay = slow_down_delay(await _account_failures(account, now))
        if delay:
            await _sleep(delay)
        with unauthenticated_place():
            await reserve_attempt(pair, SIGN_IN_LIMIT, SIGN_IN_WINDOW, SIGN_IN_BACKOFF)
            try:
                yield
            except Invalid:
                # Counted like a pair, with a limit never reached: the count only slows.
                await reserve_attempt(
                    _failures_key(account), 2**31 - 1, SIGN_IN_WINDOW, SIGN_IN_WINDOW
                )
                raise
        await clear(pair)
    except Throttled:
        await log_action(actor, "sign_in", result="refused")
        raise
    except Invalid:
        await log_action(actor, "sign_in", result="failed")
        raise
