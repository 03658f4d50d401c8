"""The loop every background worker runs: step, and sleep when idle until woken."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def run_forever(
    step: Callable[[], Awaitable[int]], wake: asyncio.Event, idle_poll: float, name: str
) -> None:
    """Call `step` until cancelled; when it did nothing, wait for `wake` or `idle_poll` seconds.

    A failing step is logged and retried after the pause, so one bad row never stops the
    worker."""
    while True:
        try:
            handled = await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s step failed", name)
            handled = 0
        if handled:
            continue
        wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), idle_poll)
