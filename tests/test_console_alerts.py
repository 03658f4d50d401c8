"""Supervisor pages of the console: an alert's tally (live over server-sent events), who has
not answered, the CSV of answers, each within the viewer's department scope."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
from dataclasses import dataclass

import aiohttp
import pytest

from domain.actors import Actor
from domain.alerts import start_alert
from domain.answers import submit_answer
from models import AnswerChannel, AuditEntry, Template
from tests.conftest import ConsoleActions, make_company, make_console_user, quick_link, until

SAFE = {"本人": "無事", "家族": "全員無事", "家屋": "被害なし", "出社": "可能"}
HURT = {"本人": "重傷", "家族": "一部負傷", "家屋": "全壊", "出社": "不可能"}


@dataclass
class Scene:
    alert_id: int  # to 総務部 and 営業部
    eigyo_alert_id: int  # to 営業部 only
    company: object
    line_users: dict[str, str]


@pytest.fixture
async def scene(sim, bot) -> Scene:
    """総務部 (E1 山田, E2 佐藤) and 営業部 (E3 鈴木); E1 and E3 have LINE; a drill to all."""
    company = await make_company(
        {"総務部": [("E1", "山田 太郎"), ("E2", "佐藤 花子")], "営業部": [("E3", "鈴木 一郎")]}
    )
    line_users = {
        "E1": await quick_link(sim, company.employees["E1"], "やまだLINE名"),
        "E3": await quick_link(sim, company.employees["E3"], "すずきLINE名"),
    }
    template = await Template.get(key="earthquake")
    alert = (
        await start_alert(Actor.cli(), template, drill=True, sender_name="総務部 防災担当")
    ).alert
    eigyo = (
        await start_alert(
            Actor.cli(), template, drill=False, departments=[company.departments["営業部"]]
        )
    ).alert
    await make_console_user("boss", "maintainer")
    await make_console_user("sender", "sender")
    await make_console_user("soumu", "supervisor", [company.departments["総務部"]])
    return Scene(alert.id, eigyo.id, company, line_users)


async def answer(scene: Scene, code: str, choices: dict, message: str = "") -> None:
    await submit_answer(
        scene.alert_id, scene.company.employees[code], choices, message, AnswerChannel.LIFF
    )


PAGES = ["", "/unanswered", "/answers.csv"]


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("login", ["soumu", "sender", "boss"])
async def test_every_signed_in_role_opens_the_pages_of_an_alert_in_scope(
    console, scene, login, page
):
    await console.sign_in(login)
    status, _ = await console.get(f"/console/alerts/{scene.alert_id}{page}")
    assert status == 200


@pytest.mark.parametrize("page", [*PAGES, "/events"])
async def test_anonymous_visitors_are_sent_to_sign_in(console, scene, page):
    status, _ = await console.get(f"/console/alerts/{scene.alert_id}{page}")
    assert status == 303


@pytest.mark.parametrize("page", [*PAGES, "/events"])
async def test_a_supervisor_typing_an_alert_outside_their_scope_is_forbidden(console, scene, page):
    await console.sign_in("soumu")
    status, _ = await console.get(f"/console/alerts/{scene.eigyo_alert_id}{page}")
    assert status == 403
    status, html = await console.get("/console/alerts")
    assert f"/console/alerts/{scene.eigyo_alert_id}" not in html
    assert f"/console/alerts/{scene.alert_id}" in html


async def test_an_unknown_alert_is_not_found(console, scene):
    await console.sign_in("boss")
    assert (await console.get("/console/alerts/99999"))[0] == 404


async def test_the_detail_counts_only_the_supervisors_departments(console, scene):
    await answer(scene, "E1", HURT)
    await answer(scene, "E3", SAFE)
    await console.sign_in("soumu")
    status, html = await console.get(f"/console/alerts/{scene.alert_id}")
    assert status == 200
    assert "【訓練】【地震】安否確認" in html
    assert '<strong id="answered">1</strong> / <span id="total">2</span>' in html
    assert "総務部" in html and "営業部" not in html
    assert '<td class="num warn">1</td>' in html  # 重傷 in 総務部, highlighted


async def test_the_maintainer_sees_every_department(console, scene):
    await answer(scene, "E1", HURT)
    await answer(scene, "E3", SAFE)
    await console.sign_in("boss")
    _, html = await console.get(f"/console/alerts/{scene.alert_id}")
    assert '<strong id="answered">2</strong> / <span id="total">3</span>' in html
    assert "総務部" in html and "営業部" in html


async def test_the_unanswered_list_shows_line_registration_but_never_the_display_name(
    console, scene
):
    await console.sign_in("boss")
    _, html = await console.get(f"/console/alerts/{scene.alert_id}/unanswered")
    assert "山田 太郎" in html and "佐藤 花子" in html and "鈴木 一郎" in html
    assert "あり" in html and "なし" in html
    assert "LINE名" not in html  # neither やまだLINE名 nor すずきLINE名
    await answer(scene, "E1", SAFE)
    _, html = await console.get(f"/console/alerts/{scene.alert_id}/unanswered")
    assert "山田 太郎" not in html and "佐藤 花子" in html


async def test_the_supervisors_unanswered_list_holds_only_their_scope(console, scene):
    await console.sign_in("soumu")
    _, html = await console.get(f"/console/alerts/{scene.alert_id}/unanswered")
    assert "佐藤 花子" in html and "鈴木 一郎" not in html


def read_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for Japanese
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


async def test_the_csv_holds_the_answers_in_scope_with_bom_and_drill_marking(console, scene):
    await answer(scene, "E1", HURT, "足を怪我しました")
    await answer(scene, "E3", SAFE)
    await console.sign_in("soumu")
    async with console.session.get(
        console.url(f"/console/alerts/{scene.alert_id}/answers.csv")
    ) as response:
        assert response.status == 200
        assert response.content_type == "text/csv"
        assert "attachment" in response.headers["Content-Disposition"]
        rows = read_csv(await response.read())
    assert rows[0] == [
        "件名", "社員番号", "氏名", "部署", "本人", "家族", "家屋", "出社",
        "メッセージ", "回答日時", "回答経路",
    ]  # fmt: skip
    assert len(rows) == 2  # 鈴木 in 営業部 is outside the scope
    row = rows[1]
    assert row[:8] == ["【訓練】【地震】安否確認", "E1", "山田 太郎", "総務部", *HURT.values()]
    assert row[8] == "足を怪我しました" and row[10] == "LINE"
    assert len(row[9]) == len("2024/01/01 00:00")
    assert await AuditEntry.filter(
        actor="soumu", action="answers_exported", target=f"alert:{scene.alert_id}"
    ).exists()


async def read_event(response: aiohttp.ClientResponse) -> dict:
    """The next `event: tally` of a server-sent event stream, skipping comments."""
    event = None
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: ") and event == "tally":
            return json.loads(line[len("data: ") :])
    raise AssertionError("the stream ended")


async def test_the_event_stream_sends_the_scoped_tally_after_an_answer_through_liff(
    console, scene, sim, bot
):
    await console.sign_in("soumu")
    events = console.url(f"/console/alerts/{scene.alert_id}/events")
    async with console.session.get(events) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        first = await response.content.readline()
        assert first.startswith(b"retry:")
        async with console.session.post(
            bot.make_url(f"/liff/api/alerts/{scene.alert_id}/answer"),
            headers={"Authorization": f"Bearer {sim.issue_id_token(scene.line_users['E1'])}"},
            json={"choices": HURT, "message": ""},
        ) as posted:
            assert posted.status == 200
        update = await asyncio.wait_for(read_event(response), 10)
    assert (update["answered"], update["total"]) == (1, 2)  # 総務部 only
    assert update["items"][0]["counts"] == [0, 0, 1]
    assert [d["name"] for d in update["departments"]] == ["総務部"]
    assert update["timeline"][-1]["answered"] == 1


async def test_an_answer_to_another_alert_sends_nothing_and_the_stream_unsubscribes(
    console, scene, sim, bot
):
    from domain.notify import Topic, notifier

    before = len(notifier._subscribers[Topic.ANSWER])
    await console.sign_in("boss")
    events = console.url(f"/console/alerts/{scene.eigyo_alert_id}/events")
    async with console.session.get(events) as response:
        await response.content.readline()
        await until(lambda: len(notifier._subscribers[Topic.ANSWER]) == before + 1)
        await answer(scene, "E1", SAFE)  # to the other alert
        await submit_answer(
            scene.eigyo_alert_id, scene.company.employees["E3"], SAFE, "", AnswerChannel.LIFF
        )
        update = await asyncio.wait_for(read_event(response), 10)
        assert (update["answered"], update["total"]) == (1, 1)
    await until(lambda: len(notifier._subscribers[Topic.ANSWER]) == before)


async def test_shutting_down_ends_open_event_streams(console, scene, bot):
    await console.sign_in("boss")
    events = console.url(f"/console/alerts/{scene.alert_id}/events")
    async with console.session.get(events) as response:
        await response.content.readline()
        closing = asyncio.create_task(bot.close())
        with contextlib.suppress(aiohttp.ClientPayloadError):
            rest = await asyncio.wait_for(response.content.read(), 10)
            assert b"event: tally" not in rest
        await asyncio.wait_for(closing, 10)


async def test_one_console_user_opens_at_most_five_live_streams_and_a_closed_one_frees_its_slot(
    console, scene, bot
):
    await console.sign_in("soumu")
    events = console.url(f"/console/alerts/{scene.alert_id}/events")
    async with contextlib.AsyncExitStack() as streams:
        opened = []
        for _ in range(5):
            response = await streams.enter_async_context(console.session.get(events))
            assert response.status == 200
            await response.content.readline()
            opened.append(response)
        async with console.session.get(events) as refused:
            assert refused.status == 429 and refused.headers["Retry-After"]
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
            boss = ConsoleActions(bot, other)
            await boss.sign_in("boss")
            async with other.get(events) as theirs:  # the cap is per console user
                assert theirs.status == 200

        opened[0].close()  # the browser tab goes away

        async def reopened() -> bool:
            response = await streams.enter_async_context(console.session.get(events))
            return response.status == 200

        assert await until(reopened)


@contextlib.asynccontextmanager
async def signed_in_stream(bot, login: str, alert_id: int):
    """A console user's own browser, signed in, with the alert's live stream open."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        await ConsoleActions(bot, session).sign_in(login)
        url = bot.make_url(f"/console/alerts/{alert_id}/events")
        async with session.get(url) as response:
            assert response.status == 200
            await response.content.readline()  # retry: the stream is open
            yield response


