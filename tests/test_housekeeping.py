"""Housekeeping forgets expired link tokens, nonces and finished attempt counters, and keeps
what is still live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.housekeeping import tidy
from domain.linking import issue_registration_code
from models import LinkNonce, LinkToken, RegistrationCode, Throttle
from tests.conftest import make_company

NOW = datetime.now(UTC)


async def test_tidy_purges_what_expired_and_keeps_what_is_live(db):
    company = await make_company({"総務部": [("E1", "山田")]})
    await issue_registration_code(company.employees["E1"])
    code = await RegistrationCode.first()
    await LinkToken.create(token_hash="old", user_id="U1", expires_at=NOW - timedelta(days=2))
    await LinkToken.create(token_hash="live", user_id="U1", expires_at=NOW + timedelta(minutes=5))
    for name, expires in (("old", NOW - timedelta(days=2)), ("live", NOW + timedelta(minutes=5))):
        await LinkNonce.create(
            nonce_hash=name, employee=company.employees["E1"], registration_code=code,
            expires_at=expires,
        )  # fmt: skip
    await Throttle.create(key="done", attempts=5, window_started_at=NOW - timedelta(days=3),
                          blocked_until=NOW - timedelta(days=2))  # fmt: skip
    await Throttle.create(key="quiet", attempts=1, window_started_at=NOW - timedelta(days=2))
    await Throttle.create(key="blocked", attempts=5, window_started_at=NOW,
                          blocked_until=NOW + timedelta(minutes=15))  # fmt: skip

    assert await tidy(timedelta(days=7)) == 4
    assert await LinkToken.all().values_list("token_hash", flat=True) == ["live"]
    assert await LinkNonce.all().values_list("nonce_hash", flat=True) == ["live"]
    assert await Throttle.all().values_list("key", flat=True) == ["blocked"]
    assert await tidy(timedelta(days=7)) == 0
