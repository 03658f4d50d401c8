"""The e-mail side of the tests: a real SMTP server in-process (aiosmtpd) that keeps what it
receives and can refuse an address for good (5xx), for now (4xx) or not be there at all; and
the real app wired to it through SMTP_URL."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer, unused_port
from aiosmtpd.smtp import SMTP

from bot.app import create_app
from bot.lifecycle import REQUEST_GRACE
from domain.email_delivery import EmailSettings
from tests.conftest import (
    FAST_ENGINE,
    LIFF_ID,
    bot_config,
    free_port_socket,
    held_port_server,
    until,
)

ANSWER_LINK = re.compile(r"https?://\S+/liff/answer/[^\s<>\"]+")
FAST_EMAIL = EmailSettings(
    backoff_base=0.01, backoff_cap=0.05, idle_poll=0.05, stale_after=timedelta(seconds=0.3)
)
# Every worker of a mail-enabled app (the e-mail ones run only with SMTP_URL).
ALL_WORKERS = ("inbox", "delivery", "housekeeping", "email_plan", "email", "reminders")


@dataclass
class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps every message it accepts."""

    port: int = field(default_factory=unused_port)
    messages: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # address: "550 ..." or "451 ..."
    server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen (again) on the same port."""
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: SMTP(self, hostname="test-smtp"), "127.0.0.1", self.port
        )

    async def stop(self) -> None:
        """Stop listening: the next connection is refused."""
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    @property
    def url(self) -> str:
        """SMTP_URL for this server."""
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        """aiosmtpd's hook: refuse the addresses `refuse` names."""
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        """aiosmtpd's hook: keep the message."""
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        """Every message received for `address`, in order."""
        return [m for rcpts, m in self.messages if address in rcpts]


def text_of(message: EmailMessage) -> str:
    """The plain-text part."""
    return message.get_body(("plain",)).get_content()


def html_of(message: EmailMessage) -> str:
    """The HTML part."""
    return message.get_body(("html",)).get_content()


def link_in(message: EmailMessage) -> str:
    """The answer link in the plain-text part."""
    found = ANSWER_LINK.search(text_of(message))
    assert found, text_of(message)
    return found.group(0)


@contextlib.asynccontextmanager
async def smtp_server() -> AsyncIterator[SmtpSink]:
    """A running SmtpSink, stopped after the block."""
    sink = SmtpSink()
    await sink.start()
    try:
        yield sink
    finally:
        await sink.stop()


def fast_mail(monkeypatch: pytest.MonkeyPatch) -> None:
    """The e-mail engine, planner and scheduler wait hundredths of a second, not seconds."""
    monkeypatch.setattr("domain.email_delivery.DEFAULT_SETTINGS", FAST_EMAIL)
    monkeypatch.setattr("domain.email_plan.PLAN_POLL", 0.05)
    monkeypatch.setattr("domain.reminder_schedule.REMINDER_POLL", 0.05)


@contextlib.asynccontextmanager
async def mail_bot(
    sim: Any, database_url: str, smtp: SmtpSink, workers: tuple[str, ...] = ALL_WORKERS
) -> AsyncIterator[TestServer]:
    """The real app with SMTP_URL at `smtp`, on a real port, wired to the simulator."""
    listening = free_port_socket()
    port = listening.getsockname()[1]
    config = replace(bot_config(sim, database_url, port), smtp_url=smtp.url, workers=workers)
    app = create_app(config, engine_settings=FAST_ENGINE)
    server = held_port_server(app, listening, shutdown_timeout=REQUEST_GRACE)
    await server.start_server()
    sim.config.webhook_url = f"{config.public_base_url}/callback"
    sim.config.liff_apps[LIFF_ID] = f"{config.public_base_url}/liff/"
    try:
        yield server
    finally:
        await server.close()


async def received(smtp: SmtpSink, address: str, count: int = 1) -> list[EmailMessage]:
    """Wait until `address` has `count` messages; return them."""
    await until(lambda: len(smtp.to(address)) >= count)
    return smtp.to(address)


async def open_page(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    """GET a page as the employee's browser; status and HTML."""
    async with session.get(url, allow_redirects=False) as response:
        return response.status, await response.text()


def csrf_of(html: str) -> str:
    """The CSRF token of a page's form."""
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


async def answer_by_link(
    session: aiohttp.ClientSession, url: str, choices: list[str], message: str = ""
) -> tuple[int, str]:
    """Open the answer page, tick one choice per item (by its label) and send; follow the
    redirect. Return the final status and HTML."""
    status, html = await open_page(session, url)
    assert status == 200, html
    form = {"csrf_token": csrf_of(html), "message": message}
    for index, choice in enumerate(choices):
        if choice:
            form[f"item-{index}"] = choice
    async with session.post(url, data=form) as response:
        return response.status, await response.text()
