"""Background workers: each has a name, a step, the topic that wakes it and a poll interval.
The app starts the workers its configuration names and cancels them on exit."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from domain.notify import Notifier, Topic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Worker:
    """One kind of background work. `step` does a bounded amount and returns how much."""

    name: str
    step: Callable[[], Awaitable[int]]
    topic: Topic | None  # None: nothing publishes this work, the poll finds it
    poll: float
    idle: asyncio.Event = field(default_factory=asyncio.Event, compare=False)  # set while asleep
    # Seconds until work the step left for later (a retry) falls due: the sleep ends then.
    due: Callable[[], Awaitable[float | None]] | None = None


async def run_worker(worker: Worker, notifier: Notifier) -> None:
    """Call `step` until cancelled; when it did nothing, sleep until `worker.topic` is
    published, `worker.poll` seconds pass or `worker.due` says deferred work is due. A
    failing step is logged and retried after the pause, so one bad row never stops it."""
    wake = asyncio.Event()
    unsubscribe = (
        notifier.subscribe(worker.topic, lambda _payload: wake.set())
        if worker.topic is not None
        else lambda: None
    )
    try:
        while True:
            wake.clear()  # before the step: work published during it wakes the next wait
            pause = worker.poll
            try:
                handled = await worker.step()
                if not handled and worker.due is not None:
                    due = await worker.due()
                    pause = pause if due is None else min(pause, due)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s step failed", worker.name)
                handled = 0
            if handled:
                continue
            worker.idle.set()
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
                # cancellation that lands as its timeout fires, and the worker never stops.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pause):
                        await wake.wait()
            finally:
                worker.idle.clear()
    finally:
        unsubscribe()


@contextlib.asynccontextmanager
async def running(
    workers: Sequence[Worker], notifier: Notifier
) -> AsyncIterator[dict[str, asyncio.Task[None]]]:
    """Run the workers as tasks for the duration of the block (yielded by worker name, so
    readiness can see they still run); cancel and await them after."""
    tasks = [asyncio.create_task(run_worker(w, notifier), name=f"worker:{w.name}") for w in workers]
    try:
        yield {w.name: task for w, task in zip(workers, tasks, strict=True)}
    finally:
        await stop_tasks(tasks)


async def stop_tasks(tasks: Sequence[asyncio.Task], patience: float = 2.0) -> None:
    """Cancel the tasks and wait for them, at most `patience` seconds: a task that ignores
    its cancellation is logged and left behind rather than holding up the stop."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, timeout=patience)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s had failed: %r", task.get_name(), task.exception())
    for task in pending:
        log.error("%s did not stop within %.0f s of being cancelled", task.get_name(), patience)
