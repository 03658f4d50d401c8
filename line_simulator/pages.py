"""HTML pages of the simulator, rendered from the small Jinja templates in `templates/`."""

from __future__ import annotations

import functools
from typing import Any

import jinja2
from aiohttp import web


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("line_simulator", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, *, status: int = 200, **context: Any) -> web.Response:
    """Render a template to an HTML response."""
    html = _environment().get_template(template).render(**context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def notice(
    title: str,
    message: str,
    *,
    status: int = 200,
    link: str | None = None,
    link_text: str | None = None,
) -> web.Response:
    """Render a one-message page (results of the account-link dialog, errors)."""
    return render(
        "notice.html", status=status, title=title, message=message, link=link, link_text=link_text
    )
