"""Typed keys for what the simulator stores on its application and requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from line_simulator.simulator import Simulator

SIMULATOR: web.AppKey[Simulator] = web.AppKey("line_simulator.simulator")
LINE_REQUEST_ID: web.RequestKey[str] = web.RequestKey("line_simulator.request_id", str)
