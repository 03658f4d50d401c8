"""Signed tokens, one way for every purpose: the key of a purpose is derived from SECRET_KEY
and the purpose's name (so a token signed for one purpose never passes for another), and a
token is `payload.signature` with the HMAC-SHA256 signature in URL-safe base64. Used by the
e-mail answer links, CSRF tokens, the console's import confirmation, the confirmation links of
employees' own e-mail addresses and their family's, the family answer links and the face
cookies' keys."""

import base64
import hashlib
import hmac

# The purposes, by name. The answer links' name is the one their first tokens were signed
# under: links already e-mailed stay valid.
ANSWER_LINK = "anpi answer link v1"
CSRF = "anpi csrf"
CONSOLE_IMPORT = "anpi console import"
EMAIL_CONFIRM = "anpi email confirm"
FAMILY_EMAIL_CONFIRM = "anpi family email confirm"
FAMILY_ANSWER_LINK = "anpi family answer link"


def session_purpose(face: str) -> str:
    """The purpose name of one face's session cookies."""
    return f"anpi {face} session"


def purpose_key(secret: str, purpose: str) -> bytes:
    """The 32-byte key of one purpose, derived from SECRET_KEY."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()


def b64(raw: bytes) -> str:
    """URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    """The bytes of URL-safe base64 with or without padding (binascii.Error when broken)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, purpose: str, payload: str) -> str:
    return b64(hmac.new(purpose_key(secret, purpose), payload.encode(), hashlib.sha256).digest())


def sign(secret: str, purpose: str, payload: str) -> str:
    """The token `payload.signature` (the signature follows the last dot)."""
    return f"{payload}.{_signature(secret, purpose, payload)}"


def unsign(secret: str, purpose: str, token: str | None) -> str | None:
    """The payload of a token signed for this purpose with this secret, else None (compared
    in constant time: a forger learns nothing from how long a wrong signature took)."""
    if not secret or not token or "." not in token:
        return None
    payload, signature = token.rsplit(".", 1)
    expected = _signature(secret, purpose, payload)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return None
    return payload