async def test_open_pages_share_one_reading_per_scope_and_each_sees_only_its_own(
    scene, bot, monkeypatch
):
    from console.views import monitoring
    from domain.notify import Topic, notifier

    reads: list[object] = []
    real = monitoring.live_data

    async def counted(alert_id, scope, people):
        reads.append(scope)
        return await real(alert_id, scope, people)

    monkeypatch.setattr(monitoring, "live_data", counted)
    before = len(notifier._subscribers[Topic.ANSWER])
    async with (
        signed_in_stream(bot, "boss", scene.alert_id) as first,
        signed_in_stream(bot, "boss", scene.alert_id) as second,
        signed_in_stream(bot, "soumu", scene.alert_id) as supervisor,
    ):
        await until(lambda: len(notifier._subscribers[Topic.ANSWER]) == before + 3)
        await answer(scene, "E3", HURT)  # 営業部: outside the supervisor's departments
        seen = [await asyncio.wait_for(read_event(r), 10) for r in (first, second, supervisor)]
    assert [(s["answered"], s["total"]) for s in seen] == [(1, 3), (1, 3), (0, 2)]
    assert seen[2]["people"]["matched"] == 0 and "鈴木" not in json.dumps(seen[2])
    # The two maintainers' pages shared one reading; the supervisor's scope had its own.
    assert len(reads) == 2 and len(set(reads)) == 2


