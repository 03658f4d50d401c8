"""LINE Login views (the access.line.me / api.line.me oauth2 role): verify and certs."""

from __future__ import annotations

import logging

from aiohttp import web

from line_simulator.errors import default_fault_body
from line_simulator.id_tokens import IdTokenError, verify_id_token
from line_simulator.keys import SIMULATOR

log = logging.getLogger(__name__)


def _error(description: str, *, status: int = 400, error: str = "invalid_request") -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


async def verify(request: web.Request) -> web.Response:
    """POST /oauth2/v2.1/verify (form `id_token`, `client_id`, optional `nonce`, `user_id`)."""
    sim = request.app[SIMULATOR]
    fault = sim.take_fault("verify")
    if fault is not None:
        if fault.hold is not None:
            await fault.hold.wait()
        if fault.body is not None:
            return web.json_response(fault.body, status=fault.status)
        kind = "server_error" if fault.status >= 500 else "invalid_request"
        message = default_fault_body(fault.status)["message"]
        return _error(message, status=fault.status, error=kind)
    form = await request.post()
    token, client_id = form.get("id_token"), form.get("client_id")
    if not isinstance(token, str) or not token:
        return _error("Required parameter 'id_token' is missing.")
    if not isinstance(client_id, str) or not client_id:
        return _error("Required parameter 'client_id' is missing.")
    nonce, user_id = form.get("nonce"), form.get("user_id")
    try:
        claims = verify_id_token(
            sim.signer,
            token,
            client_id,
            sim.clock.now(),
            nonce=nonce if isinstance(nonce, str) else None,
            user_id=user_id if isinstance(user_id, str) else None,
        )
    except IdTokenError as error:
        log.info("ID token refused: %s", error)
        return _error(str(error))
    return web.json_response(claims)


async def certs(request: web.Request) -> web.Response:
    """GET /oauth2/v2.1/certs: the public key of the simulator's ES256 ID tokens."""
    return web.json_response(request.app[SIMULATOR].signer.jwks())
