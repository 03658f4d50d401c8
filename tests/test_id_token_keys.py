"""Answers do not depend on LINE's verify endpoint: LIFF's ES256 ID tokens are verified with
LINE's published keys (`/oauth2/v2.1/certs`, fetched once, fetched again for a key we do not
hold), and the verify endpoint is asked only when the keys cannot decide.

How often the local LINE platform was called is read from faults injected with many `times`:
each call that reaches the endpoint uses one up."""

from __future__ import annotations

import asyncio
import json

import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from domain.actors import Actor
from domain.alerts import start_alert
from models import Answer, Template
from tests.conftest import LOGIN_CHANNEL_ID, make_company, quick_link, until
from web.line_keys import SignatureThread

GOOD = {"本人": "無事", "家族": "全員無事", "家屋": "被害なし", "出社": "可能"}
MANY = 1000


@pytest.fixture
async def drill(sim, bot) -> tuple[int, str]:
    company = await make_company({"総務部": [("E1", "山田 太郎")]})
    user_id = await quick_link(sim, company.employees["E1"])
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    return started.alert.id, user_id


@pytest.fixture
def answer(browser_session, bot, drill):
    """POST an answer as the LIFF page does; return status and body."""

    async def run(token: str, message: str = "") -> tuple[int, dict]:
        async with browser_session.post(
            bot.make_url(f"/liff/api/alerts/{drill[0]}/answer"),
            headers={"Authorization": f"Bearer {token}"},
            json={"choices": GOOD, "message": message},
        ) as response:
            return response.status, await response.json()

    return run


def calls(sim, endpoint: str) -> int:
    """Calls that reached an endpoint since `fail_all` (each used up one fault)."""
    fault = sim.faults.get(endpoint)
    return MANY - (fault.times if fault else 0)


def fail_all(sim, endpoint: str, status: int = 500) -> None:
    sim.inject_fault(endpoint, status, times=MANY)


async def test_an_answer_is_accepted_while_lines_verify_endpoint_fails(sim, drill, answer):
    fail_all(sim, "verify")
    status, view = await answer(sim.issue_id_token(drill[1]), "無事です")
    assert status == 200, view
    assert (await Answer.get(alert_id=drill[0])).message == "無事です"
    assert calls(sim, "verify") == 0


async def test_lines_keys_are_fetched_once_for_many_tokens(sim, drill, answer):
    assert (await answer(sim.issue_id_token(drill[1])))[0] == 200
    fail_all(sim, "certs")
    fail_all(sim, "verify")
    for n in range(3):
        assert (await answer(sim.issue_id_token(drill[1]), f"第{n}報"))[0] == 200
    assert calls(sim, "certs") == 0 and calls(sim, "verify") == 0


async def test_a_rotated_key_is_fetched_when_a_token_names_it(sim, drill, answer, monkeypatch):
    assert (await answer(sim.issue_id_token(drill[1]), "前"))[0] == 200
    monkeypatch.setattr("web.line_keys.REFETCH_INTERVAL", 0.0)
    sim.signer.rotate()
    fail_all(sim, "verify")
    status, _ = await answer(sim.issue_id_token(drill[1]), "後")
    assert status == 200
    assert calls(sim, "verify") == 0
    assert (await Answer.get(alert_id=drill[0])).message == "後"


async def test_made_up_key_ids_do_not_make_us_fetch_lines_keys_again(sim, drill, answer):
    assert (await answer(sim.issue_id_token(drill[1])))[0] == 200
    stranger = ec.generate_private_key(ec.SECP256R1())
    fail_all(sim, "certs")
    for n in range(3):
        forged = jwt.encode(
            {"iss": "https://access.line.me", "sub": drill[1], "aud": LOGIN_CHANNEL_ID,
             "exp": int(sim.clock.now()) + 600},
            stranger, algorithm="ES256", headers={"kid": f"made-up-{n}"},
        )  # fmt: skip
        status, body = await answer(forged)
        assert status == 401 and body["error"] == "invalid_id_token"  # LINE's verify says no
    assert calls(sim, "certs") == 0
    assert (await Answer.get(alert_id=drill[0])).revision == 1


async def test_lines_verify_endpoint_decides_when_its_keys_cannot_be_fetched(sim, drill, answer):
    fail_all(sim, "certs")
    status, _ = await answer(sim.issue_id_token(drill[1]))
    assert status == 200  # LINE's verify endpoint vouched for it
    assert calls(sim, "certs") >= 1


