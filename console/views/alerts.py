"""Alerts as the viewer may see them."""

from aiohttp import web

from console.auth import requires
from console.keys import VIEWER
from console.render import render
from domain.alerts import alert_summaries


@requires()
async def alert_list(request: web.Request) -> web.Response:
    """Open and closed alerts, drill or real, with answered n/N in the viewer's scope."""
    summaries = await alert_summaries(request[VIEWER].scope)
    return render(request, "alerts.html", {"alerts": summaries})


@requires()
async def home(request: web.Request) -> web.Response:
    """The console's front page is the alert list."""
    raise web.HTTPSeeOther(str(request.app.router["alerts"].url_for()))
