"""Starting alerts and delivering them: roster, outbox, multicast batches, retry keys."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.keys import CONFIG, LINE
from bot.messages import delivery_message
from domain.actors import Actor
from domain.alerts import find_departments, find_template, start_alert
from domain.delivery import DeliveryEngine
from domain.errors import Invalid, NotFound
from models import Alert, AlertRecipient, Delivery, DeliveryStatus, LineAccount, Template
from tests.conftest import FAST_ENGINE, LIFF_ID, make_company, quick_link, until
from web.timefmt import JST

pytestmark = pytest.mark.no_delivery_engine


def engine(bot, **settings) -> DeliveryEngine:
    """A delivery engine like the app's, driven by the test."""
    render = partial(delivery_message, liff_url=bot.app[CONFIG].liff_url)
    return DeliveryEngine(bot.app[LINE], render, replace(FAST_ENGINE, **settings))


def flexes(sim, user_id: str) -> list[dict]:
    return [m for m in sim.messages_for(user_id) if m["type"] == "flex"]


async def earthquake() -> Template:
    return await Template.get(key="earthquake")


async def test_starting_an_alert_writes_roster_and_line_deliveries_together(sim, bot):
    company = await make_company(
        {"総務部": [("E1", "山田"), ("E2", "佐藤"), ("E3", "鈴木"), ("E4", "高橋")]}
    )
    linked = await quick_link(sim, company.employees["E1"])
    blocked = await quick_link(sim, company.employees["E2"])
    await LineAccount.filter(user_id=blocked).update(blocked=True, followed=False)
    await company.employees["E4"].update_from_dict({"active": False}).save()

    started = await start_alert(Actor.cli(), await earthquake(), drill=True)

    assert (started.recipients, started.line_deliveries, started.unreachable) == (3, 1, 2)
    roster = await AlertRecipient.filter(alert_id=started.alert.id).values_list(
        "employee__code", flat=True
    )
    assert sorted(roster) == ["E1", "E2", "E3"]  # the inactive employee is not asked
    rows = await Delivery.filter(alert_id=started.alert.id)
    assert [(r.address, r.status) for r in rows] == [(linked, DeliveryStatus.PENDING)]


async def test_alert_freezes_the_template_so_later_edits_do_not_change_it(sim, bot):
    await make_company({"総務部": [("E1", "山田")]})
    template = await earthquake()
    started = await start_alert(Actor.cli(), template, drill=False)
    template.title = "変更後"
    template.items = [{"label": "本人", "required": True, "choices": ["無事"]}]
    await template.save()
    alert = await Alert.get(id=started.alert.id)
    assert alert.title == "【地震】安否確認"
    assert [i["label"] for i in alert.items] == ["本人", "家族", "家屋", "出社"]


async def test_targeting_a_department_includes_the_departments_below_it(sim, bot):
    await make_company(
        {
            "本社": [("E1", "山田")],
            "総務部": [("E2", "佐藤")],
            "総務課": [("E3", "鈴木")],
            "大阪支店": [("E4", "高橋")],
        },
        parents={"総務部": "本社", "総務課": "総務部"},
    )
    started = await start_alert(
        Actor.cli(), await earthquake(), drill=True, departments=await find_departments(["総務部"])
    )
    codes = await AlertRecipient.filter(alert_id=started.alert.id).values_list(
        "employee__code", flat=True
    )
    assert sorted(codes) == ["E2", "E3"]
    assert [d.name for d in await started.alert.target_departments.all()] == ["総務部"]


@pytest.mark.parametrize("ref", ["no-such", "999"])
async def test_an_unknown_template_is_refused_but_key_and_id_both_find_one(sim, bot, ref):
    with pytest.raises(NotFound, match=ref):
        await find_template(ref)
    template = await earthquake()
    assert await find_template(str(template.id)) == template
    assert await find_template("earthquake") == template


async def test_an_unknown_department_is_refused(sim, bot):
    await make_company({"総務部": [("E1", "山田")]})
    with pytest.raises(NotFound, match="営業部"):
        await find_departments(["営業部"])


async def test_an_alert_with_nobody_to_ask_is_refused_and_writes_nothing(sim, bot):
    company = await make_company({"総務部": [("E1", "山田")], "営業部": []})
    with pytest.raises(Invalid):
        await start_alert(
            Actor.cli(), await earthquake(), drill=True, departments=[company.departments["営業部"]]
        )
    assert await Alert.all().count() == 0


