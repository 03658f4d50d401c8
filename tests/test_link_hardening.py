"""The link page under attack: only tokens the bot obtained, hashing off the event loop,
attempt limits per LINE user and per address (atomic under concurrency), and a link that
succeeded is never reported as failed."""

from __future__ import annotations

import asyncio
import re
import secrets
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from argon2 import PasswordHasher

from bot.link_views import ADDRESS_BURST
from domain.linking import (
    SIGN_IN_LIMIT,
    issue_registration_code,
    link_expired_message,
    sign_in_failed_message,
)
from line_simulator import account_link
from models import Employee, InboxStatus, LineAccount, LinkNonce, LinkToken, Throttle
from tests.conftest import LineActions, make_company, until
from tests.test_linking import (
    LINK_DONE,
    account_link_event,
    handled,
    linked_employee_id,
    nonce_of,
    open_dialog,
    says_link_failed,
)

# The page's texts as an unknown (Japanese) visitor reads them.
LINK_EXPIRED = link_expired_message()
SIGN_IN_FAILED = sign_in_failed_message()
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class SpyHasher:
    """A cheap Argon2 hasher that counts verifications and can hold them at a gate."""

    def __init__(self) -> None:
        self._inner = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified = 0
        self.gate: threading.Event | None = None
        self.holding = threading.Event()  # a verification is waiting at the gate
        self.passed = threading.Event()  # a verification went through the gate

    def hash(self, password: str) -> str:
        """Hash as the real hasher does, at a tiny cost."""
        return self._inner.hash(password)

    def verify(self, hash: str, password: str) -> bool:
        """Verify, first waiting at the gate when one is set (in whatever thread runs it)."""
        self.verified += 1
        if self.gate is not None:
            self.holding.set()
            self.gate.wait(timeout=5)  # a safety valve: the test opens the gate
            self.passed.set()
        return self._inner.verify(hash, password)


@pytest.fixture(autouse=True)
def hasher(monkeypatch: pytest.MonkeyPatch) -> SpyHasher:
    """Registration codes hashed cheaply, with every verification counted."""
    spy = SpyHasher()
    monkeypatch.setattr("domain.hashing._hasher", spy)
    return spy


@pytest.fixture
async def company():
    """Two employees in one department."""
    return await make_company({"総務部": [("E001", "山田 太郎"), ("E002", "佐藤 花子")]})


async def sign_in_form(line: LineActions, url: str) -> dict[str, str]:
    """Open the link page and return its form, filled with the page's hidden fields."""
    status, html = await line.open_link_page(url)
    assert status == 200, html
    return {
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1),
        "linkToken": re.search(r'name="linkToken" value="([^"]+)"', html).group(1),
    }


async def post_form(line: LineActions, form: dict[str, str]) -> tuple[int, str, dict[str, str]]:
    """POST the sign-in form; return status, HTML and headers."""
    async with line.session.post(
        line.bot.make_url("/link"), data=form, allow_redirects=False
    ) as response:
        return response.status, await response.text(), dict(response.headers)


def error_of(html: str) -> str:
    """The error the page shows."""
    return re.search(r'<p class="error" role="alert">([^<]*)</p>', html).group(1)


# Only link tokens the bot obtained from LINE, and before any hashing


