"""Argon2 for secrets people type (registration codes, console passwords), always off the
event loop: each hash or check costs 64 MiB and 0.1-0.2 s, so a few run at once in threads
and the loop keeps serving webhooks meanwhile.

The checks wait in a bounded queue: an unauthenticated sign-in takes a place among at most
HASH_SLOTS + MAX_WAITING of its kind (past that it is refused at once, HashQueueBusy), and
work done for someone already known (a valid session, a link token the bot recorded, a new
hash) goes ahead of every unauthenticated check still waiting."""

import asyncio
import contextlib
import contextvars
import functools
import weakref
from collections import deque
from collections.abc import Iterator

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from domain.errors import Throttled, wait_phrase
from domain.i18n import gettext as _

HASH_SLOTS = 2
MAX_WAITING = 8  # unauthenticated checks that may wait for a slot; more are refused
BUSY_RETRY_AFTER = 2  # seconds a refused sign-in is told to wait

_hasher = PasswordHasher()
_prioritized: contextvars.ContextVar[bool] = contextvars.ContextVar("prioritized", default=False)


class HashQueueBusy(Throttled):
    """Too many sign-ins are being checked: try again in a moment."""

    code = "hash_queue_busy"

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.message = _(
            "ただいまログインが混み合っています。%(wait)s後にもう一度お試しください。",
            wait=wait_phrase(retry_after),
        )


class _Queue:
    """HASH_SLOTS threads at a time; waiters served priority first, then in order."""

    def __init__(self, slots: int) -> None:
        self.free = slots
        self.admitted = 0  # unauthenticated sign-ins holding a place
        self.waiting: dict[bool, deque[asyncio.Future[None]]] = {True: deque(), False: deque()}

    async def run(self, function, *args):
        priority = _prioritized.get()
        if self.free > 0 and not (self.waiting[True] or self.waiting[False]):
            self.free -= 1
        else:
            turn = asyncio.get_running_loop().create_future()
            self.waiting[priority].append(turn)
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._release()  # the slot was handed over as the caller went: pass it on
                else:
                    self.waiting[priority].remove(turn)
                raise
        try:
            return await asyncio.to_thread(function, *args)
        finally:
            self._release()

    def _release(self) -> None:
        for queue in (self.waiting[True], self.waiting[False]):
            while queue:
                turn = queue.popleft()
                if not turn.done():
                    turn.set_result(None)
                    return
        self.free += 1


# One per loop: futures and waiters belong to the loop that made them.
_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = weakref.WeakKeyDictionary()


def _queue() -> _Queue:
    loop = asyncio.get_running_loop()
    queue = _queues.get(loop)
    if queue is None:
        queue = _queues[loop] = _Queue(HASH_SLOTS)
    return queue


def waiting() -> int:
    """How many checks wait for a slot in this process."""
    queue = _queue()
    return len(queue.waiting[True]) + len(queue.waiting[False])


@contextlib.contextmanager
def prioritized() -> Iterator[None]:
    """The checks made inside go ahead of unauthenticated ones (a caller already known)."""
    token = _prioritized.set(True)
    try:
        yield
    finally:
        _prioritized.reset(token)


@contextlib.contextmanager
def unauthenticated_place() -> Iterator[None]:
    """A place for an unauthenticated sign-in's checks, or HashQueueBusy at once when
    HASH_SLOTS are busy and MAX_WAITING more already wait (taken before the attempt counts,
    so a refusal here costs nobody an attempt)."""
    queue = _queue()
    if queue.admitted >= HASH_SLOTS + MAX_WAITING:
        raise HashQueueBusy(BUSY_RETRY_AFTER)
    queue.admitted += 1
    try:
        yield
    finally:
        queue.admitted -= 1


async def hash_secret(secret: str) -> str:
    """The argon2 hash of a secret (always for a known caller: ahead of sign-in checks)."""
    with prioritized():
        return await _queue().run(_hasher.hash, secret)


async def verify_secret(secret_hash: str | None, secret: str) -> bool:
    """Whether `secret` matches `secret_hash`; with no hash, the same work is done against a
    dummy so that an unknown name costs as much as a known one."""
    return await _queue().run(_check, secret_hash, secret)


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("not-a-real-secret")


def _check(secret_hash: str | None, secret: str) -> bool:
    try:
        return _hasher.verify(secret_hash or _dummy_hash(), secret) and secret_hash is not None
    except (VerificationError, InvalidHashError):
        return False
