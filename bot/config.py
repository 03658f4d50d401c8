"""The configuration contract (DESIGN.md): the only module that reads the environment."""

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from urllib.parse import urlsplit

# Background workers a process can run; `WORKERS` names a subset (default: all). The e-mail
# ones (`email_plan`, `email`) run only where SMTP_URL is set; `jma` asks JMA's feeds only
# while a JMA rule is active.
WORKER_NAMES = ("inbox", "delivery", "housekeeping", "email_plan", "email", "reminders", "jma")
# JMA's high-frequency feeds: earthquakes and tsunamis (eqvol), and the 随時 feed that carries
# the weather warnings with their 特別警報 (extra).
JMA_FEEDS = (
    "https://www.data.jma.go.jp/developer/xml/feed/eqvol.xml,"
    "https://www.data.jma.go.jp/developer/xml/feed/extra.xml"
)


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line naming the variable."""


@dataclass(frozen=True)
class Config:
    """Every setting the server needs, named as the environment variables are."""

    database_url: str = "sqlite://anpi.sqlite3"
    line_channel_secret: str = ""
    line_channel_access_token: str = ""
    # Set, the bot issues itself short-lived (stateless, 15-minute) channel access tokens from
    # this channel ID and LINE_CHANNEL_SECRET, as LINE recommends, instead of a long-lived one.
    line_channel_id: str = ""
    line_login_channel_id: str = ""
    # The employee page's LINE ID連携 (LINE Login); unset, the page offers linking in chat only.
    line_login_channel_secret: str = ""
    liff_id: str = ""
    line_api_base_url: str = "https://api.line.me"
    line_data_api_base_url: str = "https://api-data.line.me"
    line_access_base_url: str = "https://access.line.me"
    liff_base_url: str = "https://liff.line.me"
    public_base_url: str = "http://localhost:8080"
    secret_key: str = ""
    # The e-mail medium: smtp://user:pass@host:587?starttls=1, smtps://host:465. Unset, no
    # e-mail is planned or sent (the console says so on templates with e-mail on).
    smtp_url: str = ""
    mail_from: str = "anpi@localhost"
    port: int = 8080
    workers: tuple[str, ...] = WORKER_NAMES
    inbox_retention_days: int = 7  # handled webhook events are purged after this
    # A batch claimed by a process that then fell silent this long (it crashed) is resumed by
    # another; above the longest silence of a live send (a 15 s request, a 30 s backoff).
    delivery_stale_seconds: float = 120.0
    delivery_poll_seconds: float = 2.0  # an idle delivery worker looks again this often
    jma_feed_url: str = JMA_FEEDS  # comma-separated Atom feeds
    jma_poll_seconds: float = 60.0  # each feed is asked once per this many seconds
    # Retention (0 = keep): answers and deliveries of alerts closed this many days ago, and
    # what LINE told us about people who unfollowed or unlinked this many days ago.
    answer_retention_days: int = 0
    line_data_retention_days: int = 0
    log_format: str = "plain"  # or json: one JSON object per line
    metrics_token: str = ""  # /metrics for `Authorization: Bearer <it>` only; unset, not served
    # `worker` serves /healthz, /readyz and /metrics on this port (0: no port, as before).
    worker_port: int = 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Config":
        """Read the settings from environment variables (unset ones keep their defaults)."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(f.name.upper())
            if raw is None or raw == "":
                continue
            if f.name in ("port", "worker_port"):
                try:
                    values[f.name] = int(raw)
                except ValueError:
                    raise ConfigError(f"{f.name.upper()} must be a number, not {raw!r}") from None
            elif f.name == "workers":
                values["workers"] = parse_workers(raw)
            elif f.name == "inbox_retention_days":
                values[f.name] = parse_retention_days(raw)
            elif f.name == "log_format":
                if raw not in ("plain", "json"):
                    raise ConfigError(f"LOG_FORMAT must be plain or json, not {raw!r}")
                values[f.name] = raw
            elif f.name in ("answer_retention_days", "line_data_retention_days"):
                values[f.name] = parse_days_to_keep(f.name.upper(), raw)
            elif f.name in ("delivery_stale_seconds", "delivery_poll_seconds", "jma_poll_seconds"):
                values[f.name] = parse_seconds(f.name.upper(), raw)
            elif f.name.endswith("_url"):
                values[f.name] = raw.rstrip("/") if f.name != "database_url" else raw
            else:
                values[f.name] = raw
        return cls(**values)  # type: ignore[arg-type]

    def require(self, *names: str) -> None:
        """Raise ConfigError naming the first of these settings that is empty (a channel
        access token is there when LINE_CHANNEL_ID and LINE_CHANNEL_SECRET can issue one)."""
        for name in names:
            if name == "line_channel_access_token" and self.issues_channel_tokens:
                if self.line_channel_secret:
                    continue
                name = "line_channel_secret"
            if not getattr(self, name):
                raise ConfigError(
                    f"{name.upper()} is not set: export it (see README, configuration)"
                )

    @property
    def issues_channel_tokens(self) -> bool:
        """Whether LINE_CHANNEL_ID is set: short-lived tokens instead of a long-lived one."""
        return bool(self.line_channel_id)

    def on_line_host(self, base_url: str) -> "Config":
        """This configuration with every LINE host at one URL (the local LINE platform)."""
        return replace(
            self,
            line_api_base_url=base_url,
            line_data_api_base_url=base_url,
            line_access_base_url=base_url,
            liff_base_url=f"{base_url}/liff",
        )

    @property
    def jma_feeds(self) -> tuple[str, ...]:
        """The JMA feeds to poll (`JMA_FEED_URL`, comma-separated)."""
        return tuple(u.strip().rstrip("/") for u in self.jma_feed_url.split(",") if u.strip())

    @property
    def liff_url(self) -> str:
        """The LIFF app's base link, `{LIFF_BASE_URL}/{LIFF_ID}`."""
        return f"{self.liff_base_url}/{self.liff_id}"

    @property
    def liff_sdk_url(self) -> str:
        """LINE's CDN for the real LIFF host; the stand-in served beside any other host."""
        if self.liff_base_url == "https://liff.line.me":
            return "https://static.line-scdn.net/liff/edge/2/sdk.js"
        return f"{self.liff_base_url}/sdk.js"


