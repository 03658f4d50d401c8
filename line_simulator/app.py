"""The aiohttp application of a simulator: middleware, routes and the simulator under its key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from line_simulator.keys import SIMULATOR
from line_simulator.messaging import MAX_BODY_BYTES, line_api_middleware
from line_simulator.routes import ROUTES

if TYPE_CHECKING:
    from line_simulator.simulator import Simulator


def create_app(sim: Simulator) -> web.Application:
    """Return the web application serving every LINE role for `sim`."""
    app = web.Application(middlewares=[line_api_middleware], client_max_size=MAX_BODY_BYTES)
    app[SIMULATOR] = sim
    app.add_routes(ROUTES)
    return app
