"""Configuration of a simulated LINE channel."""

from __future__ import annotations

from dataclasses import dataclass, field

REPLY_TOKEN_TTL = 60.0  # seconds a reply token stays usable
LINK_TOKEN_TTL = 600.0  # account-link tokens last 10 minutes
RETRY_KEY_TTL = 24 * 3600.0  # LINE remembers an accepted X-Line-Retry-Key for 24 hours

# LINE's per-channel limits, requests per second (token bucket, burst of one second).
DEFAULT_RATES: dict[str, float] = {"multicast": 200.0, "push": 2000.0, "reply": 2000.0}

# Rich menus (LINE's reference): creating and deleting menus is limited per hour, not per
# second; an image is a PNG or JPEG of at most 1 MB whose size is the menu's.
RICH_MENU_WRITES_PER_HOUR = 100
RICH_MENU_IMAGE_MAX_BYTES = 1024 * 1024
RICH_MENU_IMAGE_TYPES = ("image/png", "image/jpeg")
MAX_RICH_MENUS = 1000
MAX_RICH_MENU_ALIASES = 1000


@dataclass
class SimulatorConfig:
    """Secrets, URLs and limits of the simulated channel; URL fields may change after start."""

    channel_secret: str
    channel_access_token: str
    login_channel_id: str
    # The Messaging API channel's ID: with the secret, it issues short-lived tokens.
    channel_id: str = ""
    webhook_url: str | None = None
    # LINE Login for web pages: the channel secret the token endpoint checks, and the
    # callback URLs registered on the channel (the authorize page refuses any other).
    login_channel_secret: str = ""
    login_redirect_uris: list[str] = field(default_factory=list)
    liff_apps: dict[str, str] = field(default_factory=dict)
    public_base_url: str | None = None
    rate_limits: bool = True
    rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    webhook_timeout: float = 10.0
