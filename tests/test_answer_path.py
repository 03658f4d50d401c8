"""The answer path kept short (issue 9): one statement reads who answers and the alert, one
upsert and one revision row write the answer, and live views hear of every answer; none of it
changes what an employee, a supervisor or the database sees."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from domain import answers
from domain.actors import Actor
from domain.alerts import start_alert
from domain.answers import submit_answer
from domain.errors import Invalid
from domain.notify import Topic, notifier
from domain.tally import recount, tally
from models import Answer, AnswerChannel, AnswerRevision, Employee, Template
from models.db import tortoise_config
from models.sql import is_postgres, postgres_statements, sqlite_transaction
from tests.conftest import make_company, quick_link, until

GOOD = {"本人": "無事", "家族": "全員無事", "家屋": "被害なし", "出社": "可能"}


async def _drill(size: int = 1):
    company = await make_company({"総務部": [(f"E{n}", f"社員{n}") for n in range(size)]})
    started = await start_alert(Actor.cli(), await Template.get(key="earthquake"), drill=True)
    return started.alert, [company.employees[f"E{n}"] for n in range(size)]


def _announcements_settled() -> bool:
    """No publish of answers pending in this loop, nor a follow-up of one."""
    loop = asyncio.get_running_loop()
    return not any(pending.loop is loop for pending in answers._announcing.values()) and not any(
        task.get_loop() is loop for task in answers._follow_ups
    )


async def test_two_answers_at_once_from_one_employee_are_both_kept_in_order(db):
    alert, (yamada,) = await _drill()
    await asyncio.gather(
        *(submit_answer(alert.id, yamada, GOOD, text, AnswerChannel.LIFF) for text in "一二")
    )
    answer = await Answer.get(alert_id=alert.id, employee_id=yamada.id)
    revisions = await AnswerRevision.filter(answer=answer).order_by("revision")
    assert [r.revision for r in revisions] == [1, 2] and answer.revision == 2
    assert {r.message for r in revisions} == {"一", "二"}
    assert answer.message == revisions[-1].message


async def test_the_answer_returned_is_the_answer_stored(db):
    alert, (yamada,) = await _drill()
    returned = await submit_answer(alert.id, yamada, GOOD, "  無事です ", AnswerChannel.LIFF)
    stored = await Answer.get(alert_id=alert.id, employee_id=yamada.id)
    assert (returned.id, returned.revision, returned.choices, returned.message) == (
        stored.id, stored.revision, stored.choices, stored.message
    )  # fmt: skip
    assert returned.answered_at == stored.answered_at and returned.channel == stored.channel


async def test_choices_stored_here_group_with_those_the_orm_stores(db):
    """The tally groups answers by the stored text of their choices."""
    alert, (yamada, sato) = await _drill(2)
    await submit_answer(alert.id, yamada, GOOD, "", AnswerChannel.LIFF)
    await Answer.create(
        alert=alert, employee=sato, choices=GOOD, channel=AnswerChannel.CONSOLE,
        answered_at=alert.started_at,
    )  # fmt: skip
    groups = await connections.get("default").execute_query_dict(
        "SELECT COUNT(*) AS n FROM answer GROUP BY choices"
    )
    assert [int(group["n"]) for group in groups] == [2]


async def test_answers_stored_while_a_notification_is_on_its_way_are_announced_after_it(
    db, monkeypatch
):
    alert, people = await _drill(4)
    published: list[tuple[Topic, str, int]] = []
    first_sent = asyncio.Event()

    async def slow_publish(topic: Topic, payload: str = "") -> None:
        stored = await Answer.filter(alert_id=alert.id).count()
        published.append((topic, payload, stored))
        if len(published) == 1:
            await first_sent.wait()

    monkeypatch.setattr(notifier, "publish", slow_publish)
    first = asyncio.create_task(submit_answer(alert.id, people[0], GOOD, "", AnswerChannel.LIFF))
    await until(lambda: published)  # the first answer's notification is on its way
    for person in people[1:]:  # these do not wait for it, and send none of their own
        await submit_answer(alert.id, person, GOOD, "", AnswerChannel.LIFF)
    assert len(published) == 1
    first_sent.set()
    await first
    await until(_announcements_settled)
    assert published == [(Topic.ANSWER, str(alert.id), 1), (Topic.ANSWER, str(alert.id), 4)]


async def test_answers_just_after_a_notification_share_one_after_a_pause(db, monkeypatch):
    """A stream of answers is announced once per pause, not once per answer (on PostgreSQL
    a NOTIFY each): the first at once, those within the pause in one after it."""
    alert, people = await _drill(4)
    published: list[int] = []
    paused, resume = asyncio.Event(), asyncio.Event()

    async def publish(topic: Topic, payload: str = "") -> None:
        published.append(await Answer.filter(alert_id=alert.id).count())

    async def pause() -> None:
        paused.set()
        await resume.wait()

    monkeypatch.setattr(notifier, "publish", publish)
    monkeypatch.setattr(answers, "_pause", pause)
    await submit_answer(alert.id, people[0], GOOD, "", AnswerChannel.LIFF)
    assert published == [1]  # at once
    await until(paused.is_set)
    for person in people[1:]:
        await submit_answer(alert.id, person, GOOD, "", AnswerChannel.LIFF)
    assert published == [1]  # within the pause: none of their own
    paused.clear()
    resume.set()
    await until(_announcements_settled)
    assert published == [1, 4]


def test_an_alert_announced_in_a_loop_that_ended_is_announced_again_in_the_next(monkeypatch):
    """The follow-up that frees an alert runs in the loop that announced it. A loop closed
    before it ran (a test's, a command's) must not keep the alert silent in the next loop of
    the process: the live views there would never hear of an answer."""
    published: list[str] = []

    async def publish(topic: Topic, payload: str = "") -> None:
        published.append(payload)

    monkeypatch.setattr(notifier, "publish", publish)
    ended = asyncio.new_event_loop()
    try:
        ended.run_until_complete(answers._announce("7"))  # its follow-up never runs
    finally:
        ended.close()
    asyncio.run(answers._announce("7"))
    assert published == ["7", "7"]
    answers._follow_ups.difference_update(
        [task for task in answers._follow_ups if task.get_loop() is ended]
    )  # the ended loop's follow-up, which will never run


async def test_a_publish_cancelled_frees_its_alert_and_leaves_no_follow_up(monkeypatch):
    """A process stopping cancels the publish on its way; nothing is left to run after it."""
    started = asyncio.Event()

    async def publish(topic: Topic, payload: str = "") -> None:
        started.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(notifier, "publish", publish)
    announcing = asyncio.create_task(answers._announce("8"))
    await started.wait()
    announcing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await announcing
    assert "8" not in answers._announcing and _announcements_settled()


async def test_sqlite_writes_the_log_ahead_syncs_at_checkpoints_and_waits_for_other_writers(
    sqlite_db,
):
    client = connections.get("default")

    async def pragma(name: str):
        (row,) = await client.execute_query_dict(f"PRAGMA {name}")
        return next(iter(row.values()))

    assert await pragma("journal_mode") == "wal"
    assert await pragma("synchronous") == 1  # NORMAL
    assert await pragma("busy_timeout") == 5000


def test_a_pragma_in_the_database_url_wins():
    config = tortoise_config("sqlite://anpi.sqlite3?synchronous=FULL")
    credentials = config["connections"]["default"]["credentials"]
    assert credentials["synchronous"] == "FULL" and credentials["busy_timeout"] == 5000


# The LIFF API tells an unlinked LINE user to link before anything else


@pytest.fixture
async def stranger(sim, bot):
    await _drill()
    return sim.issue_id_token(sim.add_user("だれか").user_id)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/liff/api/alerts/1", None),
        ("GET", "/liff/api/alerts/2147483648", None),
        ("POST", "/liff/api/alerts/1/answer", b"not json"),
        ("POST", "/liff/api/alerts/9999/answer", b'{"choices": {}}'),
    ],
    ids=["alert", "alert-past-int", "bad-json", "no-such-alert"],
)
async def test_an_unlinked_line_user_is_told_to_link_first(
    bot, browser_session, stranger, method, path, body
):
    async with browser_session.request(
        method,
        bot.make_url(path),
        data=body,
        headers={"Authorization": f"Bearer {stranger}", "Content-Type": "application/json"},
    ) as response:
        assert response.status == 403
        assert (await response.json())["error"] == "not_linked"


async def test_a_linked_employee_off_the_roster_cannot_tell_a_missing_alert_from_another(
    sim, bot, browser_session
):
    company = await make_company({"総務部": [("E1", "山田")], "営業部": [("E2", "佐藤")]})
    started = await start_alert(
        Actor.cli(),
        await Template.get(key="earthquake"),
        drill=True,
        departments=[company.departments["総務部"]],
    )
    token = sim.issue_id_token(await quick_link(sim, company.employees["E2"]))
    bodies = []
    for alert_id in (started.alert.id, 9999):
        async with browser_session.post(
            bot.make_url(f"/liff/api/alerts/{alert_id}/answer"),
            json={"choices": GOOD},
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            assert response.status == 404
            bodies.append(await response.json())
    assert bodies[0] == bodies[1]


# The SQL helpers the path stands on


async def test_a_transaction_run_in_sqlites_thread_is_undone_when_it_raises(sqlite_db):
    _, (yamada,) = await _drill()

    def write_then_refuse(db):
        db.execute("UPDATE employee SET name = '変更' WHERE id = ?", [yamada.id])
        raise Invalid("やめます")

    with pytest.raises(Invalid):
        await sqlite_transaction(write_then_refuse)
    assert (await Employee.get(id=yamada.id)).name == yamada.name
    async with in_transaction():  # and it nests in an ORM transaction
        await sqlite_transaction(lambda db: db.execute("UPDATE employee SET name = '山田'"))
    assert (await Employee.get(id=yamada.id)).name == "山田"


async def test_a_broken_constraint_is_reported_as_the_orm_reports_it(db):
    alert, (yamada,) = await _drill()
    await submit_answer(alert.id, yamada, GOOD, "", AnswerChannel.LIFF)
    duplicate = "INSERT INTO answer_revision (answer_id, revision, choices, message, channel,"
    duplicate += " answered_at) SELECT answer_id, revision, choices, message, channel,"
    duplicate += " answered_at FROM answer_revision"
    with pytest.raises(IntegrityError):
        if is_postgres():
            async with postgres_statements() as run:
                await run(duplicate, [])
        else:
            await sqlite_transaction(lambda db: db.execute(duplicate))


async def test_work_arriving_while_sqlite_is_busy_goes_in_one_batch_each_piece_undone_alone(
    sqlite_db,
):
    """Pieces waiting for the connection's thread go there together (one transaction and one
    commit for the burst), and a piece that raises undoes its own writes only."""
    _, people = await _drill(4)
    started, busy, statements = threading.Event(), threading.Event(), []

    def first(db):  # holds the thread until the others are waiting
        started.set()
        busy.wait(10)
        db.set_trace_callback(statements.append)
        db.execute("UPDATE employee SET name = '一' WHERE id = ?", [people[0].id])

    def rename(person, name):
        return lambda db: db.execute("UPDATE employee SET name = ? WHERE id = ?", [name, person])

    def refuse(db):
        db.execute("UPDATE employee SET name = '取消' WHERE id = ?", [people[2].id])
        raise Invalid("やめます")

    running = asyncio.create_task(sqlite_transaction(first))
    await until(started.is_set)  # the first piece is in the thread
    waiting = [
        asyncio.create_task(sqlite_transaction(rename(people[1].id, "二"))),
        asyncio.create_task(sqlite_transaction(refuse)),
        asyncio.create_task(sqlite_transaction(rename(people[3].id, "四"))),
    ]
    await asyncio.sleep(0)  # they are waiting
    busy.set()
    await running
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    batch = statements[statements.index("SAVEPOINT anpi_batch") :]
    await sqlite_transaction(lambda db: db.set_trace_callback(None))
    assert isinstance(outcomes[1], Invalid) and not isinstance(outcomes[0], Exception)
    names = {e.id: e.name for e in await Employee.filter(id__in=[p.id for p in people])}
    assert [names[p.id] for p in people] == ["一", "二", people[2].name, "四"]
    # The three waiting pieces: one transaction, one commit, three savepoints of their own.
    assert batch.count("SAVEPOINT anpi_batch") == 1 and batch.count("RELEASE anpi_batch") == 1
    assert batch.count("SAVEPOINT anpi_work") == 3 and batch.count("ROLLBACK TO anpi_work") == 1


async def test_sqlite_work_whose_caller_gave_up_while_waiting_is_not_done(sqlite_db):
    _, (yamada, sato) = await _drill(2)
    started, busy = threading.Event(), threading.Event()
    running = asyncio.create_task(sqlite_transaction(lambda db: (started.set(), busy.wait(10))))
    await until(started.is_set)
    given_up = asyncio.create_task(
        sqlite_transaction(lambda db: db.execute("UPDATE employee SET name = '変更'"))
    )
    kept = asyncio.create_task(
        sqlite_transaction(
            lambda db: db.execute("UPDATE employee SET name = '残る' WHERE id = ?", [sato.id])
        )
    )
    await asyncio.sleep(0)  # both are waiting
    given_up.cancel()
    busy.set()
    await running
    await kept
    with pytest.raises(asyncio.CancelledError):
        await given_up
    assert (await Employee.get(id=yamada.id)).name == yamada.name
    assert (await Employee.get(id=sato.id)).name == "残る"


async def test_many_answers_at_once_are_each_stored_once_and_counted(db):
    alert, people = await _drill(40)
    wrong = {**GOOD, "本人": "元気"}  # not a choice: refused, and nothing of it stored
    results = await asyncio.gather(
        *(
            submit_answer(
                alert.id, person, wrong if n % 10 == 3 else GOOD, f"{n}", AnswerChannel.LIFF
            )
            for n, person in enumerate(people)
        ),
        return_exceptions=True,
    )
    refused = [n for n, result in enumerate(results) if isinstance(result, Invalid)]
    assert refused == [3, 13, 23, 33]
    stored = {a.employee_id: a.message for a in await Answer.filter(alert_id=alert.id)}
    assert stored == {p.id: f"{n}" for n, p in enumerate(people) if n not in refused}
    assert await AnswerRevision.filter(answer__alert_id=alert.id).count() == 36


async def test_a_postgres_connection_goes_back_to_the_pool_without_a_round_trip(db):
    """asyncpg's default sends a reset query with every connection given back (a third of an
    answer's round trips); ours sends nothing, and still rolls back a transaction left open."""
    if not is_postgres():
        pytest.skip("the pool is PostgreSQL's: SQLite has one connection")
    _, (yamada,) = await _drill()
    sent: list[str] = []

    def record(query) -> None:
        sent.append(query.query)

    async with connections.get("default").acquire_connection() as connection:
        raw = connection._con  # the pool's proxy refuses all calls once given back
        raw.add_query_logger(record)
        await connection.fetchval("SELECT 1")
    raw.remove_query_logger(record)
    assert sent == ["SELECT 1"]

    async with connections.get("default").acquire_connection() as connection:
        await connection.execute("BEGIN")
        await connection.execute("UPDATE employee SET name = '変更' WHERE id = $1", yamada.id)
    assert (await Employee.get(id=yamada.id)).name == yamada.name


