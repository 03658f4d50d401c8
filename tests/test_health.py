"""Liveness and readiness probes, as a load balancer and an orchestrator read them."""

from __future__ import annotations

from dataclasses import replace

from aiohttp.test_utils import unused_port

from bot.app import create_app
from bot.keys import WORKER_TASKS
from tests.conftest import FAST_ENGINE, bot_config, free_port_socket, held_port_server, until


async def _get(session, url):
    async with session.get(url) as response:
        return response.status, await response.json()


async def test_a_serving_process_is_ready(bot, browser_session):
    status, body = await _get(browser_session, bot.make_url("/readyz"))
    assert status == 200
    assert body == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "delivery": "running"},
    }


async def test_a_web_face_without_workers_is_ready_without_a_delivery_engine(
    sim, database_url, browser_session
):
    listening = free_port_socket()
    port = listening.getsockname()[1]
    config = replace(bot_config(sim, database_url, port), workers=())
    server = held_port_server(create_app(config), listening)
    await server.start_server()
    try:
        status, body = await _get(browser_session, server.make_url("/readyz"))
    finally:
        await server.close()
    assert status == 200
    assert body["checks"]["delivery"] == "not run here"


async def test_an_unmigrated_database_is_not_ready_but_alive(sim, tmp_path, browser_session):
    listening = free_port_socket()
    port = listening.getsockname()[1]
    url = f"sqlite://{tmp_path}/empty.sqlite3"
    config = replace(bot_config(sim, url, port), workers=())
    server = held_port_server(create_app(config), listening)
    await server.start_server()
    try:
        alive, _ = await _get(browser_session, server.make_url("/healthz"))
        status, body = await _get(browser_session, server.make_url("/readyz"))
    finally:
        await server.close()
    assert alive == 200
    assert status == 503
    assert body["status"] == "unready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"].endswith(" pending")


async def test_a_stopped_delivery_engine_makes_the_process_unready(bot, browser_session):
    bot.app[WORKER_TASKS]["delivery"].cancel()
    await until(lambda: bot.app[WORKER_TASKS]["delivery"].done())
    status, body = await _get(browser_session, bot.make_url("/readyz"))
    assert status == 503
    assert body["checks"]["delivery"] == "stopped"


async def test_line_being_unreachable_does_not_make_the_process_unready(
    sim, database_url, browser_session
):
    listening = free_port_socket()
    port = listening.getsockname()[1]
    nowhere = f"http://127.0.0.1:{unused_port()}"  # nothing listens: LINE is down
    config = bot_config(sim, database_url, port).on_line_host(nowhere)
    server = held_port_server(create_app(config, engine_settings=FAST_ENGINE), listening)
    await server.start_server()
    try:
        status, body = await _get(browser_session, server.make_url("/readyz"))
    finally:
        await server.close()
    assert status == 200, body
    assert body["checks"]["delivery"] == "running"
