"""ES256 ID tokens as LIFF issues them, and their verification as LINE Login does it."""

from __future__ import annotations

import json
import secrets
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

ISSUER = "https://access.line.me"


class IdTokenError(Exception):
    """An ID token LINE Login would refuse; the message is LINE's `error_description`."""


class IdTokenSigner:
    """Holds the simulator's P-256 key pair; signs ID tokens and publishes the public key."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.kid = secrets.token_hex(16)
        self._retired: dict[str, ec.EllipticCurvePrivateKey] = {}

    def rotate(self) -> None:
        """Sign with a new key from now on; the old one stays published (as LINE does)."""
        self._retired[self.kid] = self._key
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.kid = secrets.token_hex(16)

    def _keys(self) -> dict[str, ec.EllipticCurvePrivateKey]:
        return {**self._retired, self.kid: self._key}

    def issue(self, claims: dict[str, Any]) -> str:
        """Sign `claims` with ES256 and the `kid` header."""
        return jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": self.kid})

    def jwks(self) -> dict[str, Any]:
        """Return the public keys as a JWK set, as `/oauth2/v2.1/certs` serves it."""
        keys = []
        for kid, key in self._keys().items():
            jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
            jwk.update({"kid": kid, "alg": "ES256", "use": "sig"})
            keys.append(jwk)
        return {"keys": keys}

    def decode(self, token: str) -> dict[str, Any]:
        """Return the claims of a token this signer issued; raise IdTokenError otherwise."""
        try:
            header = jwt.get_unverified_header(token)
            key = self._keys().get(header.get("kid"))
            if key is None:
                raise IdTokenError("Invalid IdToken.")
            # Time and audience are checked by the caller against the simulated clock.
            return jwt.decode(
                token,
                key.public_key(),
                algorithms=["ES256"],
                options={
                    "verify_exp": False,
                    "verify_aud": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError as error:
            raise IdTokenError("Invalid IdToken.") from error


def verify_id_token(
    signer: IdTokenSigner,
    token: str,
    client_id: str,
    now: float,
    *,
    nonce: str | None = None,
    user_id: str | None = None,
) -> dict[str, Any]:
    """Check a token as `POST /oauth2/v2.1/verify` does and return its claims."""
    claims = signer.decode(token)
    if claims.get("iss") != ISSUER:
        raise IdTokenError("Invalid IdToken Issuer.")
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= now:
        raise IdTokenError("IdToken expired.")
    if claims.get("aud") != client_id:
        raise IdTokenError("Invalid IdToken Audience.")
    if nonce is not None and claims.get("nonce") != nonce:
        raise IdTokenError("Invalid IdToken Nonce.")
    if user_id is not None and claims.get("sub") != user_id:
        raise IdTokenError("Invalid IdToken Subject Identifier.")
    return claims
