"""Rich menus on the local LINE platform: the Messaging API's rich menu endpoints, with LINE's
rules on images and areas, and the taps a user makes on a menu."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from line_simulator.simulator import Simulator


class RichMenuStore:
    """The channel's rich menus, aliases, default menu and per-user links."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim


ROUTES: list[web.RouteDef] = []
