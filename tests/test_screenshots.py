"""docs/screenshots.py, which takes the README's pictures, walks the demo without the browser
reporting a problem (console errors, page errors, 4xx/5xx such as a missing favicon). The
pictures are not compared; the committed ones stay small."""

from __future__ import annotations

from docs import screenshots
from tests.browser import needs_chromium
from tests.demo_helpers import DemoProcess

PNG = b"\x89PNG\r\n\x1a\n"


@needs_chromium
async def test_the_screenshot_script_walks_the_demo_without_browser_problems(
    running_demo: DemoProcess, tmp_path
):
    problems = await screenshots.take(running_demo.banner, tmp_path)

    assert problems == []
    for name in screenshots.SHOTS:
        assert (tmp_path / name).read_bytes().startswith(PNG), name


def test_the_committed_screenshots_are_there_and_small():
    sizes = [(screenshots.DOCS / name).stat().st_size for name in screenshots.SHOTS]
    assert sum(sizes) < 400 * 1024
