"""A local stand-in for JMA's 防災情報XML feed: an Atom feed of the bulletins published so far
(newest first, the newest 25 as JMA keeps), each bulletin's file, conditional requests (ETag,
Last-Modified, 304) and injected failures. Tests and the demo publish sample bulletins into it
so an earthquake "arrives" without reaching the internet."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from xml.sax.saxutils import escape

from aiohttp import web

FEED_KEEPS = 25


@dataclass
class Published:
    """A bulletin in the feed."""

    name: str
    title: str
    data: bytes
    updated: datetime


@dataclass
class JmaFeed:
    """The feed's state; `app` serves `/feed.xml` and `/data/{name}`."""

    published: list[Published] = field(default_factory=list)
    version: int = 0
    modified: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    failures: list[int] = field(default_factory=list)  # statuses the next feed requests get
    feed_requests: list[dict[str, str]] = field(default_factory=list)  # their headers
    feed_request_times: list[float] = field(default_factory=list)  # monotonic, for benchmarks
    bulletin_requests: list[str] = field(default_factory=list)
    published_at: dict[str, float] = field(default_factory=dict)  # name -> monotonic time

    def __post_init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_get("/feed.xml", self._feed)
        self.app.router.add_get("/data/{name}", self._bulletin)

    def publish(self, name: str, data: bytes, title: str = "") -> None:
        """Add a bulletin (file name like JMA's, `..._VXSE53_...xml`) as the newest entry."""
        now = datetime.now(UTC).replace(microsecond=0)
        self.published.append(Published(name, title or name, data, now))
        self.published_at[name] = time.monotonic()
        self.version += 1
        self.modified = max(now, self.modified)

    def fail_next(self, *statuses: int) -> None:
        """The next feed requests answer these statuses (500, 503 …), one each."""
        self.failures.extend(statuses)

    def _base(self, request: web.Request) -> str:
        return str(request.url.origin()) + request.path.rsplit("/", 1)[0]

    def _etag(self) -> str:
        return f'"jma-{self.version}"'

    async def _feed(self, request: web.Request) -> web.Response:
        self.feed_requests.append(dict(request.headers))
        self.feed_request_times.append(time.monotonic())
        if self.failures:
            return web.Response(status=self.failures.pop(0), text="simulated failure")
        headers = {"ETag": self._etag(), "Last-Modified": format_datetime(self.modified, True)}
        if request.headers.get("If-None-Match") == self._etag():
            return web.Response(status=304, headers=headers)
        since = request.headers.get("If-Modified-Since")
        if since and "If-None-Match" not in request.headers:
            try:
                if self.modified <= parsedate_to_datetime(since):
                    return web.Response(status=304, headers=headers)
            except (TypeError, ValueError):
                pass
        base = self._base(request)
        entries = "".join(
            f"<entry><title>{escape(p.title)}</title>"
            f"<id>{base}/data/{escape(p.name)}</id>"
            f"<updated>{p.updated.isoformat().replace('+00:00', 'Z')}</updated>"
            "<author><name>気象庁</name></author>"
            f'<link type="application/xml" href="{base}/data/{escape(p.name)}"/>'
            "</entry>"
            for p in reversed(self.published[-FEED_KEEPS:])
        )
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<feed xmlns="http://www.w3.org/2005/Atom" lang="ja"><title>高頻度（地震火山）</title>'
            f"<updated>{self.modified.isoformat()}</updated><id>{base}/feed.xml</id>{entries}</feed>"
        )
        return web.Response(
            body=body.encode(), content_type="application/atom+xml", headers=headers
        )

    async def _bulletin(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.bulletin_requests.append(name)
        for published in self.published:
            if published.name == name:
                return web.Response(body=published.data, content_type="application/xml")
        raise web.HTTPNotFound()
