"""The LIFF app's route table."""

from pathlib import Path

from aiohttp import web

from liff import views

STATIC_DIR = Path(__file__).parent / "static"


def setup_routes(app: web.Application) -> None:
    """Register the answer page, its static files and its JSON API."""
    app.router.add_get("/liff/", views.answer_page, name="liff")
    app.router.add_get(r"/liff/api/alerts/{alert_id:\d+}", views.api_alert, name="liff_api_alert")
    app.router.add_post(
        r"/liff/api/alerts/{alert_id:\d+}/answer", views.api_answer, name="liff_api_answer"
    )
    app.router.add_static("/liff/static/", STATIC_DIR, name="liff_static")