async def test_the_alert_message_shows_the_seed_fields_and_the_answer_button(sim, bot):
    company = await make_company({"総務部": [("E1", "山田")]})
    user_id = await quick_link(sim, company.employees["E1"])
    started = await start_alert(
        Actor.cli(), await earthquake(), drill=True, sender_name="総務部 防災担当"
    )
    await engine(bot).run_until_idle()

    [flex] = flexes(sim, user_id)
    texts = [c["text"] for row in flex["contents"]["body"]["contents"] for c in row["contents"]]
    started_at = started.alert.started_at.astimezone(JST)
    assert texts == [
        "■ 開始日時",
        started_at.strftime("%Y/%m/%d %H:%M"),
        "■ タイトル",
        "【訓練】【地震】安否確認",
        "■ 連絡者",
        "【総務部 防災担当】",
        "■ 連絡メッセージ",
        started.alert.message,
    ]
    action = flex["contents"]["footer"]["contents"][0]["action"]
    assert action["label"] == "回答"
    url = urlsplit(action["uri"])
    assert (
        f"{url.scheme}://{url.netloc}{url.path}" == f"{sim.config.public_base_url}/liff/{LIFF_ID}"
    )
    assert parse_qs(url.query) == {"alert": [str(started.alert.id)]}
    assert "訓練" in flex["altText"]


async def test_501_recipients_go_out_as_two_multicasts_each_with_its_own_retry_key(sim, bot):
    people = [(f"E{n:04d}", f"社員{n}") for n in range(501)]
    company = await make_company({"本社": people})
    users = [await quick_link(sim, e) for e in company.employees.values()]
    await start_alert(Actor.cli(), await earthquake(), drill=True)
    await engine(bot).run_until_idle()

    multicasts = [s for s in sim.sent if s.kind == "multicast"]
    assert sorted(len(m.to) for m in multicasts) == [1, 500]  # both in flight at once
    assert len({m.retry_key for m in multicasts}) == 2
    assert all(len(flexes(sim, u)) == 1 for u in users)
    assert await Delivery.filter(status=DeliveryStatus.SENT).count() == 501


async def test_a_server_error_is_retried_under_the_same_retry_key_and_delivered_once(sim, bot):
    company = await make_company({"総務部": [("E1", "山田")]})
    user_id = await quick_link(sim, company.employees["E1"])
    await start_alert(Actor.cli(), await earthquake(), drill=True)
    sim.inject_fault("multicast", status=500, times=2)
    await engine(bot).run_until_idle()

    attempts = [s for s in sim.sent if s.kind == "multicast"]
    assert [s.status for s in attempts] == [500, 500, 200]
    row = await Delivery.get()
    assert {s.retry_key for s in attempts} == {row.batch_key}
    assert len(flexes(sim, user_id)) == 1
    assert row.status == DeliveryStatus.SENT and row.attempts == 3


async def test_the_rate_limit_429_is_retried_but_the_monthly_limit_is_not(sim, bot):
    company = await make_company({"総務部": [("E1", "山田"), ("E2", "佐藤")]})
    first = await quick_link(sim, company.employees["E1"])
    await start_alert(Actor.cli(), await earthquake(), drill=True)
    sim.inject_fault("multicast", status=429, times=1)  # LINE's rate-limit body
    await engine(bot).run_until_idle()
    assert len(flexes(sim, first)) == 1
    assert (await Delivery.get()).status == DeliveryStatus.SENT

    second = await quick_link(sim, company.employees["E2"])
    started = await start_alert(Actor.cli(), await earthquake(), drill=True)
    sim.inject_fault(
        "multicast", status=429, times=1, body={"message": "You have reached your monthly limit."}
    )
    await engine(bot).run_until_idle()
    row = await Delivery.get(alert_id=started.alert.id, address=second)
    assert row.status == DeliveryStatus.FAILED and "monthly limit" in row.reason
    assert row.attempts == 1
    assert flexes(sim, second) == []


async def test_a_request_line_rejects_is_marked_failed_with_the_reason(sim, bot):
    company = await make_company({"総務部": [("E1", "山田")]})
    await quick_link(sim, company.employees["E1"])
    await start_alert(Actor.cli(), await earthquake(), drill=True)
    sim.inject_fault("multicast", status=400, body={"message": "The request body has 1 error(s)"})
    await engine(bot).run_until_idle()
    row = await Delivery.get()
    assert row.status == DeliveryStatus.FAILED
    assert row.reason.startswith("LINE 400") and "error(s)" in row.reason


