"""LINE's public keys for ES256 ID tokens (`/oauth2/v2.1/certs`), and local verification with them.

LIFF issues ES256 tokens; checking them here (signature, `iss`, `aud`, `exp`) keeps answers
flowing while LINE's verify endpoint is slow or down, which is when an earthquake brings
everyone to LINE at once. The keys are fetched once and kept; a token naming a key we do not
hold makes us fetch them again (LINE rotates keys), at most once per REFETCH_INTERVAL so a
flood of made-up key IDs cannot make us hammer LINE. The signature itself is checked in a
thread of its own (`SignatureThread`), so the event loop serves other requests meanwhile."""

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

log = logging.getLogger(__name__)

CERTS_TIMEOUT = aiohttp.ClientTimeout(total=5)
KEYS_LIFETIME = 24 * 3600  # seconds the keys are trusted before being fetched again
REFETCH_INTERVAL = 60.0  # an unknown key ID fetches the keys again at most this often
ALGORITHM = "ES256"
CERTS_PATH = "/oauth2/v2.1/certs"


def log_line_call(method: str, path: str, status: int, headers: Any) -> None:
    """One log line per LINE Login call, with the `x-line-request-id` LINE support asks for."""
    log.info(
        "LINE %s %s -> %s x-line-request-id=%s",
        method, path, status, headers.get("x-line-request-id", "-"),
    )  # fmt: skip


class KeysUnavailable(Exception):
    """LINE's keys could not be fetched (and none are held)."""


class BadSignature(Exception):
    """The token names a key we hold but does not verify with it, or its claims are wrong."""


class LineKeys:
    """The JWK set of LINE's ID-token keys, fetched on first use and kept by key ID."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        api_base_url: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = http
        self.url = f"{api_base_url}{CERTS_PATH}"
        self._clock = clock
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    def _stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at > KEYS_LIFETIME

    def _may_refetch(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= REFETCH_INTERVAL

    async def key(self, kid: str) -> Any | None:
        """The public key with this ID (fetching the set when it is unknown or old), or None
        when LINE does not publish it. Raises KeysUnavailable when nothing can be fetched."""
        if kid in self._keys and not self._stale():
            return self._keys[kid]
        async with self._lock:  # one fetch for every request waiting on it
            if self._stale() or (kid not in self._keys and self._may_refetch()):
                await self._fetch()
        return self._keys.get(kid)

    async def _fetch(self) -> None:
        try:
            async with self.http.get(self.url, timeout=CERTS_TIMEOUT) as response:
                log_line_call("GET", CERTS_PATH, response.status, response.headers)
                if response.status != 200:
                    raise KeysUnavailable(f"certs answered HTTP {response.status}")
                body = await response.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            if not self._keys:
                raise KeysUnavailable(f"certs call failed: {type(exc).__name__}") from None
            log.warning("LINE's keys could not be refreshed: %s", type(exc).__name__)
            return
        except KeysUnavailable:
            if not self._keys:
                raise
            log.warning("LINE's keys could not be refreshed")
            return
        keys = {}
        for jwk in body.get("keys", []) if isinstance(body, dict) else []:
            try:
                if jwk.get("alg", ALGORITHM) == ALGORITHM and jwk.get("kid"):
                    keys[jwk["kid"]] = jwt.PyJWK(jwk, ALGORITHM).key
            except (jwt.PyJWTError, AttributeError, TypeError, ValueError):
                log.warning("LINE published a key we cannot read")
        self._keys, self._fetched_at = keys, self._clock()


def _segment(text: str) -> bytes:
    """One base64url segment of a JWT, decoded (raises binascii.Error / ValueError)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class MalformedToken(ValueError):
    """Not three base64url segments with a JSON object for header and payload."""


@dataclass(frozen=True, slots=True)
class Jws:
    """A compact JWS split and decoded once, nothing about it checked: the header and the
    payload (`claims`), the bytes that were signed and the signature."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signed: bytes
    signature: bytes

    @property
    def es256_kid(self) -> str | None:
        """The key ID of an ES256 token (None for another algorithm or no key ID)."""
        kid = self.header.get("kid")
        if self.header.get("alg") != ALGORITHM or not isinstance(kid, str) or not kid:
            return None
        return kid


def split_jws(token: str) -> Jws:
    """The token's parts, decoded (raises MalformedToken)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedToken("not three segments")
    try:
        header, claims = json.loads(_segment(parts[0])), json.loads(_segment(parts[1]))
        signature = _segment(parts[2])
        signed = f"{parts[0]}.{parts[1]}".encode("ascii")
    except (binascii.Error, ValueError, RecursionError, UnicodeEncodeError):
        raise MalformedToken("a segment is not base64url JSON") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise MalformedToken("header or payload is not an object")
    return Jws(header, claims, signed, signature)


