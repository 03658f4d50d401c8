"""Run the local LINE platform standalone: `python -m line_simulator --port 8081 ...`."""

from __future__ import annotations

import argparse
import logging

from aiohttp import web

from line_simulator import Simulator, SimulatorConfig


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m line_simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--channel-secret", required=True)
    parser.add_argument("--channel-access-token", required=True)
    parser.add_argument("--login-channel-id", required=True)
    parser.add_argument("--webhook-url", help="the bot's POST /callback")
    parser.add_argument(
        "--liff",
        action="append",
        default=[],
        metavar="LIFF_ID=URL",
        help="a LIFF app and its endpoint URL (repeatable)",
    )
    parser.add_argument("--public-base-url", help="this simulator's URL as a browser reaches it")
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME",
        help="add a user with this display name (repeatable)",
    )
    parser.add_argument("--no-rate-limits", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Build a simulator from the arguments and serve it until interrupted."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    liff_apps = dict(item.split("=", 1) for item in args.liff)
    config = SimulatorConfig(
        channel_secret=args.channel_secret,
        channel_access_token=args.channel_access_token,
        login_channel_id=args.login_channel_id,
        webhook_url=args.webhook_url,
        liff_apps=liff_apps,
        public_base_url=args.public_base_url or f"http://{args.host}:{args.port}",
        rate_limits=not args.no_rate_limits,
    )
    sim = Simulator(config)
    for name in args.user:
        sim.add_user(name)
    web.run_app(sim.app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
