"""The JMA worker: polls JMA's Atom feeds politely (one request per feed per JMA_POLL_SECONDS,
If-None-Match / If-Modified-Since, backoff on errors, bounded reads with timeouts), hands each
new bulletin to `domain.jma.events.handle_bulletin`, starts delayed alerts when due, and
pushes the notices owed to the admin groups."""

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp

from bot import jma_messages
from bot.line_api import LineApi
from domain import admin_groups
from domain.delivery import SendOutcome
from domain.errors import DomainError
from domain.jma import events, notices
from domain.jma.bulletin import MAX_BULLETIN_BYTES, BulletinRefused
from domain.jma.feed import MAX_FEED_BYTES, FeedEntry, parse_feed
from domain.jma.rules import any_active_rule
from domain.usage import add_billable, japan_today, prepare_day
from models import JmaBulletin

log = logging.getLogger(__name__)

FETCH_TIMEOUT = aiohttp.ClientTimeout(total=20, connect=5, sock_read=10)
MAX_BACKOFF = 900.0  # seconds: a feed failing for long is asked every 15 minutes
MAX_ENTRY_AGE = timedelta(hours=3)  # older entries met at start-up are history, not news
MAX_FETCHES_PER_POLL = 40  # bulletins fetched per feed per poll (JMA's feeds hold ~25)
USER_AGENT = "anpi-jma-watch/1 (+safety confirmation)"
NOTICE_NAMESPACE = uuid.UUID("5b0b7f2e-3a51-4f7e-9d0a-6a8e5f0c1d11")


class FetchRefused(Exception):
    """A fetch failed or was too large; the message is one line."""


