"""Request IDs and the log format setting (the JSON lines of a real `serve`, and what they
must never hold: tests/test_no_secrets_in_logs.py)."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from bot.config import Config, ConfigError
from bot.logs import JsonFormatter, RequestIdFilter, request_id


@pytest.mark.parametrize(
    ("given", "kept"), [("req-12345678", True), ("bad id <script>", False), ("short", False)]
)
async def test_each_response_carries_a_request_id(bot, browser_session, given, kept):
    async with browser_session.get(
        bot.make_url("/healthz"), headers={"X-Request-ID": given}
    ) as response:
        sent_back = response.headers["X-Request-ID"]
    assert (sent_back == given) is kept
    assert 8 <= len(sent_back) <= 64


async def test_an_error_response_carries_a_request_id_too(bot, browser_session):
    async with browser_session.post(bot.make_url("/callback"), data=b"{}") as response:
        assert response.status == 400
        assert response.headers["X-Request-ID"]


def test_a_json_line_holds_the_request_id_and_a_traceback_on_one_line():
    token = request_id.set("req-abcdefgh")
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            record = logging.LogRecord(
                "bot.x", logging.ERROR, __file__, 1, "failed %s", ("step",), sys.exc_info()
            )
        RequestIdFilter().filter(record)
        line = JsonFormatter().format(record)
    finally:
        request_id.reset(token)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["request_id"] == "req-abcdefgh" and entry["message"] == "failed step"
    assert "ValueError: boom" in entry["exc"]


def test_log_format_is_plain_or_json():
    assert Config.from_env({}).log_format == "plain"
    assert Config.from_env({"LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        Config.from_env({"LOG_FORMAT": "xml"})