async def test_with_neither_keys_nor_verify_endpoint_the_answer_waits_for_line(sim, drill, answer):
    fail_all(sim, "certs")
    fail_all(sim, "verify")
    status, body = await answer(sim.issue_id_token(drill[1]))
    assert status == 503 and body["error"] == "line_unavailable"
    assert not await Answer.exists(alert_id=drill[0])


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "9999999999"},
        {"iss": "https://evil.example"},
        {"exp": -10},  # relative to now
    ],
    ids=["other-channel", "other-issuer", "expired"],
)
async def test_a_token_signed_by_line_with_wrong_claims_is_refused_locally(
    sim, drill, answer, claims
):
    now = int(sim.clock.now())
    payload = {"iss": "https://access.line.me", "sub": drill[1], "aud": LOGIN_CHANNEL_ID,
               "exp": now + 600, "iat": now}  # fmt: skip
    payload.update(claims)
    if "exp" in claims:
        payload["exp"] = now + claims["exp"]
    fail_all(sim, "verify")
    status, body = await answer(sim.signer.issue(payload))
    assert status == 401 and body["error"] == "invalid_id_token"
    assert calls(sim, "verify") == 0


def _forged(token: str, how: str) -> str:
    """A token LINE issued, altered after signing in one way."""
    header, payload, signature = token.split(".")
    if how == "payload":  # another user's ID under LINE's signature
        claims = jwt.decode(token, options={"verify_signature": False})
        claims["sub"] = "U" + "f" * 32
        payload = jwt.utils.base64url_encode(
            json.dumps(claims, separators=(",", ":")).encode()
        ).decode()
    elif how == "foreign-key":  # signed by someone else's P-256 key, naming LINE's key ID
        kid = jwt.get_unverified_header(token)["kid"]
        claims = jwt.decode(token, options={"verify_signature": False})
        return jwt.encode(
            claims, ec.generate_private_key(ec.SECP256R1()), "ES256", headers={"kid": kid}
        )
    elif how == "header":  # a header that is not JSON: nobody could have signed it
        header = jwt.utils.base64url_encode(b"not json").decode()
    elif how == "truncated":
        signature = signature[:-4]
    elif how == "flipped":
        signature = ("B" if signature[0] == "A" else "A") + signature[1:]
    return f"{header}.{payload}.{signature}"


@pytest.mark.parametrize("how", ["payload", "foreign-key", "header", "truncated", "flipped"])
async def test_a_token_altered_after_line_signed_it_is_refused_locally(sim, drill, answer, how):
    fail_all(sim, "verify")
    status, body = await answer(_forged(sim.issue_id_token(drill[1]), how))
    assert status == 401 and body["error"] == "invalid_id_token"
    assert calls(sim, "verify") == 0
    assert not await Answer.filter(alert_id=drill[0]).exists()


async def test_tokens_checked_together_each_get_their_own_verdict(sim, drill, answer):
    """Signatures are checked in a thread, several at a time: answers sent at once, every
    other one forged, are each accepted or refused on their own token."""
    fail_all(sim, "verify")
    sent = [
        _forged(sim.issue_id_token(drill[1]), "flipped") if n % 2 else sim.issue_id_token(drill[1])
        for n in range(24)
    ]
    outcomes = await asyncio.gather(*(answer(token, str(n)) for n, token in enumerate(sent)))
    assert [status for status, _ in outcomes] == [401 if n % 2 else 200 for n in range(24)]
    assert calls(sim, "verify") == 0


def _signed(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """An ES256 signature as a JWS carries it: r and s, 32 bytes each."""
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


async def test_the_signature_thread_outlives_a_caller_that_left_and_stops_when_closed():
    key = ec.generate_private_key(ec.SECP256R1())
    public, data = key.public_key(), b"header.payload"
    checks = SignatureThread()
    checks.check(public, data, _signed(key, data)).cancel()  # the phone went away
    assert await asyncio.wait_for(checks.check(public, data, _signed(key, data)), 10) is True
    other = ec.generate_private_key(ec.SECP256R1())
    assert await asyncio.wait_for(checks.check(public, data, _signed(other, data)), 10) is False
    altered = data + b"!"
    assert await asyncio.wait_for(checks.check(public, altered, _signed(key, data)), 10) is False
    thread = checks._thread
    assert thread is not None and thread.is_alive()
    checks.close()
    await until(lambda: not thread.is_alive())


async def test_an_error_in_the_signature_thread_reaches_the_caller():
    checks = SignatureThread()
    try:
        with pytest.raises(TypeError):  # not an EC key: cryptography refuses the call
            await asyncio.wait_for(checks.check(Ed25519PrivateKey.generate().public_key(),
                                                b"data", bytes(64)), 10)  # fmt: skip
        key = ec.generate_private_key(ec.SECP256R1())
        assert await asyncio.wait_for(checks.check(key.public_key(), b"d", _signed(key, b"d")), 10)
    finally:
        checks.close()
