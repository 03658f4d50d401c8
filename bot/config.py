"""The configuration contract (DESIGN.md): the only module that reads the environment."""

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

# Background workers a process can run; `WORKERS` names a subset (default: all).
WORKER_NAMES = ("inbox", "delivery")


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line naming the variable."""


@dataclass(frozen=True)
class Config:
    """Every setting the server needs, named as the environment variables are."""

    database_url: str = "sqlite://anpi.sqlite3"
    line_channel_secret: str = ""
    line_channel_access_token: str = ""
    line_login_channel_id: str = ""
    liff_id: str = ""
    line_api_base_url: str = "https://api.line.me"
    line_access_base_url: str = "https://access.line.me"
    liff_base_url: str = "https://liff.line.me"
    public_base_url: str = "http://localhost:8080"
    secret_key: str = ""
    port: int = 8080
    workers: tuple[str, ...] = WORKER_NAMES

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Config":
        """Read the settings from environment variables (unset ones keep their defaults)."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(f.name.upper())
            if raw is None or raw == "":
                continue
            if f.name == "port":
                try:
                    values["port"] = int(raw)
                except ValueError:
                    raise ConfigError(f"PORT must be a number, not {raw!r}") from None
            elif f.name == "workers":
                values["workers"] = parse_workers(raw)
            elif f.name.endswith("_url"):
                values[f.name] = raw.rstrip("/") if f.name != "database_url" else raw
            else:
                values[f.name] = raw
        return cls(**values)  # type: ignore[arg-type]

    def require(self, *names: str) -> None:
        """Raise ConfigError naming the first of these settings that is empty."""
        for name in names:
            if not getattr(self, name):
                raise ConfigError(
                    f"{name.upper()} is not set: export it (see README, configuration)"
                )

    def on_line_host(self, base_url: str) -> "Config":
        """This configuration with every LINE host at one URL (the local LINE platform)."""
        return replace(
            self,
            line_api_base_url=base_url,
            line_access_base_url=base_url,
            liff_base_url=f"{base_url}/liff",
        )

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


SERVE_REQUIRED = (
    "line_channel_secret",
    "line_channel_access_token",
    "line_login_channel_id",
    "liff_id",
    "secret_key",
)


def demo_secret_key() -> str:
    """A throwaway secret for the demo only."""
    return secrets.token_urlsafe(32)