def check_shape(token: Jws, key: Any) -> None:
    """Refuse a token that is not ES256, or a signature or key not of P-256 (raises
    BadSignature); the signature itself is `signature_holds`, the claims `check_claims`.

    Written out with `cryptography` rather than through PyJWT: the same checks (the header's
    algorithm, the P-256 signature over `header.payload`, the claims) on segments the caller
    decoded once; PyJWT's generic path cost half as much again as the signature check itself,
    on every answer a phone sends with a token we have not seen."""
    if token.es256_kid is None:
        raise BadSignature("not an ES256 JWS")
    if len(token.signature) != 64 or not isinstance(key, ec.EllipticCurvePublicKey):
        raise BadSignature("not a P-256 signature")
    if not isinstance(key.curve, ec.SECP256R1):
        raise BadSignature("not a P-256 key")


def signature_holds(key: ec.EllipticCurvePublicKey, signed: bytes, signature: bytes) -> bool:
    """Whether the 64-byte ES256 signature (r || s) over `signed` verifies with `key`."""
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    try:
        key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def check_claims(token: Jws, *, issuer: str, audience: str, now: float) -> dict[str, Any]:
    """The claims of a token whose signature holds, checked for `iss`, `aud`, `exp`, `nbf`
    and `sub` at `now` (raises BadSignature)."""
    claims = token.claims
    if claims.get("iss") != issuer:
        raise BadSignature("InvalidIssuerError")
    aud = claims.get("aud")
    if not (aud == audience or (isinstance(aud, list) and audience in aud)):
        raise BadSignature("InvalidAudienceError")
    # Expiry against our own clock (`now`), as LINE's verify endpoint does against its own.
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or isinstance(expires, bool) or expires <= now:
        raise BadSignature("expired")
    not_before = claims.get("nbf")
    if not_before is not None and (
        not isinstance(not_before, int | float) or isinstance(not_before, bool) or not_before > now
    ):
        raise BadSignature("ImmatureSignatureError")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise BadSignature("no subject")
    return claims


class SignatureThread:
    """ES256 signature checks in a thread of their own, off the event loop.

    `cryptography` releases the GIL while it checks a signature (65 µs here), so the event
    loop goes on serving requests meanwhile. Checks asked for while the thread is busy are
    taken together: the thread wakes once for them and hands their results back to each
    waiting loop in one call, so a busy loop pays one wake-up per batch, not per token. The
    thread starts on first use and stops at `close()`; a daemon, so it never holds up exit."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def check(
        self, key: ec.EllipticCurvePublicKey, signed: bytes, signature: bytes
    ) -> asyncio.Future[bool]:
        """A future of `signature_holds(key, signed, signature)`, checked in the thread."""
        future = asyncio.get_running_loop().create_future()
        if self._thread is None or not self._thread.is_alive():
            self._start()
        self._queue.put((future, key, signed, signature))
        return future

    def close(self) -> None:
        """Stop the thread once the checks already asked for are done."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread = None

    def _start(self) -> None:
        with self._start_lock:  # a thread that died somehow is replaced, never waited on
            if self._thread is None or not self._thread.is_alive():
                thread = threading.Thread(
                    target=self._run, args=(self._queue,), name="es256", daemon=True
                )
                thread.start()
                self._thread = thread

    @staticmethod
    def _run(checks: queue.SimpleQueue) -> None:
        running = True
        while running:
            batch = [checks.get()]
            while True:
                try:
                    batch.append(checks.get_nowait())
                except queue.Empty:
                    break
            done: dict[asyncio.AbstractEventLoop, list] = {}
            for item in batch:
                if item is None:
                    running = False
                    continue
                future, key, signed, signature = item
                try:
                    outcome: bool | BaseException = signature_holds(key, signed, signature)
                except Exception as exc:  # handed to the caller, never lost in this thread
                    outcome = exc
                done.setdefault(future.get_loop(), []).append((future, outcome))
            for loop, outcomes in done.items():
                # A closed loop raises RuntimeError: nobody waits for these any more.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_settle, outcomes)


def _settle(outcomes: list[tuple[asyncio.Future, bool | BaseException]]) -> None:
    for future, outcome in outcomes:
        if future.done():  # the request went away meanwhile
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
