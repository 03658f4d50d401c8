"""The audit log: every face records what was done, by whom, through which face."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from models import AuditEntry

VIAS = ("console", "line", "cli", "system")


async def record(
    via: str,
    actor: str,
    action: str,
    target: str = "",
    result: str = "ok",
    detail: dict[str, Any] | None = None,
) -> None:
    """Write one audit row (never a secret or what people wrote in it)."""
    await AuditEntry.create(
        via=via, actor=actor[:100], action=action[:64], target=str(target)[:200], result=result,
        detail=detail,
    )  # fmt: skip


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
