"""Rendering the employee page: every template gets the CSRF token and the signed-in
employee (if any)."""

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from me.keys import EMPLOYEE
from web.csrf import csrf_token
from web.errors import error_title


def render(
    request: web.Request, template: str, context: dict[str, Any], status: int = 200
) -> web.Response:
    """A page of the employee page; never cached (it shows a person's own record)."""
    context = {"employee": request.get(EMPLOYEE), "csrf_token": csrf_token(request), **context}
    response = aiohttp_jinja2.render_template(template, request, context, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(request: web.Request, status: int, message: str) -> web.Response:
    """A domain error as a page of the employee page, with the way back."""
    return render(
        request, "error.html", {"title": error_title(status), "message": message}, status=status
    )


def url(request: web.Request, name: str, **query: str) -> str:
    """A path of this app by route name, with an optional query."""
    target = request.app.router[name].url_for()
    return str(target.with_query(query) if query else target)
