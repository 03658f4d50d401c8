"""The employee page's route table (paths relative to where it is mounted)."""

from pathlib import Path

from aiohttp import web

from me.views import family, line, page, session

STATIC_DIR = Path(__file__).parent / "static"


def setup_routes(app: web.Application) -> None:
    """Register the page's named routes."""
    app.router.add_get("/", page.home, name="home")
    app.router.add_get("/login", session.login_form, name="login")
    app.router.add_post("/login", session.login_submit, name="login_submit")
    app.router.add_post("/logout", session.logout, name="logout")
    app.router.add_get("/password", session.password_form, name="password")
    app.router.add_post("/password", session.password_submit, name="password_submit")
    app.router.add_post("/email/add", page.email_add, name="email_add")
    app.router.add_post("/email/switch", page.email_switch, name="email_switch")
    app.router.add_post("/email/remove", page.email_remove, name="email_remove")
    app.router.add_post("/email/resend", page.email_resend, name="email_resend")
    app.router.add_get("/email/confirm", page.email_confirm_form, name="email_confirm")
    app.router.add_post("/email/confirm", page.email_confirm, name="email_confirm_submit")
    app.router.add_post("/language", page.language, name="language")
    app.router.add_post("/family/add", family.add, name="family_add")
    app.router.add_post("/family/edit", family.edit, name="family_edit")
    app.router.add_post("/family/remove", family.remove, name="family_remove")
    app.router.add_post("/family/code", family.code, name="family_code")
    app.router.add_post("/family/email/resend", family.email_resend, name="family_email_resend")
    app.router.add_post("/family/answer", family.answer, name="family_answer")
    app.router.add_get("/line", line.line_page, name="line")
    app.router.add_post("/line/start", line.start, name="line_start")
    app.router.add_get("/line/callback", line.callback, name="line_callback")
    app.router.add_post("/line/replace", line.replace, name="line_replace")
    app.router.add_post("/line/replace/cancel", line.replace_cancel, name="line_replace_cancel")
    app.router.add_post("/line/unlink", line.unlink, name="line_unlink")
    app.router.add_static("/static/", STATIC_DIR, name="static")
