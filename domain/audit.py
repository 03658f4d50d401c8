"""The audit log. Every action is one domain function that takes an `Actor` and runs its change
inside `audited(...)`, which writes the action's row in the same transaction: a change without
its "ok" row cannot be committed, and a refusal or failure is recorded too. Faces never write
rows; they read them with `entries`."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from domain.actors import Actor
from domain.errors import Forbidden, Throttled
from models import AuditEntry


@dataclass
class Audit:
    """The row an action fills in while it runs: what it touched and how it went (never a
    secret or what people wrote)."""

    target: str = ""
    detail: dict[str, Any] | None = None
    result: str = "ok"  # an action that ends quietly without acting may say "refused"


def _row(actor: Actor, action: str, audit: Audit, result: str) -> AuditEntry:
    return AuditEntry(
        via=str(actor.via), actor=actor.name[:100], action=action[:64],
        target=str(audit.target)[:200], result=result, detail=audit.detail,
    )  # fmt: skip


def outcome_of(exc: BaseException) -> str:
    """How an action that raised is recorded: a rule saying no (who may, how often) is
    "refused"; anything else, a broken rule of input or state or a crash, is "failed"."""
    return "refused" if isinstance(exc, Forbidden | Throttled) else "failed"


@contextlib.asynccontextmanager
async def audited(actor: Actor, action: str, target: str = "") -> AsyncIterator[Audit]:
    """Run the body as one transaction that ends by writing this action's row.

    When the body raises, its changes roll back and a "refused"/"failed" row is written on its
    own (a refusal is worth knowing about: a stranger's bind codes, a supervisor beyond their
    departments). Work that must follow the commit (waking a worker) goes after the block."""
    audit = Audit(target=target)
    try:
        async with in_transaction() as connection:
            yield audit
            await _row(actor, action, audit, audit.result).save(using_db=connection)
    except BaseException as exc:
        if isinstance(exc, Exception):
            with contextlib.suppress(Exception):  # the rollback's reason matters more
                await _row(actor, action, audit, outcome_of(exc)).save()
        raise


async def log_action(actor: Actor, action: str, target: str = "", result: str = "ok",
                     detail: dict[str, Any] | None = None) -> None:  # fmt: skip
    """Write one row for an action that changes nothing (a sign-in refused, an export)."""
    await _row(actor, action, Audit(target=target, detail=detail), result).save()


@dataclass(frozen=True)
class AuditFilter:
    """Which rows to list: by actor (exact), by time range; newest first."""

    actor: str = ""
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 200


async def entries(query: AuditFilter) -> list[AuditEntry]:
    """Audit rows matching the filter, newest first."""
    rows = AuditEntry.all()
    if query.actor:
        rows = rows.filter(actor=query.actor)
    # In UTC: SQLite compares stored moments as text, so a bound in another zone would miss.
    if query.since is not None:
        rows = rows.filter(at__gte=query.since.astimezone(UTC))
    if query.until is not None:
        rows = rows.filter(at__lt=query.until.astimezone(UTC))
    return await rows.order_by("-at", "-id").limit(max(1, min(query.limit, 1000)))
