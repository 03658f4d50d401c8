"""Running servers until SIGINT or SIGTERM, and stopping them within a bounded time.

A stop first drains: the process turns unready (`/readyz` 503, so a load balancer sends
elsewhere), the webhook answers new requests 503 (LINE redelivers them) while requests in
flight finish, and the workers stop at once, the delivery engine releasing its claimed
batches (under their retry keys) for another process to resume now. Then the site closes.
A request in flight between the bot and the local LINE platform can keep either server's
graceful shutdown waiting on the other, so each runner gives requests a short grace period
and the whole stop has a deadline."""

import asyncio
import contextlib
import gc
import logging
import signal

from aiohttp import web

from bot.keys import STOPPING, WORKER_TASKS
from bot.workers import stop_tasks

log = logging.getLogger(__name__)

DRAIN = 0.5  # seconds a stopping server still answers (the webhook 503) before its port closes
REQUEST_GRACE = 0.5  # seconds a request still in flight then gets to finish
STOP_DEADLINE = 3.0  # seconds the whole stop may take (the promise: the process exits within 5 s)


def make_runner(app: web.Application, **kwargs: object) -> web.AppRunner:
    """An AppRunner whose shutdown waits for requests in flight only REQUEST_GRACE seconds."""
    return web.AppRunner(app, shutdown_timeout=REQUEST_GRACE, handle_signals=False, **kwargs)


def freeze_startup_heap() -> None:
    """Once the server has started: take what startup made (modules, the ORM's models and
    migrations, templates, clients) out of the garbage collector's sight, for good.

    A full collection walks every object the collector tracks; with startup's objects in
    view each one stopped the event loop for 120-160 ms, every second or so under a burst of
    answers, and every request in flight waited (the p99 of benchmarks/answers.py). After
    this a full collection walks only what requests made since: a few milliseconds."""
    gc.collect()
    gc.freeze()


async def wait_for_stop_signal() -> None:
    """Return when the process gets SIGINT (Ctrl-C) or SIGTERM."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


async def stop_runners(*runners: web.AppRunner) -> None:
    """Stop every runner at once (each closes its sites, requests, workers and clients),
    giving up after STOP_DEADLINE seconds rather than hanging."""

    async def stop_one(runner: web.AppRunner) -> None:
        try:
            await drain(runner)
            await runner.cleanup()
        except Exception:
            log.exception("stopping a server failed")

    # Ignore further Ctrl-C while stopping: the stop is already bounded.
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, lambda: None)
    try:
        async with asyncio.timeout(STOP_DEADLINE):
            await asyncio.gather(*(stop_one(r) for r in runners))
    except TimeoutError:
        log.warning("stop took longer than %.0f s: leaving the rest to process exit", STOP_DEADLINE)


async def drain(runner: web.AppRunner) -> None:
    """Turn the runner's app unready (webhook 503) and stop its workers now; where it serves
    a port, keep answering for DRAIN seconds so callers learn it is stopping."""
    app = runner.app
    stopping = app.get(STOPPING)
    if stopping is None:
        return  # not one of ours (the demo's local LINE platform)
    stopping.set()
    waits = [stop_tasks(list(app.get(WORKER_TASKS, {}).values()))]
    if runner.sites:
        waits.append(asyncio.sleep(DRAIN))
    await asyncio.gather(*waits)