def _log_postgres_queries(sent: list[str]) -> None:
    """Record every statement sent on the ORM pool's open connections."""
    for holder in connections.get("default")._pool._holders:
        if holder._con is not None:
            holder._con.add_query_logger(lambda query: sent.append(query.query))


async def test_an_answer_to_an_alert_already_read_is_stored_in_one_round_trip(db):
    if not is_postgres():
        pytest.skip("one statement reads and writes on PostgreSQL; SQLite does it in one hop")
    alert, (yamada,) = await _drill()
    await answers.alert_for(alert.id, yamada)  # the form, opened
    sent: list[str] = []
    _log_postgres_queries(sent)
    await submit_answer(alert.id, yamada, GOOD, "一", AnswerChannel.LIFF)
    assert [q.split(" ", 1)[0] for q in sent if "pg_notify" not in q] == ["WITH"]
    await submit_answer(alert.id, yamada, {**GOOD, "本人": "軽傷"}, "二", AnswerChannel.LIFF)
    stored = await Answer.get(alert_id=alert.id, employee_id=yamada.id)
    assert (stored.revision, stored.message, stored.choices["本人"]) == (2, "二", "軽傷")
    assert await AnswerRevision.filter(answer=stored).count() == 2
    assert await tally(alert.id) == await recount(alert.id)  # the counts moved with it


