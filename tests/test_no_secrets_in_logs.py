"""Tokens, codes and what people write never reach the logs."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

from aiohttp import web
from aiohttp.test_utils import unused_port

from bot.access_log import PathOnlyAccessLogger
from bot.app import create_app
from domain.actors import Actor
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


# A real `serve` with LOG_FORMAT=json: every line one JSON object with a request ID, every
# LINE call with LINE's x-line-request-id, and none of what people wrote or any secret.


class _Served:
    """What LineActions needs of a server: its URLs."""

    def __init__(self, port: int) -> None:
        self.port = port

    def make_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


async def test_serve_logs_json_lines_with_request_ids_and_no_secrets(tmp_path, db, browser_session):
    from domain.alerts import start_alert
    from models import Template
    from tests.conftest import (
        ACCESS_TOKEN,
        CONSOLE_PASSWORD,
        LIFF_ID,
        SECRET,
        LineActions,
        make_console_user,
    )  # fmt: skip
    from tests.processes import (
        SERVE_READY,
        BotProcess,
        line_env,
        process_port,
        simulator_on_ports,
    )

    company = await make_company({"総務部": [("E1", "山田")]})
    await make_console_user("soumu", "maintainer")
    chat, answer_text, wrong = "秘密の相談です", "家が半壊しました", "WRONG-CODE-123"
    async with simulator_on_ports(1) as (sim, urls):
        port = process_port()
        env = line_env(urls[0], db, port, LOG_FORMAT="json", DELIVERY_POLL_SECONDS="0.2")
        served = await BotProcess.start("serve", cwd=tmp_path, env=env, ready=SERVE_READY)
        try:
            sim.config.webhook_url = f"http://127.0.0.1:{port}/callback"
            sim.config.liff_apps[LIFF_ID] = f"http://127.0.0.1:{port}/liff/"
            line = LineActions(sim, _Served(port), browser_session)
            user_id = await line.befriend("たろう")
            await sim.send_text(user_id, chat)
            await until(lambda: len(sim.messages_for(user_id)) == 4)
            issued = await issue_registration_code(company.employees["E1"])
            url = await line.link_url(user_id)
            await line.sign_in(url, "E1", wrong)
            await line.link(user_id, company.employees["E1"])
            started = await start_alert(
                Actor.cli(), await Template.get(key="earthquake"), drill=True
            )
            await until(lambda: any(m.get("type") == "flex" for m in sim.messages_for(user_id)))
            token = sim.issue_id_token(user_id)
            good = {"本人": "無事", "家族": "全員無事", "家屋": "被害なし", "出社": "可能"}
            async with browser_session.post(
                f"http://127.0.0.1:{port}/liff/api/alerts/{started.alert.id}/answer",
                headers={"Authorization": f"Bearer {token}"},
                json={"choices": good, "message": answer_text},
            ) as response:
                assert response.status == 200
                request_id = response.headers["X-Request-ID"]
            async with browser_session.post(
                f"http://127.0.0.1:{port}/console/login",
                data={"login": "soumu", "password": CONSOLE_PASSWORD},
                allow_redirects=False,
            ):
                pass
        finally:
            assert await served.stop() == 0

    printed = [line for line in served.output.splitlines() if line.strip()]
    entries = [json.loads(line) for line in printed if line.startswith("{")]
    others = [line for line in printed if not line.startswith("{")]
    assert all(o.startswith(("serving on", "stopping")) for o in others), others
    assert entries and all(set(e) >= {"time", "level", "logger", "request_id", "message"}
                           for e in entries)  # fmt: skip
    line_calls = [
        e["message"] for e in entries if e["message"].startswith(("LINE GET ", "LINE POST "))
    ]
    assert line_calls and all("x-line-request-id=" in m for m in line_calls)
    messaging = [m for m in line_calls if " /v2/" in m and "-> 200" in m]
    assert messaging and not any(m.endswith("x-line-request-id=-") for m in messaging)
    multicasts = [e for e in entries if e["message"].startswith("LINE POST /v2/bot/message/multi")]
    assert multicasts and all(e["request_id"].startswith("delivery-") for e in multicasts)
    answered = [e for e in entries if e["request_id"] == request_id]
    assert any("/answer 200" in e["message"] for e in answered)  # the access log line
    text = served.output
    for secret in [chat, answer_text, wrong, issued.code, token, SECRET, ACCESS_TOKEN,
                   "test-secret-key", CONSOLE_PASSWORD, user_id, "replyToken"]:  # fmt: skip
        assert secret not in text, secret
