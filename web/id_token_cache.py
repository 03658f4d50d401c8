"""ID tokens LINE has already vouched for, remembered until they expire.

A phone sends the same ID token with every call of the answer page (the alert, the answer, a
corrected answer). Once LINE's verify endpoint has said yes to a token, asking again before its
`exp` can only give the same answer, so the verifier keeps the user ID for it here. Only a
SHA-256 digest of the token is kept (never the token), memory is bounded (least recently used
first out), and only a token LINE accepted is ever stored: a refused token, or one LINE could
not answer for, is asked about again next time."""

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

# Every employee of a large company answering within the hour fits; each entry is ~150 bytes.
MAX_ENTRIES = 20_000
# However far away LINE's `exp` is, a token is asked about again after this long.
MAX_SECONDS = 3600
# Our clock and LINE's may differ a little: stop trusting a token this long before its `exp`,
# so a token is never accepted here after LINE would have refused it.
EXPIRY_MARGIN = 60


def token_key(id_token: str) -> bytes:
    """What a token is remembered by: its SHA-256 digest."""
    return hashlib.sha256(id_token.encode()).digest()


class VerifiedTokens:
    """A bounded LRU map from ID-token digest to the LINE user ID LINE verified it for."""

    def __init__(
        self,
        max_entries: int = MAX_ENTRIES,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[float, str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def user_id(self, id_token: str) -> str | None:
        """The user ID LINE verified this token for, if it is remembered and not expired."""
        key = token_key(id_token)
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, user_id = entry
        if self._clock() >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return user_id

    def remember(self, id_token: str, user_id: str, expires: object) -> None:
        """Keep what LINE verified, until shortly before the `exp` LINE returned."""
        if not isinstance(expires, int | float) or isinstance(expires, bool):
            return  # no usable expiry: ask LINE every time
        now = self._clock()
        expires_at = min(float(expires) - EXPIRY_MARGIN, now + MAX_SECONDS)
        if expires_at <= now:
            return
        key = token_key(id_token)
        self._entries[key] = (expires_at, user_id)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
