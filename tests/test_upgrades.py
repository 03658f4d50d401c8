"""Upgrades lose nothing: a database created at migration 0001 and filled with a row of every
kind (every table of 0001, nullable columns both set and empty, Japanese text, JSON), filled
again at 0005 (every table 0002-0005 created), is migrated to the latest migration, on SQLite
and on PostgreSQL; every row is still there with every value it had, and the models read them
all.

The rows are written with plain SQL, as the code of that day would have left them: today's
models know columns those migrations did not have."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from tortoise import Tortoise
from tortoise.connection import get_connection
from tortoise.migrations.api import migrate as run_migrations

from domain.tally import recount, tally
from models import (
    AdminGroup,
    Alert,
    AlertRecipient,
    AlertRound,
    Answer,
    AnswerRevision,
    AuditEntry,
    ConsoleUser,
    Delivery,
    Department,
    Employee,
    GroupBindCode,
    InboxEvent,
    LineAccount,
    LinkNonce,
    LinkToken,
    OrganizationSettings,
    PendingCommand,
    RegistrationCode,
    RichMenu,
    Template,
    Throttle,
    UsageDay,
)  # fmt: skip
from models.db import close_database, migrate, migration_config, open_database, pending_migrations
from tests.conftest import _admin, _with_database

T0 = datetime(2025, 3, 11, 5, 46, 18, tzinfo=UTC)
T1 = datetime(2025, 3, 11, 6, 0, 0, 123456, tzinfo=UTC)
ITEMS = [{"label": "本人", "choices": ["無事", "軽傷", "重傷"], "required": True}]
CHOICES = {"本人": "軽傷"}

# Columns later migrations removed on purpose (0003: attempts moved to the throttle table).
DROPPED = {("registration_code", "attempts")}

# A row of every table migration 0001 created, in an order that satisfies its foreign keys.
ROWS_AT_0001: list[tuple[str, dict[str, Any]]] = [
    ("department", {"id": 1, "name": "本社", "created_at": T0, "parent_id": None}),
    ("department", {"id": 2, "name": "総務部", "created_at": T0, "parent_id": 1}),
    ("employee", {"id": 1, "code": "E0001", "name": "山田 太郎", "email": "yamada@example.jp",
                  "active": True, "created_at": T0, "department_id": 2}),
    ("employee", {"id": 2, "code": "E0002", "name": "佐藤 花子", "email": None,
                  "active": False, "created_at": T0, "department_id": None}),
    ("inbox_event", {"id": 1, "webhook_event_id": "01HZZZZZZZZZZZZZZZZZZZZZZZ",
                     "event_type": "message", "payload": json.dumps({"type": "message"}),
                     "status": "done", "attempts": 1, "last_error": None, "claimed_at": T0,
                     "received_at": T0, "processed_at": T1}),
    ("inbox_event", {"id": 2, "webhook_event_id": "01HZZZZZZZZZZZZZZZZZZZZZZY",
                     "event_type": "follow", "payload": json.dumps({"type": "follow"}),
                     "status": "failed", "attempts": 5, "last_error": "TypeError",
                     "claimed_at": None, "received_at": T0, "processed_at": None}),
    ("line_account", {"id": 1, "user_id": "U" + "1" * 32, "display_name": "たろう",
                      "followed": True, "blocked": False, "linked_at": T1, "created_at": T0,
                      "updated_at": T1, "employee_id": 1}),
    ("line_account", {"id": 2, "user_id": "U" + "2" * 32, "display_name": "",
                      "followed": False, "blocked": True, "linked_at": None, "created_at": T0,
                      "updated_at": T0, "employee_id": None}),
    ("registration_code", {"id": 1, "code_hash": "$argon2id$v=19$m=1024,t=1,p=1$x$y",
                           "expires_at": T1, "attempts": 2, "used_at": T1, "revoked": False,
                           "created_at": T0, "employee_id": 1}),
    ("link_nonce", {"id": 1, "nonce_hash": "a" * 64, "expires_at": T1, "used_at": None,
                    "created_at": T0, "employee_id": 1, "registration_code_id": 1}),
    ("template", {"id": 1, "key": "earthquake", "title": "【地震】安否確認",
                  "message": "震度6強の地震が発生しました。", "items": json.dumps(ITEMS),
                  "line_enabled": True, "email_enabled": False, "created_at": T0,
                  "updated_at": T0}),
    ("alert", {"id": 1, "title": "【地震】安否確認", "message": "至急回答してください",
               "items": json.dumps(ITEMS), "sender_name": "総務部", "drill": True,
               "line_enabled": True, "email_enabled": False, "started_at": T0,
               "closed_at": T1, "template_id": 1}),
    ("alert", {"id": 2, "title": "本番", "message": "", "items": json.dumps(ITEMS),
               "sender_name": "防災", "drill": False, "line_enabled": True,
               "email_enabled": True, "started_at": T1, "closed_at": None, "template_id": None}),
    ("alert_target_department", {"alert_id": 1, "department_id": 2}),
    ("alert_recipient", {"id": 1, "alert_id": 1, "employee_id": 1, "department_id": 2}),
    ("alert_recipient", {"id": 2, "alert_id": 2, "employee_id": 2, "department_id": None}),
    ("answer", {"id": 1, "choices": json.dumps(CHOICES, ensure_ascii=False),
                "message": "足を怪我しました", "channel": "liff", "revision": 2,
                "answered_at": T1, "alert_id": 1, "employee_id": 1}),
    ("answer_revision", {"id": 1, "revision": 1, "choices": json.dumps({"本人": "無事"}),
                         "message": "", "channel": "liff", "answered_at": T0, "answer_id": 1}),
    ("answer_revision", {"id": 2, "revision": 2, "choices": json.dumps(CHOICES),
                         "message": "足を怪我しました", "channel": "liff", "answered_at": T1,
                         "answer_id": 1}),
    ("delivery", {"id": 1, "medium": "line", "address": "U" + "1" * 32, "status": "sent",
                  "batch_key": str(uuid.UUID(int=1)), "attempts": 1, "reason": None,
                  "claimed_at": T0, "sent_at": T0, "created_at": T0, "alert_id": 1,
                  "employee_id": 1}),
    ("delivery", {"id": 2, "medium": "line", "address": "U" + "2" * 32, "status": "failed",
                  "batch_key": None, "attempts": 5, "reason": "HTTP 500", "claimed_at": None,
                  "sent_at": None, "created_at": T1, "alert_id": 2, "employee_id": 2}),
]  # fmt: skip
# A row of every table migrations 0002-0005 created, written at 0005 (0006 alters some).
ROWS_AT_0005: list[tuple[str, dict[str, Any]]] = [
    ("alert_round", {"id": 1, "round": 1, "kind": "reminder", "message": "未回答の方は至急",
                     "sender_name": "総務部", "recipients": 1, "started_at": T1, "alert_id": 1}),
    ("link_token", {"id": 1, "token_hash": "b" * 64, "user_id": "U" + "1" * 32,
                    "expires_at": T1, "used_at": None, "created_at": T0}),
    ("throttle", {"id": 1, "key": "link:U" + "1" * 32, "attempts": 3,
                  "window_started_at": T0, "blocked_until": T1}),
    ("audit_entry", {"id": 1, "at": T0, "via": "console", "actor": "admin",
                     "action": "alert_started", "target": "1", "result": "ok",
                     "detail": json.dumps({"drill": True})}),
    ("audit_entry", {"id": 2, "at": T1, "via": "cli", "actor": "cli", "action": "export",
                     "target": "", "result": "refused", "detail": None}),
    ("console_user", {"id": 1, "login": "soumu", "name": "総務 部長",
                      "password_hash": "$argon2id$v=19$m=1024,t=1,p=1$x$z",
                      "role": "supervisor", "active": True, "created_at": T0,
                      "last_login_at": None}),
    ("console_user_department", {"console_user_id": 1, "department_id": 2}),
    ("organization_settings", {"id": 1, "contact_info_viewable": True, "monthly_pack": 10000,
                               "updated_at": T0}),
    ("usage_day", {"id": 1, "day": date(2025, 3, 11), "messages": 1234}),
    ("admin_group", {"id": 1, "group_id": "C" + "3" * 32, "bound_by": "E0001",
                     "bound_at": T0}),
    ("group_bind_code", {"id": 1, "code_hash": "$argon2id$v=19$m=1024,t=1,p=1$g$h",
                         "created_by": "cli", "expires_at": T1, "used_at": T1,
                         "used_by_group": "C" + "3" * 32, "created_at": T0}),
    ("pending_command", {"id": 1, "token_hash": "c" * 64, "group_id": "C" + "3" * 32,
                         "user_id": "U" + "1" * 32, "command": "drill",
                         "payload": json.dumps({"template": "earthquake"}), "expires_at": T1,
                         "used_at": None, "created_at": T0, "employee_id": 1}),
    ("rich_menu", {"id": 1, "kind": "linked", "rich_menu_id": "richmenu-" + "d" * 32,
                   "digest": "e" * 64, "updated_at": T0}),
]  # fmt: skip


def _employee(id_: int, code: str, language: str) -> tuple[str, dict[str, Any]]:
    return ("employee", {"id": id_, "code": code, "name": code, "email": None, "active": True,
                         "created_at": T0, "department_id": None, "role": "member",
                         "email_enabled": True, "language": language, "password_hash": None,
                         "phone": "", "session_generation": 0})  # fmt: skip


# 0016: every employee had 'ja' by default; only a choice made on the employee page stays.
ROWS_AT_0011: list[tuple[str, dict[str, Any]]] = [
    _employee(10, "E0010", "en"),
    _employee(11, "E0011", "ja"),  # chose 日本語 on their page (audited below)
    _employee(12, "E0012", "ja"),  # the old default
    ("audit_entry", {"id": 3, "at": T1, "via": "me", "actor": "E0011",
                     "action": "language_set", "target": "", "result": "ok",
                     "detail": json.dumps({"language": "ja"})}),
]  # fmt: skip
STAGES = [
    ("models.0001_initial", ROWS_AT_0001),
    ("models.0005_rich_menus_admin_groups", ROWS_AT_0005),
    ("models.0011_channel_token", ROWS_AT_0011),
]
# Values a later migration changes on purpose (0016: an unchosen language becomes '').
CHANGED = {("employee", "language")}
MODELS = [Department, Employee, InboxEvent, LineAccount, RegistrationCode, LinkNonce, Template,
          Alert, AlertRecipient, Answer, AnswerRevision, Delivery, AlertRound, LinkToken,
          Throttle, AuditEntry, ConsoleUser, OrganizationSettings, UsageDay, AdminGroup,
          GroupBindCode, PendingCommand, RichMenu]  # fmt: skip


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_database(request, tmp_path):
    """An empty database (no migration applied)."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path}/upgrade.sqlite3"
        return
    base = os.environ.get("TEST_POSTGRES_URL")
    if not base:
        pytest.skip("TEST_POSTGRES_URL is not set: the PostgreSQL half of the suite is skipped")
    name = f"anpi_upgrade_{uuid.uuid4().hex[:12]}"
    await _admin(base, f'CREATE DATABASE "{name}"')
    yield _with_database(base, name)
    await _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _placeholders(url: str, count: int) -> str:
    if url.startswith("sqlite"):
        return ", ".join("?" * count)
    return ", ".join(f"${n}" for n in range(1, count + 1))


