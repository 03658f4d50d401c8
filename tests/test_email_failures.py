"""When e-mail does not get through: an SMTP server that is down or says "try later" is
retried with backoff and, past the last attempt, reported FAILED with the reason; a 5xx at
SMTP time is a bounce, reported at once. Nothing is lost (a crashed send resumes), two engines
never send one message twice, and senders see the failures per alert: the console's alert
page, the admin group's /status and the list of who has not answered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from bot.config import ConfigError
from bot.mail_messages import delivery_mail
from bot.mailer import SmtpMailer, parse_smtp_url
from domain import admin_groups
from domain.actors import Actor
from domain.alerts import start_alert
from domain.delivery_report import delivery_problems
from domain.email_delivery import EmailEngine, EmailSettings
from domain.email_plan import plan_emails
from domain.scope import Scope
from domain.tally import unanswered
from models import Alert, Delivery, DeliveryStatus, Employee, Medium, Template
from tests.conftest import make_company, make_console_user, until
from tests.mail import SmtpSink, fast_mail, mail_bot, smtp_server
from tests.test_admin_group import Room, arrange_company, join

REFUSED = "550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown"
LATER = "451 4.3.0 Mailbox temporarily unavailable"
RENDER = partial(
    delivery_mail, public_base_url="http://127.0.0.1:9", secret_key="k", mail_from="anpi@localhost"
)
QUICK = EmailSettings(
    attempts_per_claim=2,
    max_attempts=4,
    backoff_base=0.001,
    backoff_cap=0.01,
    stale_after=timedelta(0),  # a claim left for a retry is due again at once
)


@pytest.fixture
async def smtp():
    async with smtp_server() as server:
        yield server


def engine(smtp: SmtpSink, settings: EmailSettings = QUICK) -> EmailEngine:
    return EmailEngine(SmtpMailer.from_url(smtp.url, "anpi@localhost"), RENDER, settings)


async def outbox(db, people: int = 3) -> Alert:
    """A drill to `people` employees with an address each, its e-mails planned."""
    await make_company({"総務部": [(f"E{n}", f"社員{n}") for n in range(1, people + 1)]})
    for employee in await Employee.all():
        employee.email = f"{employee.code.lower()}@example.com"
        await employee.save(update_fields=["email"])
    template = await Template.get(key="earthquake")
    template.email_enabled = True
    await template.save()
    alert = (await start_alert(Actor.cli(), template, drill=True)).alert
    await plan_emails()
    return alert


async def statuses(alert: Alert) -> dict[str, DeliveryStatus]:
    rows = Delivery.filter(alert_id=alert.id, medium=Medium.EMAIL)
    return dict(await rows.values_list("address", "status"))


async def test_smtp_down_is_retried_then_reported_failed_with_the_reason_and_nothing_is_lost(
    db, smtp
):
    alert = await outbox(db)
    await smtp.stop()
    await engine(smtp).run_until_idle()
    rows = await Delivery.filter(alert_id=alert.id, medium=Medium.EMAIL)
    assert len(rows) == 3
    for row in rows:
        assert row.status is DeliveryStatus.FAILED and row.attempts == QUICK.max_attempts
        assert row.reason.startswith("gave up after retries") and "SMTPConnect" in row.reason
    report = await delivery_problems(alert.id)
    assert [(p.medium_name, p.status_name, p.count) for p in report.problems] == [
        ("メール", "送信失敗", 3)
    ]


async def test_smtp_down_then_back_delivers_every_e_mail_once(db, smtp):
    alert = await outbox(db)
    await smtp.stop()
    sender = engine(smtp, EmailSettings(attempts_per_claim=1, max_attempts=10))
    assert await sender.run_once() == 3  # tried once: left claimed for a retry
    assert set((await statuses(alert)).values()) == {DeliveryStatus.SENDING}
    row = await Delivery.filter(alert_id=alert.id).first()
    assert row.reason.startswith("retrying")
    await smtp.start()
    await Delivery.filter(alert_id=alert.id).update(  # the retry falls due
        claimed_at=datetime.now(UTC) - timedelta(minutes=5)
    )
    await sender.run_until_idle()
    assert set((await statuses(alert)).values()) == {DeliveryStatus.SENT}
    for n in (1, 2, 3):
        assert len(smtp.to(f"e{n}@example.com")) == 1


async def test_a_try_later_answer_is_retried_until_the_server_accepts(db, smtp):
    alert = await outbox(db, people=2)
    smtp.refuse["e1@example.com"] = LATER
    sender = engine(smtp, EmailSettings(attempts_per_claim=1, max_attempts=10))
    await sender.run_once()
    assert await statuses(alert) == {
        "e1@example.com": DeliveryStatus.SENDING,
        "e2@example.com": DeliveryStatus.SENT,
    }
    assert "451" in (await Delivery.get(address="e1@example.com")).reason
    del smtp.refuse["e1@example.com"]
    await Delivery.filter(address="e1@example.com").update(
        claimed_at=datetime.now(UTC) - timedelta(minutes=5)
    )
    await sender.run_until_idle()
    assert (await statuses(alert))["e1@example.com"] is DeliveryStatus.SENT
    assert len(smtp.to("e1@example.com")) == len(smtp.to("e2@example.com")) == 1


async def test_a_permanent_refusal_at_smtp_time_is_a_bounce_recorded_at_once(db, smtp):
    alert = await outbox(db, people=2)
    smtp.refuse["e1@example.com"] = REFUSED
    await engine(smtp).run_until_idle()
    row = await Delivery.get(address="e1@example.com")
    assert row.status is DeliveryStatus.FAILED and row.attempts == 1
    assert row.reason.startswith("SMTP: 550") and "User unknown" in row.reason
    assert (await statuses(alert))["e2@example.com"] is DeliveryStatus.SENT


async def test_a_send_cut_short_by_a_crash_resumes_once_stale(db, smtp):
    alert = await outbox(db, people=2)
    # A process claimed the rows and died before SMTP answered.
    await Delivery.filter(alert_id=alert.id).update(
        status=DeliveryStatus.SENDING,
        batch_key="dead-process-batch",
        claimed_at=datetime.now(UTC) - timedelta(minutes=3),
    )
    sender = engine(smtp, EmailSettings())  # the production stale limit (2 minutes)
    await sender.run_until_idle()
    assert set((await statuses(alert)).values()) == {DeliveryStatus.SENT}
    assert len(smtp.to("e1@example.com")) == 1


async def test_a_claim_still_fresh_is_left_to_the_process_that_holds_it(db, smtp):
    alert = await outbox(db, people=1)
    await Delivery.filter(alert_id=alert.id).update(
        status=DeliveryStatus.SENDING, batch_key="alive", claimed_at=datetime.now(UTC)
    )
    assert await engine(smtp, EmailSettings()).run_once() == 0
    assert smtp.messages == []


async def test_two_engines_share_the_outbox_without_sending_anything_twice(db, smtp):
    alert = await outbox(db, people=30)
    settings = EmailSettings(batch_size=4)
    await asyncio.gather(
        engine(smtp, settings).run_until_idle(), engine(smtp, settings).run_until_idle()
    )
    assert set((await statuses(alert)).values()) == {DeliveryStatus.SENT}
    assert len(smtp.messages) == 30
    assert sorted(r[0] for r, _ in smtp.messages) == sorted(
        f"e{n}@example.com" for n in range(1, 31)
    )


@pytest.mark.parametrize(
    ("url", "host", "port", "tls", "starttls", "user", "password"),
    [
        ("smtp://mail.example.com", "mail.example.com", 25, False, None, None, None),
        ("smtp://u%40x:p%3Aw@mail.example.com:587?starttls=1", "mail.example.com", 587, False,
         True, "u@x", "p:w"),
        ("smtp://mail.example.com?starttls=1", "mail.example.com", 587, False, True, None, None),
        ("smtp://127.0.0.1:2525?starttls=0", "127.0.0.1", 2525, False, False, None, None),
        ("smtps://u:p@mail.example.com", "mail.example.com", 465, True, False, "u", "p"),
    ],
)  # fmt: skip
def test_smtp_url_says_where_and_how_to_send(url, host, port, tls, starttls, user, password):
    settings = parse_smtp_url(url)
    assert (settings.hostname, settings.port, settings.use_tls, settings.start_tls) == (
        host,
        port,
        tls,
        starttls,
    )
    assert (settings.username, settings.password) == (user, password)
    assert repr(settings) == f"SmtpSettings({host!r}, {port}, tls={tls})"  # no password


@pytest.mark.parametrize(
    "url", ["http://mail.example.com", "smtp://", "smtp://h?starttls=maybe", "smtp://h:99999"]
)
def test_a_malformed_smtp_url_is_a_configuration_error(url):
    with pytest.raises(ConfigError, match="SMTP_URL"):
        parse_smtp_url(url)


# Told to senders: the console, /status and who has not answered.


@pytest.fixture
async def bot(sim, database_url, smtp, monkeypatch):
    fast_mail(monkeypatch)
    async with mail_bot(sim, database_url, smtp) as server:
        yield server


@pytest.fixture
async def bounced(sim, bot, smtp):
    """The admin group's company; 伊藤 (開発部, no LINE) has an address the server refuses,
    and the drill to everyone has bounced for him."""
    company, users = await arrange_company(sim)
    await Employee.filter(code="E5").update(email="gone@example.com")
    smtp.refuse["gone@example.com"] = REFUSED
    template = await Template.get(key="earthquake")
    template.email_enabled = True
    await template.save()
    alert = (await start_alert(Actor.cli(), template, drill=True)).alert
    await until(lambda: Delivery.filter(address="gone@example.com", status="failed").exists())
    return company, users, alert


async def test_a_bounce_is_shown_on_the_console_s_alert_page_with_its_reason(bounced, console):
    _company, _users, alert = bounced
    await make_console_user("sender", "sender")
    await console.sign_in("sender")
    status, html = await console.get(f"/console/alerts/{alert.id}")
    assert status == 200 and 'id="delivery-problems"' in html
    assert "メール" in html and "送信失敗" in html and "User unknown" in html


async def test_a_supervisor_sees_the_bounces_of_their_departments_only(bounced, console):
    company, _users, alert = bounced
    await make_console_user("soumu", "supervisor", [company.departments["総務部"]])
    await make_console_user("kaihatsu", "supervisor", [company.departments["開発部"]])
    await console.sign_in("soumu")
    _, html = await console.get(f"/console/alerts/{alert.id}")
    assert "User unknown" not in html
    await console.post("/console/logout")
    await console.sign_in("kaihatsu")
    _, html = await console.get(f"/console/alerts/{alert.id}")
    assert "User unknown" in html


async def test_the_bounced_employee_is_listed_unreachable_by_e_mail(bounced, console):
    _company, _users, alert = bounced
    people = {p.code: p for p in await unanswered(alert.id, Scope.everything())}
    ito = people["E5"]
    assert ito.line == "未連携" and ito.email.startswith("送信失敗(SMTP: 550")
    assert ito.line_unreachable and ito.email_unreachable and ito.unreachable
    assert people["E2"].line in ("送信済", "送信中") and people["E2"].email == "なし"
    await make_console_user("sender", "sender")
    await console.sign_in("sender")
    _, html = await console.get(f"/console/alerts/{alert.id}/unanswered")
    assert "送信失敗(SMTP: 550" in html and "未連携" in html
    assert "どの連絡手段でも届いていない人" in html


async def test_status_in_the_admin_group_tells_the_failures(bounced, sim):
    _company, users, alert = bounced
    room = Room(sim, await join(sim, users), users)
    issued = await admin_groups.issue_bind_code(Actor.cli())
    await room.say("山田", f"/bind {issued.code}")
    reply = await room.say("山田", f"/status {alert.id}")
    assert "届かなかった連絡: メール送信失敗 1件(SMTP: 550" in reply


# E-mail is off unless SMTP_URL is set.


async def test_the_e_mail_workers_run_only_where_smtp_url_is_set():
    from bot.app import build_workers
    from bot.config import Config
    from bot.line_api import LineApi

    line = LineApi("http://127.0.0.1:9", "token")
    try:
        names = [w.name for w in build_workers(Config(secret_key="k"), line)]
        assert "reminders" in names and "email" not in names and "email_plan" not in names
        with_smtp = Config(secret_key="k", smtp_url="smtp://127.0.0.1:2525")
        names = [w.name for w in build_workers(with_smtp, line)]
        assert {"email_plan", "email", "reminders"} <= set(names)
        with pytest.raises(ConfigError, match="SECRET_KEY"):
            build_workers(Config(smtp_url="smtp://127.0.0.1:2525"), line)
    finally:
        await line.close()


def test_smtp_url_and_mail_from_are_read_from_the_environment():
    from bot.config import Config

    config = Config.from_env({"SMTP_URL": "smtps://u:p@mail.example.com", "MAIL_FROM": "a@b.jp"})
    assert (config.smtp_url, config.mail_from) == ("smtps://u:p@mail.example.com", "a@b.jp")
    assert Config.from_env({}).smtp_url == ""  # e-mail off
