"""Retention (FAQ Q1: keep no more than needed): the housekeeping worker of a running server
deletes the answers of alerts closed long ago and what LINE told us about people who left,
keeps everything younger, and audits each purge as the system. And `python -m bot backup`."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.app import create_app
from bot.config import Config, ConfigError
from bot.keys import CONFIG, WORKERS
from domain.actors import Actor
from domain.alerts import start_alert
from domain.linking import record_unfollow, unlink
from models import (
    Alert,
    Answer,
    AnswerChannel,
    AuditEntry,
    Delivery,
    FamilyAnswer,
    FamilyAnswerRevision,
    FamilyMember,
    FamilyStatus,
    LineAccount,
    Template,
)
from models.db import close_database, open_database
from tests.conftest import (
    bot_config,
    free_port_socket,
    held_port_server,
    make_company,
    quick_link,
    until,
)
from tests.test_cli import run

NOW = datetime.now(UTC)
GOOD = {"本人": "無事", "家族": "全員無事", "家屋": "被害なし", "出社": "可能"}


async def _alert_with_answers(company, closed_days_ago: int | None) -> int:
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    for employee in company.employees.values():
        await Answer.create(
            alert_id=started.alert.id, employee=employee, choices=GOOD, message="無事です",
            channel=AnswerChannel.LIFF, answered_at=NOW,
        )  # fmt: skip
    if closed_days_ago is not None:
        await Alert.filter(id=started.alert.id).update(
            closed_at=NOW - timedelta(days=closed_days_ago)
        )
    return started.alert.id


async def _family_answer(member: FamilyMember, alert_id: int) -> None:
    answer = await FamilyAnswer.create(
        alert_id=alert_id, member=member, status=FamilyStatus.SAFE, message="家にいます",
        channel="line", answered_at=NOW,
    )  # fmt: skip
    await FamilyAnswerRevision.create(
        answer=answer, revision=1, status=FamilyStatus.SAFE, message="家にいます",
        channel="line", answered_at=NOW,
    )  # fmt: skip


async def _left(user_id: str, days_ago: int) -> None:
    await LineAccount.filter(user_id=user_id).update(updated_at=NOW - timedelta(days=days_ago))


async def test_the_housekeeping_worker_applies_retention_and_audits_it(sim, database_url):
    await open_database(database_url)
    try:
        company = await make_company({"総務部": [("E1", "山田"), ("E2", "佐藤"), ("E3", "鈴木")]})
        staying = await quick_link(sim, company.employees["E1"], "やまだ")
        blocked_long_ago = await quick_link(sim, company.employees["E2"], "さとう")
        unlinked_long_ago = await quick_link(sim, company.employees["E3"], "すずき")
        old = await _alert_with_answers(company, closed_days_ago=31)
        recent = await _alert_with_answers(company, closed_days_ago=29)
        still_open = await _alert_with_answers(company, closed_days_ago=None)
        await Alert.filter(id=still_open).update(started_at=NOW - timedelta(days=90))
        spouse = await FamilyMember.create(
            employee=company.employees["E1"], name="山田花子", relation="配偶者"
        )
        await _family_answer(spouse, old)
        await _family_answer(spouse, recent)
        await record_unfollow(blocked_long_ago)
        await _left(blocked_long_ago, 31)
        await unlink(unlinked_long_ago, Actor.cli())
        await _left(unlinked_long_ago, 31)
        blocked_lately = sim.add_user("最近ブロック").user_id
        await LineAccount.create(user_id=blocked_lately, display_name="最近", followed=False)
    finally:
        await close_database()

    listening = free_port_socket()
    port = listening.getsockname()[1]
    config = replace(
        bot_config(sim, database_url, port),
        workers=("housekeeping",),
        answer_retention_days=30,
        line_data_retention_days=30,
    )
    server = held_port_server(create_app(config), listening)
    await server.start_server()
    try:
        await until(lambda: AuditEntry.exists(action="line_data_purged"))
        await until(lambda: AuditEntry.exists(action="answers_purged"))

        assert not await Answer.filter(alert_id=old).exists()
        assert not await Delivery.filter(alert_id=old).exists()
        assert await Alert.exists(id=old)  # the alert and its roster stay
        assert await Answer.filter(alert_id=recent).count() == 3
        assert await Answer.filter(alert_id=still_open).count() == 3
        assert await Delivery.filter(alert_id=recent).count() == 3
        # What families wrote goes with the answers (revisions too), and only there.
        assert not await FamilyAnswer.filter(alert_id=old).exists()
        assert await FamilyAnswerRevision.filter(answer__alert_id=recent).count() == 1
        assert await FamilyAnswerRevision.all().count() == 1

        assert not await LineAccount.exists(user_id=blocked_long_ago)
        assert await LineAccount.exists(user_id=blocked_lately)
        unlinked = await LineAccount.get(user_id=unlinked_long_ago)
        assert unlinked.display_name == "" and unlinked.employee_id is None
        assert (await LineAccount.get(user_id=staying)).display_name == "やまだ"

        rows = await AuditEntry.filter(via="system").order_by("id")
        assert [(r.actor, r.action, r.result) for r in rows] == [
            ("system", "answers_purged", "ok"),
            ("system", "line_data_purged", "ok"),
        ]
        assert rows[0].detail == {
            "days": 30,
            "answers": 3,
            "deliveries": 3,
            "board": 0,
            "family": 2,
        }
        assert rows[1].detail == {"days": 30, "deleted": 1, "names_forgotten": 1}
        for row in rows:  # nobody's name or LINE user ID in the audit
            assert "やまだ" not in str(row.detail) and blocked_long_ago not in str(row.detail)
    finally:
        await server.close()


async def test_without_retention_settings_nothing_is_purged(sim, database_url):
    await open_database(database_url)
    try:
        company = await make_company({"総務部": [("E1", "山田")]})
        user_id = await quick_link(sim, company.employees["E1"])
        old = await _alert_with_answers(company, closed_days_ago=3650)
        await record_unfollow(user_id)
        await _left(user_id, 3650)
    finally:
        await close_database()
    listening = free_port_socket()
    port = listening.getsockname()[1]
    config = replace(bot_config(sim, database_url, port), workers=("housekeeping",))
    server = held_port_server(create_app(config), listening)
    await server.start_server()
    try:
        (worker,) = server.app[WORKERS]
        await until(lambda: worker.idle.is_set())  # one round done, asleep
        assert await Answer.filter(alert_id=old).count() == 1
        assert await LineAccount.exists(user_id=user_id)
        assert not await AuditEntry.filter(via="system").exists()
    finally:
        await server.close()


@pytest.mark.parametrize("raw", ["-1", "thirty", "1.5"])
def test_a_retention_that_is_not_whole_days_is_refused(raw):
    with pytest.raises(ConfigError, match="ANSWER_RETENTION_DAYS"):
        Config.from_env({"ANSWER_RETENTION_DAYS": raw})


def test_retention_is_off_unless_set():
    config = Config.from_env({"LINE_DATA_RETENTION_DAYS": "400"})
    assert (config.answer_retention_days, config.line_data_retention_days) == (0, 400)


# Backup


async def test_backup_copies_the_live_sqlite_database_and_audits_it(sim, bot, tmp_path):
    database_url = bot.app[CONFIG].database_url
    if not database_url.startswith("sqlite://"):
        pytest.skip("the online backup is SQLite's; PostgreSQL is backed up with pg_dump")
    company = await make_company({"総務部": [("E1", "山田")]})
    await quick_link(sim, company.employees["E1"])
    alert = await _alert_with_answers(company, closed_days_ago=None)
    target = tmp_path / "backup.sqlite3"

    code, out, err = await run("backup", str(target), env={"DATABASE_URL": database_url})
    assert code == 0, err
    assert "backed up" in out
    copy = sqlite3.connect(target)
    try:
        assert copy.execute(
            "SELECT message FROM answer WHERE alert_id = ?", (alert,)
        ).fetchall() == [("無事です",)]
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        copy.close()
    entry = await AuditEntry.get(action="database_backup")
    assert (entry.via, entry.actor, entry.target) == ("cli", "cli", str(target))

    code, _, err = await run("backup", str(target), env={"DATABASE_URL": database_url})
    assert code == 2 and "exists" in err


async def test_backup_of_postgresql_points_to_pg_dump(tmp_path):
    code, _, err = await run(
        "backup", str(tmp_path / "x"), env={"DATABASE_URL": "postgres://u@127.0.0.1:1/anpi"}
    )
    assert code == 2
    assert "pg_dump" in err
    assert not (tmp_path / "x").exists()