async def read_bounded(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The body, refusing one over `limit` bytes before reading it all."""
    declared = response.content_length
    if declared is not None and declared > limit:
        raise FetchRefused(f"too large: {declared:,} bytes (limit {limit:,})")
    chunks, size = [], 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise FetchRefused(f"too large: over {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass
class FeedState:
    """One feed's conditional-request validators and backoff."""

    url: str
    etag: str = ""
    last_modified: str = ""
    failures: int = 0
    next_fetch: float = 0.0  # monotonic seconds
    seen: set[str] = field(default_factory=set)  # entry IDs handled by this process


class JmaWatcher:
    """The `jma` worker's state: feeds, the HTTP session and the LINE client."""

    def __init__(self, feed_urls: tuple[str, ...], poll_seconds: float, line: LineApi) -> None:
        self.feeds = [FeedState(url) for url in feed_urls]
        self.poll = poll_seconds
        self.line = line

    async def step(self) -> int:
        """One round: start what is due, read the feeds that are due (only while a rule is
        active: without one there is nothing to ask JMA for), push owed notices."""
        done = len(await events.start_due())
        now = time.monotonic()
        due = [feed for feed in self.feeds if now >= feed.next_fetch]
        if due and await any_active_rule():
            # A session per round: nothing stays open between polls a minute apart.
            async with aiohttp.ClientSession(
                timeout=FETCH_TIMEOUT, headers={"User-Agent": USER_AGENT}
            ) as http:
                for feed in due:
                    done += await self._poll(http, feed)
        elif due:
            for feed in due:
                feed.next_fetch = now + self.poll
        done += await push_notices(self.line)
        return done

    async def due(self) -> float | None:
        """Seconds until a feed is due again or a delayed alert starts."""
        now = time.monotonic()
        waits = [max(0.0, feed.next_fetch - now) for feed in self.feeds]
        pending = await events.next_due_in()
        if pending is not None:
            waits.append(pending)
        return min(waits) if waits else None

    async def _poll(self, http: aiohttp.ClientSession, feed: FeedState) -> int:
        """Fetch one feed conditionally and handle its new entries; back off on failure."""
        headers = {}
        if feed.etag:
            headers["If-None-Match"] = feed.etag
        if feed.last_modified:
            headers["If-Modified-Since"] = feed.last_modified
        retry_after = None
        try:
            async with http.get(feed.url, headers=headers) as response:
                if response.status == 304:
                    self._ok(feed)
                    return 0
                if response.status != 200:
                    retry_after = _retry_after(response.headers.get("Retry-After"))
                    raise FetchRefused(f"HTTP {response.status}")
                data = await read_bounded(response, MAX_FEED_BYTES)
                etag = response.headers.get("ETag", "")
                last_modified = response.headers.get("Last-Modified", "")
            entries = parse_feed(data)
        except (FetchRefused, BulletinRefused, aiohttp.ClientError, TimeoutError) as exc:
            self._failed(feed, exc, retry_after)
            return 0
        handled = await self._handle_entries(http, feed, entries)
        # Validators only once every new entry was handled: a failed one is asked for again.
        feed.etag, feed.last_modified = etag, last_modified
        self._ok(feed)
        return handled

    def _ok(self, feed: FeedState) -> None:
        feed.failures = 0
        feed.next_fetch = time.monotonic() + self.poll

    def _failed(self, feed: FeedState, exc: BaseException, retry_after: float | None) -> None:
        feed.failures += 1
        pause = min(MAX_BACKOFF, self.poll * 2 ** min(feed.failures, 10))
        pause = max(pause, retry_after or 0.0)
        feed.next_fetch = time.monotonic() + pause
        reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        log.warning("jma feed %s failed (%s); next try in %.0f s", feed.url, reason, pause)

    async def _handle_entries(
        self, http: aiohttp.ClientSession, feed: FeedState, entries: list[FeedEntry]
    ) -> int:
        cutoff = datetime.now(UTC) - MAX_ENTRY_AGE
        fresh = [
            e
            for e in entries
            if e.wanted and e.id not in feed.seen and (e.updated is None or e.updated >= cutoff)
        ]
        known = set(
            await JmaBulletin.filter(entry_id__in=[e.id for e in fresh]).values_list(
                "entry_id", flat=True
            )
        ) if fresh else set()  # fmt: skip
        handled = 0
        # Oldest first, so a correction is read after what it corrects.
        for entry in sorted(
            reversed(fresh), key=lambda e: e.updated or datetime.min.replace(tzinfo=UTC)
        ):
            if entry.id in known:
                feed.seen.add(entry.id)
                continue
            if handled >= MAX_FETCHES_PER_POLL:
                break
            handled += 1
            if await self._handle_entry(http, entry):
                feed.seen.add(entry.id)
        return handled

    async def _handle_entry(self, http: aiohttp.ClientSession, entry: FeedEntry) -> bool:
        """Fetch and handle one bulletin; False when it should be tried again next poll."""
        try:
            async with http.get(entry.url) as response:
                if response.status != 200:
                    raise FetchRefused(f"HTTP {response.status}")
                data = await read_bounded(response, MAX_BULLETIN_BYTES)
        except (FetchRefused, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("jma bulletin %s not fetched: %s", entry.url, str(exc) or type(exc))
            return "too large" in str(exc)  # it will not shrink; anything else is retried
        try:
            outcome = await events.handle_bulletin(data, entry_id=entry.id)
        except BulletinRefused as exc:
            log.warning("jma bulletin %s refused: %s", entry.url, exc.message)
            return True
        except DomainError as exc:
            log.warning("jma bulletin %s not handled: %s", entry.url, exc.message)
            return True
        log.info("jma bulletin %s: %s", entry.url, outcome.text)
        return True


def _retry_after(raw: str | None) -> float | None:
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


async def push_notices(line: LineApi) -> int:
    """Push the owed notices to every bound admin group, counting each accepted push as
    billable; a group that failed is tried again on the next round."""
    owed = await notices.owed()
    if not owed:
        return 0
    groups = [g.group_id for g in await admin_groups.bound_groups()]
    pushed = 0
    for notice in owed:
        complete = True
        for group_id in groups:
            if group_id in notice.groups_done:
                continue
            key = str(uuid.uuid5(NOTICE_NAMESPACE, f"{notice.id}:{group_id}"))
            result = await line.push(group_id, jma_messages.notice(notice), key)
            if result.outcome in (SendOutcome.ACCEPTED, SendOutcome.ALREADY_ACCEPTED):
                day = japan_today()
                await prepare_day(day)
                await add_billable(day, 1)
                await notices.pushed(notice, group_id)
                pushed += 1
            elif result.outcome is SendOutcome.RETRY:
                complete = False
                log.warning("jma notice %s to a group: retry (%s)", notice.id, result.detail)
            else:  # refused for good (the bot left the group): do not ask again
                log.warning("jma notice %s refused: %s %s", notice.id, result.status, result.detail)
                await notices.pushed(notice, group_id)
        if complete:
            await notices.done(notice)
    return pushed
