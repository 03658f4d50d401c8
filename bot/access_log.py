"""An access log without query strings: links carry tokens (`/link?linkToken=…`) that must
never reach a log."""

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger


class PathOnlyAccessLogger(AbstractAccessLogger):
    """Logs method, path (no query), status and duration."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Write one line per request."""
        self.logger.info(
            "%s %s %s %d %.0fms",
            request.remote,
            request.method,
            request.path,
            response.status,
            time * 1000,
        )
