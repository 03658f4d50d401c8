"""An access log without query strings: links carry tokens (`/link?linkToken=…`) that must
never reach a log."""

import re

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

# Paths that are themselves a secret: an e-mail's signed answer link.
SECRET_PATH = re.compile(r"^(/liff/answer/)[^/]+")


def shown_path(path: str) -> str:
    """The path as the log may show it (a token in the path replaced by `…`)."""
    return SECRET_PATH.sub(r"\1…", path)


class PathOnlyAccessLogger(AbstractAccessLogger):
    """Logs method, path (no query), status and duration."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Write one line per request."""
        self.logger.info(
            "%s %s %s %d %.0fms",
            request.remote,
            request.method,
            shown_path(request.path),
            response.status,
            time * 1000,
        )