async def test_answers_arriving_during_a_reading_are_sent_in_the_next_one(
    console, scene, bot, monkeypatch
):
    from console.views import monitoring

    real, gate, reading = monitoring.live_data, asyncio.Event(), asyncio.Event()

    async def slow_first(alert_id, scope, people):
        data = await real(alert_id, scope, people)
        if not reading.is_set():  # the first reading has read, and is not done yet
            reading.set()
            await gate.wait()
        return data

    monkeypatch.setattr(monitoring, "live_data", slow_first)
    await console.sign_in("boss")
    events = console.url(f"/console/alerts/{scene.alert_id}/events")
    async with console.session.get(events) as response:
        await response.content.readline()
        await answer(scene, "E3", HURT)
        await asyncio.wait_for(reading.wait(), 10)
        await answer(scene, "E1", HURT)  # after the first reading read: not in it
        gate.set()
        first = await asyncio.wait_for(read_event(response), 10)
        second = await asyncio.wait_for(read_event(response), 10)
    assert first["people"]["matched"] == 1 and second["people"]["matched"] == 2


@pytest.mark.parametrize(
    "query",
    [
        "notice=started&n=1%E5%90%8D%E3%80%82%E7%B7%8F%E5%8B%99%E9%83%A8%E3%81%AB%E9%9B%BB%E8%A9%B1",
        "notice=%E5%AE%89%E5%85%A8%E3%81%A7%E3%81%99",
        "notice=closed%0A&n=",
    ],
    ids=["text-as-count", "text-as-code", "code-with-newline"],
)
async def test_the_notice_banner_shows_only_fixed_notices(console, scene, query):
    await console.sign_in("boss")
    status, html = await console.get(f"/console/alerts/{scene.alert_id}?{query}")
    assert status == 200
    assert 'class="notice"' not in html
    assert "総務部に電話" not in html and "安全です" not in html


async def test_the_notice_banner_shows_a_known_notice_with_its_count(console, scene):
    await console.sign_in("boss")
    status, html = await console.get(f"/console/alerts/{scene.alert_id}?notice=started&n=12")
    assert status == 200
    assert "発信しました(対象 12 名)。" in html
