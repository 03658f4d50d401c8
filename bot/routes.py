"""The bot's route table: webhook, health, account-link sign-in."""

from aiohttp import web

from bot import link_views, webhook


async def health(request: web.Request) -> web.Response:
    """Liveness for the load balancer."""
    return web.json_response({"status": "ok"})


def setup_routes(app: web.Application) -> None:
    """Register the bot's named routes."""
    app.router.add_post("/callback", webhook.callback, name="callback")
    app.router.add_get("/healthz", health, name="health")
    app.router.add_get("/link", link_views.link_form, name="link")
    app.router.add_post("/link", link_views.link_submit, name="link_submit")
