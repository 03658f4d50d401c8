"""Tokens, codes and what people write never reach the logs."""

from __future__ import annotations

import logging
from dataclasses import replace

from aiohttp import web
from aiohttp.test_utils import unused_port

from bot.access_log import PathOnlyAccessLogger
from bot.app import create_app
from domain.linking import issue_registration_code, record_link_token
from tests.conftest import bot_config, make_company, until


async def test_the_access_log_leaves_out_query_strings(sim, sqlite_db, caplog, browser_session):
    port = unused_port()
    app = create_app(replace(bot_config(sim, sqlite_db, port), workers=()))
    runner = web.AppRunner(app, access_log_class=PathOnlyAccessLogger)  # as `serve` runs it
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await record_link_token("U" + "0" * 32, "SECRET-LINK-TOKEN")  # as if the bot obtained it
    try:
        with caplog.at_level(logging.INFO, logger="aiohttp.access"):
            url = f"http://127.0.0.1:{port}/link?linkToken=SECRET-LINK-TOKEN"
            async with browser_session.get(url):
                pass
    finally:
        await runner.cleanup()
    assert "GET /link 200" in caplog.text
    assert "SECRET-LINK-TOKEN" not in caplog.text


async def test_chat_text_codes_and_id_tokens_are_not_logged(sim, bot, line, caplog):
    caplog.set_level(logging.INFO)  # what `serve` logs (SQL tracing at DEBUG is off there)
    company = await make_company({"総務部": [("E1", "山田")]})
    user_id = await line.befriend("たろう")
    await sim.send_text(user_id, "秘密の相談です")
    await until(lambda: len(sim.messages_for(user_id)) == 4)  # greeting x2, how to answer x2
    issued = await issue_registration_code(company.employees["E1"])
    url = await line.link_url(user_id)
    await line.sign_in(url, "E1", "WRONG-CODE")
    await line.sign_in(url, "E1", issued.code)
    token = sim.issue_id_token(user_id)
    async with line.session.get(
        bot.make_url("/liff/api/alerts/1"), headers={"Authorization": f"Bearer {token}"}
    ):
        pass
    for secret in ["秘密の相談です", issued.code, "WRONG-CODE", token, "test-channel-secret"]:
        assert secret not in caplog.text