@SQLITE_ONLY
@pytest.mark.parametrize("token", ["forged", "not-obtained-by-the-bot", "expired", "used"])
async def test_link_page_refuses_a_token_the_bot_did_not_obtain_before_any_hashing(
    sim, bot, line, company, hasher, token
):
    user_id = await line.befriend("たろう")
    url = await line.link_url(user_id)
    form = await sign_in_form(line, url)  # this browser's CSRF token, from a good page
    if token == "forged":
        form["linkToken"] = secrets.token_urlsafe(32)
    if token == "not-obtained-by-the-bot":  # genuine at LINE, but the bot never asked for it
        form["linkToken"] = account_link.issue_link_token(sim, user_id)
    if token in ("forged", "not-obtained-by-the-bot"):
        url = f"{bot.make_url('/link')}?{urlencode({'linkToken': form['linkToken']})}"
    if token == "expired":
        await LinkToken.all().update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    if token == "used":
        issued = await issue_registration_code(company.employees["E001"])
        first = {**form, "employee_code": "E001", "registration_code": issued.code}
        assert (await post_form(line, first))[0] == 302
    verified_before = hasher.verified

    page_status, page = await line.open_link_page(url)
    form.update(employee_code="E002", registration_code="WRNG-CDE2")
    status, html, _ = await post_form(line, form)

    assert page_status == 400 and LINK_EXPIRED in page and 'name="registration_code"' not in page
    assert status == 400 and LINK_EXPIRED in html
    assert hasher.verified == verified_before
    assert not await Throttle.all().exists()


# Hashing off the event loop


@SQLITE_ONLY
async def test_server_keeps_answering_while_a_registration_code_is_checked(
    sim, bot, line, company, hasher
):
    await issue_registration_code(company.employees["E001"])
    user_id = await line.befriend("たろう")
    form = await sign_in_form(line, await line.link_url(user_id))
    form.update(employee_code="E001", registration_code="WRNG-CDE2")
    hasher.gate = threading.Event()

    sign_in = asyncio.create_task(post_form(line, form))
    await until(hasher.holding.is_set)
    async with line.session.get(bot.make_url("/healthz")) as health:
        assert health.status == 200
    answered_while_checking = not hasher.passed.is_set()
    hasher.gate.set()
    status, html, _ = await sign_in

    assert answered_while_checking
    assert status == 422 and SIGN_IN_FAILED in html


# Attempt limits


async def test_concurrent_wrong_guesses_count_exactly_the_limit(sim, bot, line, company, hasher):
    issued = await issue_registration_code(company.employees["E001"])
    guesser = await line.befriend("だれか")
    form = await sign_in_form(line, await line.link_url(guesser))
    wrong = {**form, "employee_code": "E001", "registration_code": "WRNG-CDE2"}

    answers = await asyncio.gather(*(post_form(line, wrong) for _ in range(40)))
    right_status, right_html, right_headers = await post_form(
        line, {**form, "employee_code": "E001", "registration_code": issued.code}
    )

    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [422] * SIGN_IN_LIMIT + [429] * (40 - SIGN_IN_LIMIT)
    assert (await Throttle.get()).attempts == SIGN_IN_LIMIT
    assert hasher.verified == SIGN_IN_LIMIT  # refused attempts never reach a hash
    assert right_status == 429 and int(right_headers["Retry-After"]) > 0
    assert "一時的に受け付けを停止" in right_html
    assert await LinkNonce.all().count() == 0


@SQLITE_ONLY
async def test_locked_unknown_and_wrong_answer_alike(sim, bot, line, company):
    await issue_registration_code(company.employees["E001"])
    pages = {}
    for target in ("E001", "E999"):  # an employee who holds a code, and nobody
        guesser = await line.befriend(f"{target}を狙う人")
        form = await sign_in_form(line, await line.link_url(guesser))
        form.update(employee_code=target, registration_code="WRNG-CDE2")
        pages[target] = [await post_form(line, form) for _ in range(SIGN_IN_LIMIT + 1)]

    for target, answers in pages.items():
        assert [status for status, _, _ in answers] == [422] * SIGN_IN_LIMIT + [429], target
    assert [error_of(html) for _, html, _ in pages["E001"]] == [
        error_of(html) for _, html, _ in pages["E999"]
    ]
    assert all(error_of(html) == SIGN_IN_FAILED for _, html, _ in pages["E001"][:-1])


