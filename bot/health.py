"""Liveness (`/healthz`: the process answers) and readiness (`/readyz`: the process is not
stopping, the database answers, its migrations are current, the delivery engine runs where
this process runs one).

LINE is deliberately not checked: when LINE is slow or down the bot must stay in the load
balancer, keep taking webhooks and answers, and deliver once LINE is back."""

import asyncio
import logging
from http import HTTPStatus

from aiohttp import web
from tortoise.connection import get_connection

from bot.keys import CONFIG, STOPPING, WORKER_TASKS
from models.db import pending_migrations

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 3.0  # seconds a readiness check may take before it counts as failed
_migrated: set[str] = set()  # databases readiness saw migrated


async def healthz(request: web.Request) -> web.Response:
    """Liveness for the load balancer: the process answers."""
    return web.json_response({"status": "ok"})


async def _database() -> str:
    await get_connection("default").execute_query("SELECT 1")
    return "ok"


async def _migrations(app: web.Application) -> str:
    # Migrations are never un-applied under a running process: once current, stop asking.
    database_url = app[CONFIG].database_url
    if database_url in _migrated:
        return "ok"
    pending = await pending_migrations(database_url)
    if pending:
        return f"{len(pending)} pending"
    _migrated.add(database_url)
    return "ok"


def _delivery(app: web.Application) -> str:
    task = app.get(WORKER_TASKS, {}).get("delivery")
    if task is None:
        return "not run here"  # a web face started with WORKERS=none
    return "stopped" if task.done() else "running"


async def _check(name: str, probe: object) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            return await probe  # type: ignore[misc]
    except Exception as exc:
        log.warning("readiness check %s failed: %s", name, type(exc).__name__)
        return "failed"


async def readyz(request: web.Request) -> web.Response:
    """Readiness: 200 when every check passes, else 503; each check's result in the body.
    A process that is stopping is unready at once, so the load balancer sends elsewhere."""
    app = request.app
    if app[STOPPING].is_set():
        return web.json_response(
            {"status": "stopping", "checks": {}}, status=HTTPStatus.SERVICE_UNAVAILABLE
        )
    checks = {
        "database": await _check("database", _database()),
        "migrations": await _check("migrations", _migrations(app)),
        "delivery": _delivery(app),
    }
    ready = (
        checks["database"] == "ok"
        and checks["migrations"] == "ok"
        and checks["delivery"] != "stopped"
    )
    return web.json_response(
        {"status": "ready" if ready else "unready", "checks": checks},
        status=HTTPStatus.OK if ready else HTTPStatus.SERVICE_UNAVAILABLE,
    )
