"""Argon2 for secrets people type (registration codes, console passwords), always off the
event loop: each hash or check costs 64 MiB and 0.1-0.2 s, so a few run at once in threads
and the loop keeps serving webhooks meanwhile."""

import asyncio
import functools
import weakref

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

HASH_SLOTS = 2

_hasher = PasswordHasher()
_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


async def _in_thread(function, *args):
    loop = asyncio.get_running_loop()
    slots = _slots.get(loop)
    if slots is None:  # one per loop: an asyncio.Semaphore binds to the loop that waits on it
        slots = _slots[loop] = asyncio.Semaphore(HASH_SLOTS)
    async with slots:
        return await asyncio.to_thread(function, *args)


async def hash_secret(secret: str) -> str:
    """The argon2 hash of a secret."""
    return await _in_thread(_hasher.hash, secret)


async def verify_secret(secret_hash: str | None, secret: str) -> bool:
    """Whether `secret` matches `secret_hash`; with no hash, the same work is done against a
    dummy so that an unknown name costs as much as a known one."""
    return await _in_thread(_check, secret_hash, secret)


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("not-a-real-secret")


def _check(secret_hash: str | None, secret: str) -> bool:
    try:
        return _hasher.verify(secret_hash or _dummy_hash(), secret) and secret_hash is not None
    except (VerificationError, InvalidHashError):
        return False
