"""Console pages: maintenance (built by the issue-7 work)."""

from aiohttp import web


def setup_routes(app: web.Application) -> None:
    """Register this module's named routes."""
