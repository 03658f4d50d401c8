"""`/metrics` as Prometheus scrapes it: behind METRICS_TOKEN, counting what the real app did
(webhook events, its acknowledgement time, LINE calls, worker steps) and reading what the
database holds (deliveries, outbox, answers, open alerts), with nobody's data in a label.

Counters belong to the process (other tests in it count too), so tests compare before and
after."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from bot.app import create_app
from bot.metrics import endpoint_label
from domain.actors import Actor
from domain.alerts import start_alert
from models import Answer, AnswerChannel, Template
from tests.conftest import (
    FAST_ENGINE,
    LIFF_ID,
    bot_config,
    free_port_socket,
    held_port_server,
    make_company,
    until,
)

TOKEN = "metrics-token-for-tests"


async def start(sim, database_url: str, **changes) -> TestServer:
    listening = free_port_socket()
    port = listening.getsockname()[1]
    config = replace(bot_config(sim, database_url, port), **changes)
    server = held_port_server(create_app(config, engine_settings=FAST_ENGINE), listening)
    await server.start_server()
    sim.config.webhook_url = f"{config.public_base_url}/callback"
    sim.config.liff_apps[LIFF_ID] = f"{config.public_base_url}/liff/"
    return server


@pytest.fixture
async def served(sim, database_url) -> AsyncIterator[TestServer]:
    server = await start(sim, database_url, metrics_token=TOKEN)
    yield server
    await server.close()


async def scrape(session, server, token: str | None = TOKEN) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.get(server.make_url("/metrics"), headers=headers) as response:
        return response.status, await response.text()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_are_not_served_without_a_token_configured(sim, bot, browser_session):
    status, _ = await scrape(browser_session, bot)
    assert status == 404


@pytest.mark.parametrize("token", [None, "wrong", f"{TOKEN}x"])
async def test_metrics_refuse_a_missing_or_wrong_bearer_token(served, browser_session, token):
    status, body = await scrape(browser_session, served, token)
    assert status == 401
    assert "anpi_" not in body


async def test_a_scrape_counts_what_the_app_did_and_reads_the_database(
    sim, served, browser_session
):
    _, before = await scrape(browser_session, served)
    company = await make_company({"総務部": [("E1", "山田"), ("E2", "佐藤")]})
    user = sim.add_user("秘密のなまえ")
    assert await sim.follow(user.user_id) == 200
    await until(lambda: sim.messages_for(user.user_id))
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    await Answer.create(
        alert_id=started.alert.id, employee=company.employees["E1"], message="家が傾いた",
        choices={"本人": "無事"}, channel=AnswerChannel.LIFF, answered_at=started.alert.started_at,
    )  # fmt: skip

    async def followed_counted() -> bool:
        _, text = await scrape(browser_session, served)
        handled = value(text, "anpi_webhook_events_total", type="follow", outcome="handled")
        # the inbox worker's step is counted when it ends, a moment after the event's outcome
        worked = value(text, "anpi_worker_steps_total", worker="inbox", outcome="worked")
        return worked > 0 and handled > value(
            before, "anpi_webhook_events_total", type="follow", outcome="handled"
        )

    await until(followed_counted)
    status, after = await scrape(browser_session, served)
    assert status == 200

    assert value(after, "anpi_webhook_ack_seconds_count") > value(
        before, "anpi_webhook_ack_seconds_count"
    )
    assert value(after, "anpi_webhook_requests_total", status="200") > value(
        before, "anpi_webhook_requests_total", status="200"
    )
    reply = {"endpoint": "POST /v2/bot/message/reply", "status": "200"}
    assert value(after, "anpi_line_api_calls_total", **reply) > value(
        before, "anpi_line_api_calls_total", **reply
    )
    assert value(after, "anpi_worker_steps_total", worker="inbox", outcome="worked") > 0
    # Nobody is linked: the alert has no LINE deliveries; read from the database.
    assert value(after, "anpi_open_alerts") == 1
    assert value(after, "anpi_answers") == 1
    assert value(after, "anpi_outbox_depth") == 0
    for secret in [user.user_id, "秘密のなまえ", "家が傾いた", "山田", TOKEN]:
        assert secret not in after


async def test_deliveries_are_counted_by_medium_and_state(sim, served, browser_session):
    from tests.conftest import quick_link

    company = await make_company({"総務部": [("E1", "山田"), ("E2", "佐藤")]})
    for employee in company.employees.values():
        await quick_link(sim, employee)
    await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)

    async def sent() -> bool:
        _, text = await scrape(browser_session, served)
        return value(text, "anpi_deliveries", medium="line", state="sent") == 2

    await until(sent)
    _, text = await scrape(browser_session, served)
    assert value(text, "anpi_outbox_depth") == 0
    multicast = {"endpoint": "POST /v2/bot/message/multicast", "status": "200"}
    assert value(text, "anpi_line_api_calls_total", **multicast) >= 1


def test_endpoint_labels_name_no_one():
    user = "U" + "0123456789abcdef" * 2
    assert endpoint_label(f"/v2/bot/profile/{user}") == "/v2/bot/profile/{id}"
    assert endpoint_label(f"/v2/bot/user/{user}/richmenu/richmenu-8d1f") == (
        "/v2/bot/user/{id}/richmenu/{id}"
    )
    assert endpoint_label("/v2/bot/message/multicast") == "/v2/bot/message/multicast"


async def test_a_worker_process_serves_probes_and_metrics_on_its_worker_port(
    tmp_path, db, browser_session
):
    from tests.processes import (
        WORKER_READY,
        BotProcess,
        line_env,
        process_port,
        simulator_on_ports,
    )

    async with simulator_on_ports(1) as (_, urls):
        port = process_port()
        env = line_env(urls[0], db, WORKER_PORT=str(port), METRICS_TOKEN=TOKEN)
        worker = await BotProcess.start("worker", cwd=tmp_path, env=env, ready=WORKER_READY)
        try:
            base = f"http://127.0.0.1:{port}"
            async with browser_session.get(f"{base}/readyz") as response:
                assert response.status == 200
                assert (await response.json())["checks"]["delivery"] == "running"
            async with browser_session.get(f"{base}/metrics") as response:
                assert response.status == 401

            async def scrape_after_an_idle_step() -> str | None:
                # The delivery worker's first step may come a moment after "workers running".
                async with browser_session.get(
                    f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
                ) as response:
                    assert response.status == 200
                    text = await response.text()
                steps = value(text, "anpi_worker_steps_total", worker="delivery", outcome="idle")
                return text if steps >= 1 else None

            text = await until(scrape_after_an_idle_step, within=60)
            # What startup made is out of the garbage collector's full collections.
            assert value(text, "anpi_gc_frozen_objects") > 10_000
            async with browser_session.get(f"{base}/callback") as response:
                assert response.status == 404  # no web face on this port
        finally:
            assert await worker.stop() == 0
    assert "anpi_open_alerts 0.0" in text


async def test_a_served_process_keeps_startup_out_of_full_garbage_collections(
    tmp_path, db, browser_session
):
    """A full collection walking startup's objects paused every request for 120-160 ms
    under load (benchmarks/answers.py); `serve` takes them out of its sight once started."""
    from tests.processes import (
        SERVE_READY,
        BotProcess,
        line_env,
        process_port,
        simulator_on_ports,
    )

    async with simulator_on_ports(1) as (_, urls):
        port = process_port()
        env = line_env(urls[0], db, port, METRICS_TOKEN=TOKEN)
        served = await BotProcess.start("serve", cwd=tmp_path, env=env, ready=SERVE_READY)
        try:
            async with browser_session.get(
                f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
            ) as response:
                assert response.status == 200
                text = await response.text()
        finally:
            assert await served.stop() == 0
    assert value(text, "anpi_gc_frozen_objects") > 10_000
    assert 'python_gc_collections_total{generation="2"}' in text