def parse_workers(raw: str) -> tuple[str, ...]:
    """`WORKERS`: a comma-separated subset of WORKER_NAMES, `all`, or `none`."""
    raw = raw.strip().lower()
    if raw == "all":
        return WORKER_NAMES
    if raw == "none":
        return ()
    names = tuple(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    unknown = [n for n in names if n not in WORKER_NAMES]
    if unknown or not names:
        raise ConfigError(
            f"WORKERS must name some of {', '.join(WORKER_NAMES)} (or all, none), not {raw!r}"
        )
    return names


def parse_retention_days(raw: str) -> int:
    """`INBOX_RETENTION_DAYS`: whole days, at least 1 so LINE's redeliveries are still
    recognised as seen."""
    try:
        days = int(raw)
    except ValueError:
        days = 0
    if days < 1:
        raise ConfigError(f"INBOX_RETENTION_DAYS must be a number of days >= 1, not {raw!r}")
    return days


def parse_days_to_keep(name: str, raw: str) -> int:
    """A retention in whole days; 0 keeps the data for ever."""
    try:
        days = int(raw)
    except ValueError:
        days = -1
    if days < 0:
        raise ConfigError(f"{name} must be a number of days >= 0 (0 keeps for ever), not {raw!r}")
    return days


def parse_seconds(name: str, raw: str) -> float:
    """A positive number of seconds (fractions allowed)."""
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < float("inf"):
        raise ConfigError(f"{name} must be a number of seconds > 0, not {raw!r}")
    return seconds


SERVE_REQUIRED = (
    "line_channel_secret",
    "line_channel_access_token",
    "line_login_channel_id",
    "liff_id",
    "secret_key",
)

# `python -m bot worker`: the workers send through LINE and link to the LIFF form; they check
# no webhook signature and serve no page.
WORKER_REQUIRED = ("line_channel_access_token", "liff_id")

# LINE hosts that vouch for identities (ID-token verify, account linking, LIFF) or receive the
# channel access token (the data host). Over plain http their answers could be forged and the
# token read, so serve refuses it except on this machine.
LINE_HOSTS = (
    "line_api_base_url",
    "line_data_api_base_url",
    "line_access_base_url",
    "liff_base_url",
)
LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """Whether a URL's host is this machine: 127.0.0.0/8, ::1 or localhost."""
    host = host.lower().rstrip(".")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_https_line_hosts(config: Config) -> None:
    """Raise ConfigError naming the first LINE host that is not https (loopback excepted)."""
    for name in LINE_HOSTS:
        url = getattr(config, name)
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
        except ValueError:
            parts, host = None, ""
        if parts is not None and parts.scheme == "https" and host:
            continue
        if parts is not None and parts.scheme == "http" and is_loopback(host):
            continue
        raise ConfigError(
            f"{name.upper()} must be an https:// URL (http only on a loopback host), not {url!r}"
        )


def demo_secret_key() -> str:
    """A throwaway secret for the demo only."""
    return secrets.token_urlsafe(32)
