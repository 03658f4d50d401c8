"""Logging for operators: one line per event, plain or JSON (`LOG_FORMAT=json`), each with the
request ID of the web request it belongs to (`bot/request_ids.py` sets it), or of the worker
step that wrote it (`delivery-…`), so the lines of one multicast or one webhook event's
handling can be found together.

Imports no web server: every command sets its logging up, and `tally` must start fast.

What may be logged is decided where a line is written (STYLE.md: never a webhook body, a form
body, a token or a secret); this module only makes sure libraries that log request or response
bodies at DEBUG (line-bot-sdk, Tortoise's SQL) stay quiet."""

import contextvars
import json
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.workers import Worker

LOG_FORMATS = ("plain", "json")
PLAIN = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# Libraries whose DEBUG lines carry bodies (the SDK logs LINE's responses, Tortoise the SQL
# with its values): never below WARNING, whatever the root level.
QUIET = ("linebot", "tortoise", "aiosqlite", "asyncpg")

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Stamps each record with the request ID of the task that wrote it."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add `record.request_id`; never drops a record."""
        record.request_id = request_id.get()
        return True


class PlainFormatter(logging.Formatter):
    """The plain format, a traceback kept on the same line (`\\n` escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        """One line."""
        return super().format(record).replace("\n", "\\n")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request_id, message (and exc)."""

    def format(self, record: logging.LogRecord) -> str:
        """One line of JSON."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(log_format: str = "plain", level: int = logging.INFO) -> None:
    """Send every log line to stderr in `log_format` (replacing earlier handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else PlainFormatter(PLAIN))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)


def traced_worker(worker: "Worker") -> "Worker":
    """The worker with a fresh request ID (`<name>-<12 hex>`) for each step's log lines."""
    step: Callable[[], Awaitable[int]] = worker.step

    async def traced() -> int:
        request_id.set(f"{worker.name}-{uuid.uuid4().hex[:12]}")
        return await step()

    return replace(worker, step=traced)
