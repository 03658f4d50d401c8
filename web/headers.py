"""Security headers on every response: no framing, a Content-Security-Policy that fits our
pages, no referrer, no MIME sniffing, HTTPS only once served over HTTPS (HSTS), and a `Server`
header that names no versions."""

from functools import lru_cache
from urllib.parse import urlsplit

from aiohttp import web

from web.keys import LIFF, WEB

SERVER = "Anpi"
# LINE's real LIFF SDK comes from its CDN and talks to LINE's own hosts.
LINE_CDN = "https://static.line-scdn.net"
LINE_HOSTS = "https://*.line.me https://*.line-scdn.net"
# A year, as HSTS preload lists ask; subdomains are left alone (they may be other services).
HSTS = "max-age=31536000"


@lru_cache(maxsize=8)
def content_security_policy(liff_sdk_url: str) -> str:
    """The CSP for our pages, given where the LIFF page loads LINE's SDK from.

    Styles may be inline (the sign-in page keeps its few rules in a <style>); scripts come
    only from us and the SDK's host; the LIFF page's script fetches its API on our origin.
    `form-action` is left open: the sign-in form's answer redirects to LINE's dialog."""
    parts = urlsplit(liff_sdk_url)
    sdk_origin = f"{parts.scheme}://{parts.netloc}"
    line = LINE_HOSTS if sdk_origin == LINE_CDN else sdk_origin
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {sdk_origin}",
            f"connect-src 'self' {line}",
            f"frame-src 'self' {line}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


def apply_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Set the security headers on a response whose headers are not sent yet."""
    headers = response.headers
    headers["Server"] = SERVER
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    # Link and LIFF URLs carry one-time tokens: never hand them to another site.
    headers["Referrer-Policy"] = "no-referrer"
    headers["Content-Security-Policy"] = content_security_policy(request.config_dict[LIFF].sdk_url)
    settings = request.config_dict.get(WEB)
    if settings is not None and settings.public_base_url.startswith("https://"):
        headers["Strict-Transport-Security"] = HSTS


async def on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Signal handler: every response gets the headers as it is prepared, including aiohttp's
    own error pages and streamed responses that no middleware sees."""
    apply_security_headers(request, response)
