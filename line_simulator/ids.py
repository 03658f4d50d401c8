"""Identifiers in LINE's formats: user IDs, ULIDs, message IDs and opaque tokens."""

from __future__ import annotations

import secrets
import uuid

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def user_id() -> str:
    """Return a new user ID: "U" and 32 lowercase hex digits."""
    return "U" + secrets.token_hex(16)


def ulid(now_ms: int) -> str:
    """Return a 26-character ULID (48-bit time, 80 random bits), as webhookEventId is."""
    value = (now_ms & ((1 << 48) - 1)) << 80 | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def request_id() -> str:
    """Return a new value for the x-line-request-id header."""
    return str(uuid.uuid4())


def message_id() -> str:
    """Return a numeric message ID like LINE's (18 digits)."""
    return str(secrets.randbelow(9 * 10**17) + 10**17)


def opaque_token(nbytes: int = 24) -> str:
    """Return a URL-safe random token (reply tokens, link tokens, quote tokens)."""
    return secrets.token_urlsafe(nbytes)


def is_uuid(value: str) -> bool:
    """Tell whether `value` is a UUID in its canonical hex form, as X-Line-Retry-Key must be."""
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False
