"""The console's route table (paths relative to where it is mounted)."""

from pathlib import Path

from aiohttp import web

from console.views import (
    admin_groups,
    alerts,
    board,
    jma,
    maintenance,
    monitoring,
    organization,
    session,
    users,
)

STATIC_DIR = Path(__file__).parent / "static"


def setup_routes(app: web.Application) -> None:
    """Register the console's named routes."""
    app.router.add_get("/", alerts.home, name="home")
    app.router.add_get("/login", session.login_form, name="login")
    app.router.add_post("/login", session.login_submit, name="login_submit")
    app.router.add_post("/logout", session.logout, name="logout")
    app.router.add_get("/alerts", alerts.alert_list, name="alerts")
    monitoring.setup_routes(app)  # alert detail, live tally, unanswered, CSV, sending
    board.setup_routes(app)  # an alert's board: thread (live), posting, CSV
    organization.setup_routes(app)  # employees, departments, registration codes
    maintenance.setup_routes(app)  # templates, usage, audit log, settings
    admin_groups.setup_routes(app)  # bound LINE admin groups, bind codes, unbinding
    jma.setup_routes(app)  # automatic alerts from JMA bulletins, offices' prefectures
    users.setup_routes(app)  # console users: add, role, departments, disable, password
    app.router.add_static("/static/", STATIC_DIR, name="static")
