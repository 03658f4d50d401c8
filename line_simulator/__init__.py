"""Local LINE platform: Messaging API, webhooks, LINE Login, account linking and a LIFF host.

`Simulator` plays LINE for the product's code (which talks to it with line-bot-sdk v3 pointed at the
simulator's URL) and records what the bot said, so tests read like a transcript.
"""

from line_simulator.config import SimulatorConfig
from line_simulator.simulator import Simulator
from line_simulator.state import SentRequest, SimUser

__all__ = ["SentRequest", "SimUser", "Simulator", "SimulatorConfig"]
