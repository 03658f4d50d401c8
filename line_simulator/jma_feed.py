"""A local stand-in for JMA's 防災情報XML feed: an Atom feed of the bulletins published so far
(newest first, the newest 25 as JMA keeps), each bulletin's file, conditional requests (ETag,
Last-Modified, 304) and injected failures. Tests and the demo publish sample bulletins into it
so an earthquake "arrives" without reaching the internet."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from xml.sax.saxutils import escape

from aiohttp import web

FEED_KEEPS = 25
SAMPLES = Path(__file__).parent / "jma_samples"
# The demo's buttons: a 震度速報 for a new earthquake, then its 震源・震度に関する情報.
DEMO_BULLETINS = {
    "VXSE51": ("VXSE51_20210219_real_Iwate_max4.xml", "震度速報(岩手県 震度4・新しい地震)"),
    "VXSE53": ("VXSE53_20210219_real_Iwate_max4_3prefs.xml", "震源・震度に関する情報(同じ地震)"),
}
SAMPLE_EVENT_ID = "20210219181113"
JST = timezone(timedelta(hours=9))


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
        self.app.router.add_get("/", self._page)
        self.app.router.add_post("/publish", self._publish_sample)
        self.event_id = SAMPLE_EVENT_ID

    def publish(self, name: str, data: bytes, title: str = "") -> None:
        """Add a bulletin (file name like JMA's, `..._VXSE53_...xml`) as the newest entry."""
        now = datetime.now(UTC).replace(microsecond=0)
        self.published.append(Published(name, title or name, data, now))
        self.published_at[name] = time.monotonic()
        self.version += 1
        self.modified = max(now, self.modified)

    def publish_sample(self, type_code: str) -> str:
        """Publish a demo bulletin; a 震度速報 is a new earthquake (a fresh EventID), a
        震源・震度に関する情報 follows the last one. Return its file name."""
        file, title = DEMO_BULLETINS[type_code]
        if type_code == "VXSE51":
            self.event_id = datetime.now(JST).strftime("%Y%m%d%H%M%S")
        data = (
            (SAMPLES / file).read_bytes().replace(SAMPLE_EVENT_ID.encode(), self.event_id.encode())
        )
        name = f"{datetime.now(UTC):%Y%m%d%H%M%S}_{len(self.published)}_{type_code}_010000.xml"
        self.publish(name, data, title.split("(")[0])
        return name

    async def _page(self, request: web.Request) -> web.Response:
        buttons = "".join(
            f'<form method="post" action="{request.path.rstrip("/")}/publish">'
            f'<button name="type" value="{code}">{escape(title)}</button></form>'
            for code, (_, title) in DEMO_BULLETINS.items()
        )
        items = "".join(
            f"<li>{p.updated:%H:%M:%S} {escape(p.title)} ({escape(p.name)})</li>"
            for p in reversed(self.published)
        )
        html = (
            '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">'
            "<title>JMA feed (local)</title>"
            "<h1>気象庁 防災情報XML フィード(ローカル)</h1>"
            f'<p><a href="{request.path.rstrip("/")}/feed.xml">feed.xml</a></p>{buttons}'
            f"<h2>発表済み</h2><ul>{items or '<li>まだありません</li>'}</ul>"
        )
        return web.Response(text=html, content_type="text/html")

    async def _publish_sample(self, request: web.Request) -> web.Response:
        code = str((await request.post()).get("type", ""))
        if code not in DEMO_BULLETINS:
            raise web.HTTPBadRequest(text="unknown bulletin")
        self.publish_sample(code)
        raise web.HTTPSeeOther(request.path.rsplit("/", 1)[0] + "/")

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
