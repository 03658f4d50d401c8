"""The LIFF app's route table (paths relative to where it is mounted)."""

from pathlib import Path

from aiohttp import web

from liff import board_views, mail_views, views

STATIC_DIR = Path(__file__).parent / "static"
# An alert number is a positive 31-bit integer (PostgreSQL's int): longer is never an alert.
ALERT_ID = r"{alert_id:[1-9]\d{0,9}}"
# A signed answer link from an e-mail (domain.answer_links): anything up to a slash, so a
# mangled link still reaches the page that explains it.
ANSWER_TOKEN = r"{token:[^/]{1,400}}"


def setup_routes(app: web.Application) -> None:
    """Register the answer page, its static files and its JSON API."""
    app.router.add_get("/", views.answer_page, name="liff")
    app.router.add_get(f"/api/alerts/{ALERT_ID}", views.api_alert, name="liff_api_alert")
    app.router.add_post(f"/api/alerts/{ALERT_ID}/answer", views.api_answer, name="liff_api_answer")
    app.router.add_get(f"/api/board/{ALERT_ID}", board_views.api_board, name="liff_api_board")
    app.router.add_post(
        r"/api/board/posts/{post_id:[1-9]\d{0,9}}/reply",
        board_views.api_reply,
        name="liff_api_board_reply",
    )
    app.router.add_get(f"/api/alerts/{ALERT_ID}/family", views.api_family, name="liff_api_family")
    app.router.add_post(
        f"/api/alerts/{ALERT_ID}/family", views.api_family_answer, name="liff_api_family_answer"
    )
    # A changed script gets a new address (?v=<hash>): phones never mix an old one with new JSON.
    app.router.add_static("/static/", STATIC_DIR, name="liff_static", append_version=True)
    # The e-mail medium's answer page: the same form, server-rendered, opened by a signed link.
    app.router.add_get(f"/answer/{ANSWER_TOKEN}", mail_views.answer_page, name="mail_answer")
    app.router.add_post(f"/answer/{ANSWER_TOKEN}", mail_views.submit_answer, name="mail_submit")
    # The family e-mail's answer page (無事 / 負傷 / 不明 + message), by a signed link.
    app.router.add_get(f"/family/{ANSWER_TOKEN}", mail_views.family_page, name="family_answer")
    app.router.add_post(f"/family/{ANSWER_TOKEN}", mail_views.submit_family, name="family_submit")