async def test_items_remembered_wrongly_let_nothing_through(db):
    """What the one-trip path remembers of an alert's items is checked by the statement
    itself: remembered items that are not the alert's store nothing they allow."""
    if not is_postgres():
        pytest.skip("the remembered items are PostgreSQL's one-trip path")
    alert, (yamada,) = await _drill()
    await answers.alert_for(alert.id, yamada)
    other = [{"label": "本人", "required": True, "choices": ["元気"]}]
    answers._ITEMS_READ[alert.id] = json.dumps(other, ensure_ascii=False)
    with pytest.raises(Invalid):
        await submit_answer(alert.id, yamada, {"本人": "元気"}, "", AnswerChannel.LIFF)
    assert not await Answer.filter(alert_id=alert.id).exists()
    answers._ITEMS_READ[alert.id] = json.dumps(other, ensure_ascii=False)
    await submit_answer(alert.id, yamada, GOOD, "正しい", AnswerChannel.LIFF)
    assert (await Answer.get(alert_id=alert.id, employee_id=yamada.id)).message == "正しい"


async def _transactions_of(alert_id: int) -> int:
    """How many transactions wrote the alert's answers as they stand (their rows' xmin)."""
    rows = await connections.get("default").execute_query_dict(
        "SELECT COUNT(DISTINCT xmin::text) AS n FROM answer WHERE alert_id = $1", [alert_id]
    )
    return int(rows[0]["n"])