async def _fill(url: str, rows: list[tuple[str, dict[str, Any]]]) -> None:
    connection = get_connection("default")
    for table, row in rows:
        columns = ", ".join(f'"{c}"' for c in row)
        await connection.execute_query(
            f'INSERT INTO "{table}" ({columns}) VALUES ({_placeholders(url, len(row))})',
            list(row.values()),
        )
    if not url.startswith("sqlite"):  # the ids were given: move the sequences past them
        for table in {t for t, row in rows if "id" in row}:
            await connection.execute_query(
                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                f'(SELECT MAX(id) FROM "{table}"))'
            )


async def _snapshot(rows: list[tuple[str, dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table `rows` fills, ordered, all columns."""
    connection = get_connection("default")
    tables: dict[str, list[dict[str, Any]]] = {}
    for table in dict.fromkeys(t for t, _ in rows):
        key = next(iter(next(r for t, r in rows if t == table)))  # id, or the first key
        _, found = await connection.execute_query(f'SELECT * FROM "{table}" ORDER BY "{key}"')
        tables[table] = [dict(row) for row in found]
    return tables


async def test_a_database_filled_along_the_way_upgrades_to_the_latest_without_losing_a_row(
    empty_database,
):
    url = empty_database
    before: dict[str, list[dict[str, Any]]] = {}
    for target, rows in STAGES:
        # As `python -m bot migrate` applies them (models.db.migrate), up to `target`.
        await run_migrations(config=migration_config(url), target=target)
        await close_database()
        await open_database(url)
        try:
            assert await pending_migrations(url)
            await _fill(url, rows)
            before.update(await _snapshot(rows))
        finally:
            await close_database()

    await migrate(url)  # what `python -m bot migrate` runs
    await open_database(url)
    try:
        assert await pending_migrations(url) == []
        after = await _snapshot([row for _, rows in STAGES for row in rows])
        for table, rows in before.items():
            assert len(after[table]) == len(rows), table
            for old, new in zip(rows, after[table], strict=True):
                dropped = {c for c in old if c not in new}
                assert {(table, c) for c in dropped} <= DROPPED, (table, dropped)
                kept = [c for c in old if c not in dropped and (table, c) not in CHANGED]
                assert {c: new[c] for c in kept} == {c: old[c] for c in kept}, table
        # Today's models read every old row (new columns got their defaults).
        for model in MODELS:
            assert await model.all().count() == len(before[model._meta.db_table]), model
            await model.all()
        alert = await Alert.get(id=2)
        assert alert.title == "本番" and alert.closed_at is None and alert.email_enabled
        answer = await Answer.get(id=1).prefetch_related("revisions")
        assert answer.choices == CHOICES and answer.message == "足を怪我しました"
        assert [r.revision for r in answer.revisions] == [1, 2]
        # 0013 counted the answers already there, as they are now kept answer by answer.
        counted = await tally(answer.alert_id)
        assert counted.answered >= 1 and counted == await recount(answer.alert_id)
        assert sum(counted.choice_counts["本人"].values()) == counted.answered
        account = await LineAccount.get(user_id="U" + "1" * 32)
        assert account.employee_id == 1 and account.display_name == "たろう"
        assert await Template.filter(key="earthquake").count() == 1  # kept, not re-seeded
        languages = dict(await Employee.all().values_list("code", "language"))
        assert languages == {"E0001": "", "E0002": "", "E0010": "en", "E0011": "ja", "E0012": ""}
        settings = await OrganizationSettings.get(id=1)
        assert settings.monthly_pack == 10000 and settings.employee_passwords  # 0006's default
        user = await ConsoleUser.get(login="soumu").prefetch_related("departments")
        assert [d.name for d in user.departments] == ["総務部"]
        # And the upgraded database takes new rows.
        department = await Department.create(name="営業部", parent_id=1)
        await Employee.create(code="E0003", name="鈴木", department=department)
    finally:
        await close_database()
        await Tortoise.close_connections()
