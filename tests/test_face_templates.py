"""A face's templates are compiled once per process: a second app (the tests make one a test)
renders from the compiled code the first left, and a template whose source changed is
compiled again."""

from __future__ import annotations

import sys
from pathlib import Path

import jinja2
import pytest
from aiohttp import web

from tests.conftest import FAST_ENGINE, start_bot
from web.pages import face_templates


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The templates jinja2 compiles from source, by name, in order."""
    names: list[str] = []
    compile_source = jinja2.Environment.compile

    def counting(self, source, name=None, filename=None, raw=False, defer_init=False):
        names.append(name)
        return compile_source(self, source, name, filename, raw, defer_init)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    return names


async def test_a_second_app_renders_the_sign_in_page_without_compiling_it(
    sim, database_url, browser_session, compiled
):
    pages = []
    for _ in range(2):
        server = await start_bot(sim, database_url, FAST_ENGINE)
        try:
            async with browser_session.get(server.make_url("/console/login")) as response:
                assert response.status == 200
                pages.append(await response.text())
        finally:
            await server.close()

    # The first app compiled the page (unless an earlier test of this process did); the
    # second compiled nothing.
    assert compiled.count("login.html") <= 1 and compiled.count("base.html") <= 1
    before = len(compiled)
    server = await start_bot(sim, database_url, FAST_ENGINE)
    try:
        async with browser_session.get(server.make_url("/console/login")) as response:
            third = await response.text()
    finally:
        await server.close()
    assert len(compiled) == before
    assert "ログイン" in pages[0]
    # Each app's own CSRF token differs; the rest of the page is the same.
    assert _without_tokens(pages[1]) == _without_tokens(third) == _without_tokens(pages[0])


def _without_tokens(page: str) -> str:
    return "\n".join(line for line in page.splitlines() if "csrf" not in line.lower())


def test_a_template_whose_source_changed_is_compiled_again(tmp_path: Path, compiled):
    package = tmp_path / "face_for_test"
    (package / "templates").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    page = package / "templates" / "page.html"
    page.write_text("<p>{{ _('回答') }} 1</p>")

    sys.path.insert(0, str(tmp_path))
    try:
        first = face_templates(web.Application(), "face_for_test")
        assert first.get_template("page.html").render() == "<p>回答 1</p>"
        second = face_templates(web.Application(), "face_for_test")
        assert second.get_template("page.html").render() == "<p>回答 1</p>"
        assert compiled.count("page.html") == 1

        page.write_text("<p>{{ _('回答') }} 2</p>")
        third = face_templates(web.Application(), "face_for_test")
        assert third.get_template("page.html").render() == "<p>回答 2</p>"
        assert compiled.count("page.html") == 2
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("face_for_test", None)