async def test_answers_arriving_together_on_postgres_are_stored_in_one_statement(db):
    """Answers to an alert already read that arrive while one is on its way to PostgreSQL
    go in one statement after it: one commit for all, each stored and counted once."""
    if not is_postgres():
        pytest.skip("SQLite batches in its thread (the test above); this is PostgreSQL's")
    alert, people = await _drill(40)
    await answers.alert_for(alert.id, people[0])  # the form, opened: its items are known
    await asyncio.gather(
        *(
            submit_answer(alert.id, p, GOOD, f"{n}", AnswerChannel.LIFF)
            for n, p in enumerate(people)
        )
    )
    stored = {a.employee_id: a.message for a in await Answer.filter(alert_id=alert.id)}
    assert stored == {p.id: f"{n}" for n, p in enumerate(people)}
    assert await _transactions_of(alert.id) == 1
    assert await AnswerRevision.filter(answer__alert_id=alert.id).count() == 40
    assert await tally(alert.id) == await recount(alert.id)
    # Sent again together, changed: one more statement, every revision and count moved.
    changed = {**GOOD, "本人": "軽傷"}
    await asyncio.gather(
        *(submit_answer(alert.id, p, changed, "", AnswerChannel.LIFF) for p in people)
    )
    assert await _transactions_of(alert.id) == 1
    assert await AnswerRevision.filter(answer__alert_id=alert.id, revision=2).count() == 40
    assert await tally(alert.id) == await recount(alert.id)


