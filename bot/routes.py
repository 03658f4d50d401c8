"""The bot's route table: webhook, probes and metrics, account-link sign-in."""

from aiohttp import web

from bot import health, link_views, metrics, webhook


def setup_routes(app: web.Application) -> None:
    """Register the bot's named routes."""
    app.router.add_post("/callback", webhook.callback, name="callback")
    setup_probes(app)
    app.router.add_get("/link", link_views.link_form, name="link")
    app.router.add_post("/link", link_views.link_submit, name="link_submit")


def setup_probes(app: web.Application) -> None:
    """Liveness, readiness and metrics (every process that listens has them)."""
    app.router.add_get("/healthz", health.healthz, name="health")
    app.router.add_get("/readyz", health.readyz, name="ready")
    app.router.add_get("/metrics", metrics.metrics, name="metrics")
