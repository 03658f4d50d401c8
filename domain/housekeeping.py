"""Housekeeping: forget what is no longer needed (privacy, and tables that would only grow)."""

from datetime import timedelta

from domain import admin_groups, inbox, linking, throttle
from domain.actors import Actor
from domain.audit import log_action


async def tidy(inbox_retention: timedelta) -> int:
    """One bounded round of purging: handled webhook events past their retention, expired
    link tokens and nonces, finished attempt counters, expired admin-group confirmations and
    bind codes. Returns how many rows went."""
    return (
        await inbox.purge_finished(inbox_retention)
        + await linking.purge_expired()
        + await throttle.purge_stale()
        + await admin_groups.purge_expired()
    )


async def record_backup(actor: Actor, path: str, pages: int) -> None:
    """An operator copied the database: the audit log says who, where to and how much."""
    await log_action(actor, "database_backup", target=path[-200:], detail={"pages": pages})