async def test_a_batch_postgres_refuses_is_run_again_answer_by_answer(db, sim):
    """Two answers of one employee in one statement would write one row twice, which
    PostgreSQL refuses: each answer then goes alone, and the others of the batch with them.
    An answerer who may not answer is refused alone, in their own words."""
    if not is_postgres():
        pytest.skip("PostgreSQL's batches of answers")
    alert, (yamada, sato, suzuki) = await _drill(3)
    await answers.alert_for(alert.id, yamada)
    sato_user = await quick_link(sim, sato)
    await Employee.filter(id=suzuki.id).update(active=False)  # retired since the alert
    stranger = sim.add_user("知らない人").user_id
    results = await asyncio.gather(
        submit_answer(alert.id, yamada, GOOD, "一", AnswerChannel.LIFF),
        submit_answer(alert.id, yamada, {**GOOD, "本人": "軽傷"}, "二", AnswerChannel.LIFF),
        answers.answer_as_line_user(sato_user, alert.id, GOOD, "佐藤", AnswerChannel.LIFF),
        submit_answer(alert.id, suzuki, GOOD, "鈴木", AnswerChannel.LIFF),
        answers.answer_as_line_user(stranger, alert.id, GOOD, "", AnswerChannel.LIFF),
        return_exceptions=True,
    )
    assert [getattr(r, "code", None) for r in results[3:]] == ["retired", "not_linked"]
    answer = await Answer.get(alert_id=alert.id, employee_id=yamada.id)
    revisions = await AnswerRevision.filter(answer=answer).order_by("revision")
    assert [(r.revision, r.message) for r in revisions] == [(1, "一"), (2, "二")]
    assert (answer.revision, answer.message, answer.choices["本人"]) == (2, "二", "軽傷")
    assert (await Answer.get(alert_id=alert.id, employee_id=sato.id)).message == "佐藤"
    assert not await Answer.filter(alert_id=alert.id, employee_id=suzuki.id).exists()
    assert await tally(alert.id) == await recount(alert.id)
