"""Prometheus metrics at `/metrics` (text format, prometheus-client), behind METRICS_TOKEN.

Counters live in this process (webhook events, acknowledgement latency, LINE API calls, worker
steps such as JMA polls); figures the database knows (deliveries by medium and state, outbox
depth, answers, open alerts) are read at scrape time, so every process reports the same.
Labels carry only bounded, impersonal values: event types, outcomes, endpoint templates (IDs
replaced), HTTP statuses, worker names, media and states. Never a user, a text or a token."""

import gc
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from http import HTTPStatus
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from tortoise.functions import Count

from bot.workers import Worker
from models import Alert, Answer, Delivery, DeliveryStatus

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()

WEBHOOK_EVENTS = Counter(
    "anpi_webhook_events",
    "Webhook events handled, by type and outcome (handled, failed, unreadable)",
    ["type", "outcome"],
    registry=REGISTRY,
)
WEBHOOK_REQUESTS = Counter(
    "anpi_webhook_requests", "Webhook requests answered, by HTTP status", ["status"],
    registry=REGISTRY,
)  # fmt: skip
ACK_SECONDS = Histogram(
    "anpi_webhook_ack_seconds",
    "Seconds from a webhook request's arrival to our answer (LINE allows 2)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0),
    registry=REGISTRY,
)
LINE_CALLS = Counter(
    "anpi_line_api_calls",
    "Messaging API calls, by endpoint (IDs replaced) and HTTP status (error: no answer)",
    ["endpoint", "status"],
    registry=REGISTRY,
)
WORKER_STEPS = Counter(
    "anpi_worker_steps",
    "Background worker steps (a JMA poll is a step of the jma worker), by outcome",
    ["worker", "outcome"],
    registry=REGISTRY,
)
DELIVERIES = Gauge(
    "anpi_deliveries", "Deliveries in the database, by medium and state", ["medium", "state"],
    registry=REGISTRY,
)  # fmt: skip
OUTBOX_DEPTH = Gauge(
    "anpi_outbox_depth", "Deliveries waiting to be sent (pending or being sent)",
    registry=REGISTRY,
)  # fmt: skip
ANSWERS = Gauge("anpi_answers", "Answers recorded (current ones, every alert)", registry=REGISTRY)
OPEN_ALERTS = Gauge("anpi_open_alerts", "Alerts still accepting answers", registry=REGISTRY)
# The garbage collector: collections by generation (a full one pauses the event loop), and
# the objects startup took out of its sight (bot.lifecycle.freeze_startup_heap; 0: not yet).
GCCollector(registry=REGISTRY)
Gauge(
    "anpi_gc_frozen_objects", "Objects of startup the garbage collector no longer walks",
    registry=REGISTRY,
).set_function(gc.get_freeze_count)  # fmt: skip

# Webhook event types LINE documents; anything else is counted as "other" (bounded labels).
EVENT_TYPES = frozenset(
    {
        "message", "unsend", "follow", "unfollow", "join", "leave", "memberJoined", "memberLeft",
        "postback", "videoPlayComplete", "beacon", "accountLink", "things", "membership",
        "module", "activated", "deactivated", "botSuspended", "botResumed",
    }
)  # fmt: skip
# Path segments that name someone or something (user, group, room, rich menu, message IDs):
# anything with a digit in it but an API version.
VERSION = re.compile(r"v\d+(\.\d+)?")
DIGIT = re.compile(r"\d")


def _is_id(segment: str) -> bool:
    return bool(DIGIT.search(segment)) and not VERSION.fullmatch(segment)


def endpoint_label(path: str) -> str:
    """A Messaging API path with every ID replaced: `/v2/bot/profile/{id}`."""
    return "/".join("{id}" if _is_id(s) else s for s in path.split("/"))


def observe_line_call(method: str, path: str, status: int | None) -> None:
    """Count one call to LINE (status None: no answer, a timeout or a broken connection)."""
    LINE_CALLS.labels(
        endpoint=f"{method.upper()} {endpoint_label(path)}",
        status=str(status) if status is not None else "error",
    ).inc()


def counted_dispatch(
    dispatch: Callable[[dict[str, Any]], Awaitable[None]],
) -> Callable[[dict[str, Any]], Awaitable[None]]:
    """`dispatch` counting each event by type and how its handling ended."""
    from domain.inbox import UnreadableEvent

    async def counted(payload: dict[str, Any]) -> None:
        kind = payload.get("type") if isinstance(payload, dict) else None
        kind = kind if isinstance(kind, str) and kind in EVENT_TYPES else "other"
        try:
            await dispatch(payload)
        except UnreadableEvent:
            WEBHOOK_EVENTS.labels(type=kind, outcome="unreadable").inc()
            raise
        except Exception:
            WEBHOOK_EVENTS.labels(type=kind, outcome="failed").inc()
            raise
        WEBHOOK_EVENTS.labels(type=kind, outcome="handled").inc()

    return counted


def counted_worker(worker: Worker) -> Worker:
    """The worker with each step counted: worked (did something), idle, or failed."""
    step = worker.step

    async def counted() -> int:
        try:
            handled = await step()
        except Exception:
            WORKER_STEPS.labels(worker=worker.name, outcome="failed").inc()
            raise
        WORKER_STEPS.labels(worker=worker.name, outcome="worked" if handled else "idle").inc()
        return handled

    return replace(worker, step=counted)


@web.middleware
async def webhook_timing(request: web.Request, handler: Any) -> web.StreamResponse:
    """Time the webhook's answer and count it by status."""
    if request.path != "/callback":
        return await handler(request)
    started = time.perf_counter()
    status = HTTPStatus.INTERNAL_SERVER_ERROR
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        ACK_SECONDS.observe(time.perf_counter() - started)
        WEBHOOK_REQUESTS.labels(status=str(int(status))).inc()


async def _read_database() -> None:
    DELIVERIES.clear()
    rows = (
        await Delivery.annotate(n=Count("id"))
        .group_by("medium", "status")
        .values("medium", "status", "n")
    )
    waiting = 0
    for row in rows:
        DELIVERIES.labels(medium=str(row["medium"]), state=str(row["status"])).set(row["n"])
        if row["status"] in (DeliveryStatus.PENDING, DeliveryStatus.SENDING):
            waiting += row["n"]
    OUTBOX_DEPTH.set(waiting)
    ANSWERS.set(await Answer.all().count())
    OPEN_ALERTS.set(await Alert.filter(closed_at__isnull=True).count())


def _authorized(request: web.Request, token: str) -> bool:
    given = request.headers.get("Authorization", "")
    scheme, _, credentials = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        credentials.strip().encode(), token.encode()
    )


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics: the Prometheus text format, for a bearer of METRICS_TOKEN only (unset:
    not served at all)."""
    # Imported here: bot.keys imports the LINE client, which imports this module to count.
    from bot.keys import CONFIG

    token = request.app[CONFIG].metrics_token
    if not token:
        raise web.HTTPNotFound()
    if not _authorized(request, token):
        raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    try:
        await _read_database()
    except Exception as exc:  # the counters are still worth serving
        log.warning("metrics: the database could not be read: %s", type(exc).__name__)
    return web.Response(
        body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