@SQLITE_ONLY
async def test_sign_ins_from_one_address_are_limited(sim, bot, line, hasher):
    user_id = await line.befriend("たろう")
    form = await sign_in_form(line, await line.link_url(user_id))
    form.update(linkToken="forged", employee_code="E001", registration_code="WRNG-CDE2")

    answers = []
    while len(answers) < ADDRESS_BURST + 30:  # the bucket refills slowly: a 429 comes soon
        answers.append(await post_form(line, form))
        if answers[-1][0] == 429:
            break

    status, html, headers = answers[-1]
    assert status == 429 and int(headers["Retry-After"]) >= 1
    assert "集中しているため" in html and "後にもう一度お試しください" in html
    assert 'name="registration_code"' in html  # the form stays, to send again later
    assert len(answers) > ADDRESS_BURST  # the burst itself is allowed
    assert hasher.verified == 0


async def test_one_link_token_signs_in_once_even_when_submitted_twice_at_once(
    sim, bot, line, company
):
    issued = await issue_registration_code(company.employees["E001"])
    user_id = await line.befriend("たろう")
    form = await sign_in_form(line, await line.link_url(user_id))
    right = {**form, "employee_code": "E001", "registration_code": issued.code}

    answers = await asyncio.gather(post_form(line, right), post_form(line, right))

    assert sorted(status for status, _, _ in answers) == [302, 400]
    assert await LinkNonce.all().count() == 1
    assert (await LinkToken.get()).used_at is not None


# A link that succeeded is reported as done


async def test_retried_account_link_event_of_the_linked_user_says_done(sim, bot, line, company):
    yamada = company.employees["E001"]
    user_id = await line.befriend("たろう")
    issued = await issue_registration_code(yamada)
    response = await line.sign_in(await line.link_url(user_id), "E001", issued.code)
    await open_dialog(line, user_id, response)
    assert LINK_DONE in line.texts(user_id)[-1]

    # The inbox retries an event whose handling failed after the binding committed.
    retry = account_link_event(sim, user_id, nonce_of(response))
    assert await sim.send_events([retry]) == 200
    await handled(retry)

    assert LINK_DONE in line.texts(user_id)[-1] and not says_link_failed(line.texts(user_id)[-1])
    assert await linked_employee_id(user_id) == yamada.id


@SQLITE_ONLY
async def test_link_is_reported_done_when_reading_the_display_name_fails(sim, bot, line, company):
    user_id = await line.befriend("たろう")
    issued = await issue_registration_code(company.employees["E001"])
    response = await line.sign_in(await line.link_url(user_id), "E001", issued.code)
    sim.users[user_id].display_name = None  # LINE answers a profile the SDK cannot read

    await open_dialog(line, user_id, response)

    texts = line.texts(user_id)
    assert LINK_DONE in texts[-1] and not any(says_link_failed(text) for text in texts)
    row = await handled(sim.last_events[-1])
    assert (row.status, row.attempts) == (InboxStatus.DONE, 1)
    assert await linked_employee_id(user_id) == company.employees["E001"].id


@SQLITE_ONLY
async def test_long_display_name_is_kept_within_its_column(sim, bot, line, company):
    user_id = await line.befriend("た" * 300)
    issued = await issue_registration_code(company.employees["E001"])
    response = await line.sign_in(await line.link_url(user_id), "E001", issued.code)

    await open_dialog(line, user_id, response)

    assert LINK_DONE in line.texts(user_id)[-1]
    assert (await LineAccount.get(user_id=user_id)).display_name == "た" * 200


async def test_employee_retired_after_signing_in_is_not_linked(sim, bot, line, company):
    yamada = company.employees["E001"]
    user_id = await line.befriend("たろう")
    issued = await issue_registration_code(yamada)
    response = await line.sign_in(await line.link_url(user_id), "E001", issued.code)
    await Employee.filter(id=yamada.id).update(active=False)

    await open_dialog(line, user_id, response)

    assert says_link_failed(line.texts(user_id)[-1])
    assert await linked_employee_id(user_id) is None
    assert not await LineAccount.filter(employee_id=yamada.id).exists()
