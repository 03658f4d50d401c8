"""Groups on the local LINE platform: the bot joining and leaving, members posting, and the
group endpoints of the Messaging API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from line_simulator.simulator import Simulator


class GroupStore:
    """The simulated channel's groups and the user-side actions in them."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim


ROUTES: list[web.RouteDef] = []
