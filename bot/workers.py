"""Background workers: each has a name, a step, the topic that wakes it and a poll interval.
The app starts the workers its configuration names and cancels them on exit."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from domain.notify import Notifier, Topic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Worker:
    """One kind of background work. `step` does a bounded amount and returns how much."""

    name: str
    step: Callable[[], Awaitable[int]]
    topic: Topic
    poll: float


async def run_worker(worker: Worker, notifier: Notifier) -> None:
    """Call `step` until cancelled; when it did nothing, sleep until `worker.topic` is
    published or `worker.poll` seconds pass. A failing step is logged and retried after
    the pause, so one bad row never stops the worker."""
    wake = asyncio.Event()
    unsubscribe = notifier.subscribe(worker.topic, lambda _payload: wake.set())
    try:
        while True:
            wake.clear()  # before the step: work published during it wakes the next wait
            try:
                handled = await worker.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s step failed", worker.name)
                handled = 0
            if handled:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), worker.poll)
    finally:
        unsubscribe()


@contextlib.asynccontextmanager
async def running(workers: Sequence[Worker], notifier: Notifier) -> AsyncIterator[None]:
    """Run the workers as tasks for the duration of the block; cancel and await them after."""
    tasks = [asyncio.create_task(run_worker(w, notifier), name=f"worker:{w.name}") for w in workers]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
