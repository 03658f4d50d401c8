"""The settings the composition root hands to the faces (built from its configuration)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class WebSettings:
    """What every HTML face needs: the signing key and how cookies travel."""

    secret_key: str
    secure_cookies: bool  # PUBLIC_BASE_URL is https (TLS may end at a proxy)
    email_on: bool = False  # SMTP_URL is set: the e-mail medium is sent
    public_base_url: str = ""  # this server as users reach it (printed URLs, QR codes)


@dataclass(frozen=True)
class LiffSettings:
    """What the LIFF answer page needs to start LINE's SDK."""

    liff_id: str
    sdk_url: str


@dataclass(frozen=True)
class LinkSettings:
    """Where the account-link sign-in page sends the browser next."""

    access_base_url: str