async def test_a_lost_response_resumes_under_the_same_key_and_nobody_gets_two_copies(sim, bot):
    company = await make_company({"総務部": [("E1", "山田")]})
    user_id = await quick_link(sim, company.employees["E1"])
    await start_alert(Actor.cli(), await earthquake(), drill=True)
    # LINE accepts the multicast but the answer never reaches us, and we give up this round.
    sim.inject_fault("multicast", status=500, deliver=True)
    await engine(bot, attempts_per_claim=1).run_until_idle()
    row = await Delivery.get()
    assert row.status == DeliveryStatus.SENDING and row.batch_key

    # Later (the claim is stale) an engine resumes the batch under the stored key.
    await engine(bot, stale_after=timedelta(0)).run_once()
    multicasts = [s for s in sim.sent if s.kind == "multicast"]
    assert multicasts[-1].status == 409 and multicasts[-1].retry_key == row.batch_key
    assert len(flexes(sim, user_id)) == 1
    assert (await Delivery.get()).status == DeliveryStatus.SENT


async def test_a_process_that_died_after_claiming_is_resumed_with_the_stored_key(sim, bot):
    company = await make_company({"総務部": [("E1", "山田")]})
    user_id = await quick_link(sim, company.employees["E1"])
    await start_alert(Actor.cli(), await earthquake(), drill=True)
    key = "6f9619ff-8b86-4011-b42d-00c04fc964ff"
    await Delivery.all().update(
        status=DeliveryStatus.SENDING,
        batch_key=key,
        claimed_at=datetime.now(UTC) - timedelta(minutes=10),
    )
    await engine(bot).run_once()  # default stale_after: two minutes
    [multicast] = [s for s in sim.sent if s.kind == "multicast"]
    assert multicast.retry_key == key and multicast.to == [user_id]
    assert (await Delivery.get()).status == DeliveryStatus.SENT


async def test_a_fresh_claim_of_another_process_is_left_alone(sim, bot):
    company = await make_company({"総務部": [("E1", "山田")]})
    await quick_link(sim, company.employees["E1"])
    await start_alert(Actor.cli(), await earthquake(), drill=True)
    await Delivery.all().update(
        status=DeliveryStatus.SENDING, batch_key="k", claimed_at=datetime.now(UTC)
    )
    assert await engine(bot).run_once() == 0
    assert [s for s in sim.sent if s.kind == "multicast"] == []


async def test_two_engines_sharing_the_database_send_each_person_one_copy(sim, bot):
    people = [(f"E{n:04d}", f"社員{n}") for n in range(1200)]
    company = await make_company({"本社": people})
    users = [await quick_link(sim, e) for e in company.employees.values()]
    await start_alert(Actor.cli(), await earthquake(), drill=True)
    await asyncio.gather(
        engine(bot, batch_size=100).run_until_idle(),
        engine(bot, batch_size=100).run_until_idle(),
    )
    assert all(len(flexes(sim, u)) == 1 for u in users)
    accepted = [s for s in sim.sent if s.kind == "multicast" and s.status == 200]
    assert sum(len(m.to) for m in accepted) == 1200
    assert await Delivery.filter(status=DeliveryStatus.SENT).count() == 1200


async def test_a_stopping_engine_releases_its_batch_for_another_to_resume_at_once(sim, bot):
    company = await make_company({"総務部": [("E1", "山田")]})
    user_id = await quick_link(sim, company.employees["E1"])
    await start_alert(Actor.cli(), await earthquake(), drill=True)
    # LINE accepts the multicast but the answer never reaches us; the engine backs off.
    sim.inject_fault("multicast", status=500, deliver=True)
    waiting = asyncio.create_task(engine(bot, backoff_base=600, backoff_cap=600).run_once())
    await until(lambda: [s for s in sim.sent if s.kind == "multicast"], within=10)
    waiting.cancel()  # the process stops (SIGTERM)
    with pytest.raises(asyncio.CancelledError):
        await waiting
    row = await Delivery.get()
    assert row.status == DeliveryStatus.SENDING and row.batch_key

    # Another engine resumes it now, not two minutes later, under the stored key.
    await engine(bot, stale_after=timedelta(minutes=2)).run_once()
    multicasts = [s for s in sim.sent if s.kind == "multicast"]
    assert multicasts[-1].status == 409 and multicasts[-1].retry_key == row.batch_key
    assert len(flexes(sim, user_id)) == 1
    assert (await Delivery.get()).status == DeliveryStatus.SENT
