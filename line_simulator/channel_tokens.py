"""Channel access tokens (the api.line.me `/oauth2/v3/token` role): stateless tokens issued for
the channel ID and secret, valid 15 minutes, accepted by the Messaging API until they expire.

Requests and answers are checked against LINE's `channel-access-token.yml`."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web
from jsonschema.protocols import Validator

from line_simulator import ids
from line_simulator.errors import default_fault_body
from line_simulator.keys import SIMULATOR
from line_simulator.validation import _registry, _validator, load_spec

if TYPE_CHECKING:
    from line_simulator.simulator import Simulator

log = logging.getLogger(__name__)

URI = "urn:line-simulator:channel-access-token"
STATELESS_LIFETIME = 900  # LINE: a stateless token is valid for 15 minutes


@dataclass(frozen=True)
class IssuedToken:
    """A token the simulator issued and until when (simulated clock) it is accepted."""

    expires_at: float


@functools.cache
def validators() -> dict[str, Validator]:
    """The request and response schemas of issueStatelessChannelToken (built once)."""
    schemas = load_spec("channel-access-token.yml")["components"]["schemas"]
    registry = _registry(URI, schemas)
    return {
        "request": _validator(URI, registry, "IssueStatelessChannelTokenByClientSecretRequest"),
        "assertion": _validator(URI, registry, "IssueStatelessChannelTokenByJWTAssertionRequest"),
        "response": _validator(URI, registry, "IssueStatelessChannelAccessTokenResponse"),
    }


def _error(description: str, status: int = 400, error: str = "invalid_request") -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


def accepts(sim: Simulator, token: str) -> bool:
    """Whether the Messaging API takes this bearer token now."""
    if token == sim.config.channel_access_token:
        return True
    issued = sim.issued_tokens.get(token)
    return issued is not None and sim.clock.now() < issued.expires_at


async def issue_stateless(request: web.Request) -> web.Response:
    """POST /oauth2/v3/token: a stateless channel access token for the channel ID and secret."""
    sim = request.app[SIMULATOR]
    request_id = ids.request_id()
    fault = sim.take_fault("token")
    if fault is not None:
        body = fault.body or default_fault_body(fault.status)
        return web.json_response(
            body, status=fault.status, headers={"x-line-request-id": request_id}
        )
    form: dict[str, Any] = dict(await request.post())
    checks = validators()
    # The spec's oneOf: a client secret, or a JWT assertion (not served here).
    if checks["assertion"].is_valid(form):
        response = _error("JWT assertions are not supported by the local LINE platform")
    elif not checks["request"].is_valid(form):
        response = _error("invalid request: grant_type, client_id and client_secret are required")
    elif form["grant_type"] != "client_credentials":
        response = _error("unsupported grant_type", error="unsupported_grant_type")
    elif (
        not sim.config.channel_id
        or form["client_id"] != sim.config.channel_id
        or form["client_secret"] != sim.config.channel_secret
    ):
        response = _error("invalid client_id or client_secret", status=400, error="invalid_client")
    else:
        token = ids.opaque_token(96)
        sim.issued_tokens[token] = IssuedToken(sim.clock.now() + STATELESS_LIFETIME)
        answer = {"token_type": "Bearer", "access_token": token, "expires_in": STATELESS_LIFETIME}
        assert checks["response"].is_valid(answer)
        response = web.json_response(answer)
    response.headers["x-line-request-id"] = request_id
    return response
