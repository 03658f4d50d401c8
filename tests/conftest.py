"""Test harness: the real app factory, a fresh database per test (SQLite, and PostgreSQL where
TEST_POSTGRES_URL is set), and the local LINE platform in-process as the LINE side."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import inspect
import os
import queue
import re
import shutil
import socket
import ssl
import tempfile
import threading
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from aiosqlite.core import _connection_worker_thread
from linebot.v3.messaging import async_rest as messaging_rest
from linebot.v3.oauth import async_rest as oauth_rest

from bot.app import create_app
from bot.config import Config
from bot.lifecycle import REQUEST_GRACE
from domain.delivery import EngineSettings
from domain.linking import issue_registration_code
from line_simulator import Simulator, SimulatorConfig
from models import Department, Employee, LineAccount
from models.db import close_database, migrate, open_database
from tests.demo_helpers import running_demo  # noqa: F401 (one demo for the tests that walk it)

SECRET = "test-channel-secret"
ACCESS_TOKEN = "test-channel-access-token"
LOGIN_CHANNEL_ID = "1650000000"
LIFF_ID = "1650000000-TestLiff"
FAST_ENGINE = EngineSettings(backoff_base=0.01, backoff_cap=0.05, idle_poll=0.05)


async def until(predicate: Callable[[], Any], within: float = 10.0) -> Any:
    """Poll (sync or async) `predicate` until it is truthy; fail after `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.01)


# Migrating takes seconds, so each kind of database is migrated once per run into a template
# that every test copies (a file copy, or PostgreSQL's CREATE ... TEMPLATE). The run's worker
# processes (pytest-xdist) share the templates: the first to need one makes it under a file
# lock, the others wait for it; the process that started the run removes them at its end.
RUN_ID = "ANPI_TEST_RUN"
_made: set[str] = set()  # the templates this process knows to be ready


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the run's own process: workers inherit the ID
        os.environ[RUN_ID] = uuid.uuid4().hex[:12]


def pytest_sessionfinish(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput") or RUN_ID not in os.environ:
        return
    shutil.rmtree(_shared_dir(), ignore_errors=True)
    base = os.environ.get("TEST_POSTGRES_URL")
    if base:
        # When the server went away there is nothing of ours left to drop there.
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            asyncio.run(_admin(base, f'DROP DATABASE IF EXISTS "{_template_name()}" WITH (FORCE)'))


def _shared_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"anpi-templates-{os.environ[RUN_ID]}"


def _template_name() -> str:
    return f"anpi_template_{os.environ[RUN_ID]}"


async def _shared_template(kind: str, make: Callable[[], Awaitable[None]]) -> None:
    """Make sure the run's `kind` template exists: `make` it unless another process has."""
    if kind in _made:
        return
    directory = _shared_dir()
    directory.mkdir(exist_ok=True)
    done = directory / f"{kind}.done"
    with (directory / f"{kind}.lock").open("w") as lock:
        await asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX)
        try:
            if not done.exists():
                await make()
                done.touch()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    _made.add(kind)


async def fresh_sqlite(directory: Any) -> str:
    """A fresh, migrated SQLite database file."""
    template = _shared_dir() / "anpi.sqlite3"

    async def make() -> None:
        await migrate(f"sqlite://{template}")

    await _shared_template("sqlite", make)
    path = Path(directory) / "anpi.sqlite3"
    shutil.copyfile(template, path)
    return f"sqlite://{path}"


async def _admin(base: str, statement: str) -> None:
    connection = await asyncpg.connect(base)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _with_database(base: str, name: str) -> str:
    return re.sub(r"/[^/]*$", f"/{name}", base)


async def fresh_postgres(base: str) -> str:
    """A new, migrated PostgreSQL database copied from the run's template."""
    template = _template_name()

    async def make() -> None:
        await _admin(base, f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
        await _admin(base, f'CREATE DATABASE "{template}"')
        await migrate(_with_database(base, template))

    await _shared_template("postgres", make)
    name = f"anpi_test_{uuid.uuid4().hex[:12]}"
    await _admin(base, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


@pytest.fixture(autouse=True)
def cheap_argon2(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash typed secrets at a tiny Argon2 cost: at the production cost each hash or check
    takes about 0.2 s here and the suite makes hundreds. Same algorithm and code path; only
    the parameters stored in each hash differ. A test marked `real_argon2` keeps the real cost."""
    if request.node.get_closest_marker("real_argon2") is None:
        from argon2 import PasswordHasher

        cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        monkeypatch.setattr("domain.hashing._hasher", cheap)


class _OneSslContext:
    """The `ssl` module as line-bot-sdk's clients see it in the tests: the default context
    is made once. The SDK makes a new one for every client it builds, loading the system's
    CA certificates each time (40 ms here, two clients an app and an app a test: an eighth
    of a test process's CPU). The settings are the SDK's own, and the tests reach the local
    LINE platform over plain HTTP, where no certificate is checked either way."""

    def __getattr__(self, name: str) -> Any:
        return getattr(ssl, name)

    @functools.cache  # noqa: B019 (one instance for the whole run)
    def create_default_context(self, cafile: str | None = None) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=cafile)


@pytest.fixture(autouse=True, scope="session")
def one_ssl_context_for_line_clients() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for module in (messaging_rest, oauth_rest):
            patch.setattr(module, "ssl", _OneSslContext())
        yield


@pytest.fixture(autouse=True)
def fast_inbox_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed webhook event is retried after hundredths of a second, not seconds."""
    monkeypatch.setattr("domain.inbox.RETRY_BASE", 0.01)
    monkeypatch.setattr("domain.inbox.RETRY_CAP", 0.05)


@pytest.fixture(autouse=True)
def settled(request: pytest.FixtureRequest) -> None:
    """An async test ends with `settle`, after every fixture it asked for."""
    if inspect.iscoroutinefunction(request.function):
        request.getfixturevalue("settle")


@pytest.fixture
async def settle() -> AsyncIterator[None]:
    """After the test and its fixtures: end the tasks still running (a worker that did not
    stop within its patience) and close the database connections they may have reopened,
    while the event loop still runs. A query left in aiosqlite's thread when the loop closes
    kills that thread (it answers into the closed loop) and fails whichever test runs next."""
    yield
    current = asyncio.current_task()
    leftover = [task for task in asyncio.all_tasks() if task is not current]
    for task in leftover:
        task.cancel()
    await asyncio.gather(*leftover, return_exceptions=True)
    await close_database()
    await _drain_sqlite_threads()


async def _drain_sqlite_threads() -> None:
    """Wait until each aiosqlite thread has done what it was given. A connection whose opening
    or closing was cancelled (a worker stopped mid-query) still queues its stop without
    waiting for it; the thread would answer that into the closed loop and die."""
    for thread in threading.enumerate():
        try:  # a thread's own fields, gone once it has ended
            if thread._target is not _connection_worker_thread:  # type: ignore[attr-defined]
                continue
            queue = thread._args[0]  # type: ignore[attr-defined]
        except AttributeError:
            continue
        done = threading.Event()
        queue.put_nowait((None, done.set))
        await asyncio.to_thread(_until_done_or_ended, thread, done)


def _until_done_or_ended(thread: threading.Thread, done: threading.Event) -> None:
    while thread.is_alive() and not done.wait(0.01):
        pass


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[str]:
    """A fresh, migrated database for one test: SQLite, then PostgreSQL where configured."""
    if request.param == "sqlite":
        yield await fresh_sqlite(tmp_path)
        return
    base = os.environ.get("TEST_POSTGRES_URL")
    if not base:
        pytest.skip("TEST_POSTGRES_URL is not set: the PostgreSQL half of the suite is skipped")
    name = await _RECYCLER.take(base)
    yield _with_database(base, name)
    _RECYCLER.give_back(base, name)


# The schema as a test could change it (a trigger that refuses audit rows, a function, a
# column, an index, a constraint): a copy whose schema differs from a new copy's is dropped.
_SCHEMA = """
SELECT md5(coalesce(string_agg(item, ',' ORDER BY item), '')) FROM (
  SELECT 'r:' || c.relname || ':' || c.relkind::text AS item
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  UNION ALL SELECT 'a:' || a.attrelid::regclass || ':' || a.attname || ':'
    || format_type(a.atttypid, a.atttypmod) || ':' || a.attnotnull
    || ':' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL SELECT 'f:' || p.oid::regprocedure || ':' || md5(p.prosrc)
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  UNION ALL SELECT 't:' || tgrelid::regclass || ':' || tgname || ':' || tgenabled::text
    FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL SELECT 'k:' || conrelid::regclass || ':' || conname || ':'
    || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL SELECT 'i:' || indexrelid::regclass || ':' || pg_get_indexdef(indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
    WHERE c.relnamespace = 'public'::regnamespace
  UNION ALL SELECT 'e:' || extname FROM pg_extension
) AS schema
"""


class _SchemaChanged(Exception):
    """The test changed the schema: its copy is not handed on."""


@dataclass(frozen=True)
class _Pristine:
    """What a database copied from the run's template holds before a test writes to it: its
    schema, its tables, the rows migrating left in them, and where each sequence stood."""

    schema: str
    tables: tuple[str, ...]
    rows: dict[str, tuple[list[str], list[tuple[Any, ...]]]]
    sequences: tuple[tuple[str, int | None], ...]

    @classmethod
    async def read(cls, connection: asyncpg.Connection) -> _Pristine:
        tables = tuple(
            r[0]
            for r in await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        )
        rows = {}
        for table in tables:
            found = await connection.fetch(f'SELECT * FROM "{table}"')
            if found:
                rows[table] = (list(found[0].keys()), [tuple(r.values()) for r in found])
        sequences = tuple(
            (r[0], r[1])
            for r in await connection.fetch(
                "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'"
            )
        )
        return cls(await connection.fetchval(_SCHEMA), tables, rows, sequences)

    async def restore(self, connection: asyncpg.Connection) -> None:
        """Put a used copy back as it was: every row deleted (foreign keys unchecked, as
        every row goes), the migrated rows put back, each sequence where it stood; or
        _SchemaChanged when the test changed more than rows."""
        if await connection.fetchval(_SCHEMA) != self.schema:
            raise _SchemaChanged()
        statements = ["SET LOCAL session_replication_role = replica"]
        statements += [f'DELETE FROM "{table}"' for table in self.tables]
        statements += [
            f"SELECT setval('\"{name}\"', {value}, true)"
            if value is not None
            else f"SELECT setval('\"{name}\"', 1, false)"
            for name, value in self.sequences
        ]
        async with connection.transaction():
            await connection.execute(";".join(statements))
            for table, (columns, records) in self.rows.items():
                await connection.copy_records_to_table(table, records=records, columns=columns)


_CONNECTED = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1"
_CLOSING_POLLS = 60  # 3 s


class _Recycler:
    """Hands each PostgreSQL test a database copied from the run's template, and puts a
    finished test's database back as it was copied, for the next test of this process.

    Copying the template (CREATE DATABASE ... TEMPLATE) writes the whole database to the WAL
    and took 0.4 s a test here, more while other test processes wrote; dropping one forces a
    checkpoint, which took 10 s at a time. Emptying a used copy's tables takes milliseconds.
    That is done in a thread of its own after the test, with every connection to the copy
    ended first (a process the test started and killed may have left one), so the next test
    waits for neither. A copy whose schema the test changed (a trigger added to make a write
    fail), or that cannot be emptied, is dropped instead."""

    def __init__(self) -> None:
        self._work: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._ready: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pristine: _Pristine | None = None
        self._made: list[tuple[str, str]] = []
        self._failed: list[str] = []

    async def take(self, base: str) -> str:
        try:
            return self._ready.get_nowait()
        except queue.Empty:
            pass
        name = await fresh_postgres(base)
        self._made.append((base, name))
        if self._pristine is None:
            connection = await asyncpg.connect(_with_database(base, name))
            try:
                self._pristine = await _Pristine.read(connection)
            finally:
                await connection.close()
        return name

    def give_back(self, base: str, name: str) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="recycle-dbs", daemon=True)
            self._thread.start()
        self._work.put((base, name))

    def _run(self) -> None:
        while (job := self._work.get()) is not None:
            base, name = job
            try:
                asyncio.run(self._restore(base, name))
                self._ready.put(name)
            except _SchemaChanged:
                self._drop(base, name)
            except Exception as exc:  # this copy is not used again
                self._drop(base, name, exc)
            finally:
                self._work.task_done()
        self._work.task_done()

    async def _restore(self, base: str, name: str) -> None:
        assert self._pristine is not None
        admin = await asyncpg.connect(base)
        try:
            # A process the test stopped may still be closing its connections: they get a
            # moment to go on their own (ended under it, it would complain as it exits).
            for _ in range(_CLOSING_POLLS):
                if not await admin.fetchval(_CONNECTED, name):
                    break
                await asyncio.sleep(0.05)
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                f" WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        connection = await asyncpg.connect(_with_database(base, name))
        try:
            await self._pristine.restore(connection)
        finally:
            await connection.close()

    def _drop(self, base: str, name: str, why: BaseException | None = None) -> None:
        try:
            asyncio.run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except Exception as exc:  # a database left over fails no test, but is said
            self._failed.append(f"{name}: {exc!r}")
        else:
            self._made.remove((base, name))
        if why is not None:
            warnings.warn(f"test database {name} not reused: {why!r}", stacklevel=1)

    def finish(self) -> None:
        """Wait for the last test's database, then drop every copy this process made."""
        if self._thread is not None:
            self._work.put(None)
            self._work.join()
        for base, name in list(self._made):
            self._drop(base, name)
        if self._failed:
            warnings.warn(f"test databases not dropped: {self._failed}", stacklevel=1)


_RECYCLER = _Recycler()


@pytest.fixture(scope="session", autouse=True)
def _drop_test_databases() -> Iterator[None]:
    yield
    _RECYCLER.finish()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[str]:
    """The database opened in the test process, for tests that run no app."""
    await open_database(database_url)
    yield database_url
    await close_database()


@pytest.fixture
async def sqlite_db(tmp_path: Any) -> AsyncIterator[str]:
    """A fresh SQLite database opened in the test process, for tests where the kind of
    database does not matter (command-line parsing, the browser)."""
    url = await fresh_sqlite(tmp_path)
    await open_database(url)
    yield url
    await close_database()


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """The local LINE platform, served on a real port."""
    simulator = Simulator(
        SimulatorConfig(
            channel_secret=SECRET,
            channel_access_token=ACCESS_TOKEN,
            login_channel_id=LOGIN_CHANNEL_ID,
        )
    )
    server = held_port_server(simulator.app)
    await server.start_server()
    simulator.config.public_base_url = str(server.make_url("")).rstrip("/")
    yield simulator
    await server.close()


def bot_config(sim: Simulator, database_url: str, port: int) -> Config:
    """The bot's configuration pointing every LINE host at the simulator."""
    return Config(
        database_url=database_url,
        line_channel_secret=SECRET,
        line_channel_access_token=ACCESS_TOKEN,
        line_login_channel_id=LOGIN_CHANNEL_ID,
        liff_id=LIFF_ID,
        public_base_url=f"http://127.0.0.1:{port}",
        secret_key="test-secret-key",
        port=port,
    ).on_line_host(sim.config.public_base_url)


@pytest.fixture
async def bot(
    request: pytest.FixtureRequest, sim: Simulator, database_url: str
) -> AsyncIterator[TestServer]:
    """The real app on a real port, wired to the simulator both ways.

    A test marked `no_delivery_engine` drives deliveries itself."""
    workers = ("inbox",) if request.node.get_closest_marker("no_delivery_engine") else None
    server = await start_bot(sim, database_url, FAST_ENGINE, workers=workers)
    yield server
    await server.close()


def free_port_socket() -> socket.socket:
    """A socket bound to a free local port, held from the moment the port is chosen.

    A port looked up and let go (`unused_port`) can be taken before the server binds it, by
    any connection another test process opens meanwhile (`Address already in use`)."""
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", 0))
    return listening


def held_port_server(app: Any, listening: socket.socket | None = None, **kwargs: Any) -> TestServer:
    """A TestServer for `app` serving on `listening` (a new free one if not given)."""
    listening = listening or free_port_socket()
    return TestServer(
        app,
        port=listening.getsockname()[1],
        socket_factory=lambda host, port, family: listening,
        **kwargs,
    )


async def start_bot(
    sim: Simulator,
    database_url: str,
    engine_settings: EngineSettings,
    workers: tuple[str, ...] | None = None,
) -> TestServer:
    """Start the real app on a free port and point the simulator's webhook and LIFF at it."""
    listening = free_port_socket()
    config = bot_config(sim, database_url, listening.getsockname()[1])
    if workers is not None:
        config = replace(config, workers=workers)
    # Like `serve` (bot/lifecycle.py): requests in flight get REQUEST_GRACE at shutdown, so
    # a connection lingering over a body we refused does not hold a test's teardown 10 s.
    app = create_app(config, engine_settings=engine_settings)
    server = held_port_server(app, listening, shutdown_timeout=REQUEST_GRACE)
    await server.start_server()
    sim.config.webhook_url = f"{config.public_base_url}/callback"
    sim.config.liff_apps[LIFF_ID] = f"{config.public_base_url}/liff/"
    return server


@pytest.fixture
async def browser_session() -> AsyncIterator[aiohttp.ClientSession]:
    """A cookie-keeping HTTP client playing the employee's phone browser."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


@dataclass
class Company:
    """The demo-sized organisation a test arranges."""

    departments: dict[str, Department] = field(default_factory=dict)
    employees: dict[str, Employee] = field(default_factory=dict)


async def make_company(
    spec: dict[str, list[tuple[str, str]]], parents: dict[str, str] | None = None
) -> Company:
    """Create departments (optionally nested) and their employees: {dept: [(code, name)]}."""
    company = Company()
    parents = parents or {}
    for dept_name in spec:
        parent = company.departments.get(parents.get(dept_name, ""))
        company.departments[dept_name] = await Department.create(name=dept_name, parent=parent)
    for dept_name, people in spec.items():
        for code, name in people:
            company.employees[code] = await Employee.create(
                code=code, name=name, department=company.departments[dept_name]
            )
    return company


class LineActions:
    """What a person does in LINE, played through the simulator against the real bot."""

    def __init__(self, sim: Simulator, bot: TestServer, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.bot = bot
        self.session = session

    def texts(self, user_id: str) -> list[str]:
        """Every text the user received (Flex/template messages by their altText)."""
        out = []
        for message in self.sim.messages_for(user_id):
            out.append(message.get("text") or message.get("altText") or "")
        return out

    async def befriend(self, display_name: str) -> str:
        """A new LINE user adds the official account; return their user ID."""
        user = self.sim.add_user(display_name)
        assert await self.sim.follow(user.user_id) == 200
        await until(lambda: self.sim.messages_for(user.user_id))
        return user.user_id

    async def link_url(self, user_id: str) -> str:
        """Ask to link in chat and return the URL of the button the bot replies with."""
        before = len(self.sim.messages_for(user_id))
        assert await self.sim.send_text(user_id, "連携") == 200
        await until(lambda: len(self.sim.messages_for(user_id)) > before)
        message = self.sim.messages_for(user_id)[-1]
        return message["template"]["actions"][0]["uri"]

    async def open_link_page(self, url: str) -> tuple[int, str]:
        """GET the sign-in page; return status and HTML."""
        async with self.session.get(url) as response:
            return response.status, await response.text()

    async def sign_in(
        self, url: str, employee_code: str, registration_code: str
    ) -> aiohttp.ClientResponse:
        """Fill in and submit the sign-in form (with its CSRF token); do not follow redirects."""
        status, html = await self.open_link_page(url)
        assert status == 200, html
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        token = re.search(r'name="linkToken" value="([^"]+)"', html).group(1)
        form = {
            "csrf_token": csrf,
            "linkToken": token,
            "employee_code": employee_code,
            "registration_code": registration_code,
        }
        async with self.session.post(
            self.bot.make_url("/link"), data=form, allow_redirects=False
        ) as response:
            await response.read()
            return response

    async def link(self, user_id: str, employee: Employee) -> None:
        """The whole linking flow, as the seed's STEP1-4 describe it."""
        issued = await issue_registration_code(employee)
        url = await self.link_url(user_id)
        response = await self.sign_in(url, employee.code, issued.code)
        assert response.status == 302, response.status
        dialog = response.headers["Location"]
        before = len(self.sim.messages_for(user_id))
        async with self.session.get(dialog) as page:
            assert page.status == 200
        await until(lambda: len(self.sim.messages_for(user_id)) > before)

    async def linked_friend(self, employee: Employee, display_name: str | None = None) -> str:
        """A LINE user befriended and linked to the employee through the real flow."""
        user_id = await self.befriend(display_name or f"{employee.name}のLINE")
        await self.link(user_id, employee)
        return user_id


@pytest.fixture
async def line(
    sim: Simulator, bot: TestServer, browser_session: aiohttp.ClientSession
) -> LineActions:
    """Signs and posts webhook events (through the simulator) and plays the user's browser."""
    return LineActions(sim, bot, browser_session)


async def quick_link(sim: Simulator, employee: Employee, display_name: str = "") -> str:
    """Arrange a linked, befriended LINE user directly in the database (no chat)."""
    user = sim.add_user(display_name or employee.name)
    user.friend = True
    await LineAccount.create(
        user_id=user.user_id, display_name=user.display_name, employee=employee
    )
    return user.user_id


def query_of(url: str) -> str:
    """The query string of a URL."""
    return urlsplit(url).query


CONSOLE_PASSWORD = "correct horse battery staple"


async def make_console_user(
    login: str, role: str, departments: list[Department] | None = None
) -> None:
    """A console user with CONSOLE_PASSWORD."""
    from domain.actors import Actor
    from domain.console_users import add_user
    from models import ConsoleRole

    await add_user(
        login, f"{login}さん", CONSOLE_PASSWORD, ConsoleRole(role), departments or [], Actor.cli()
    )


class ConsoleActions:
    """A browser on the console: signs in, follows forms with their CSRF token."""

    def __init__(self, bot: TestServer, session: aiohttp.ClientSession) -> None:
        self.bot = bot
        self.session = session

    def url(self, path: str) -> str:
        """An absolute URL for a console path such as `/console/alerts`."""
        return str(self.bot.make_url(path))

    async def get(self, path: str, **kwargs: Any) -> tuple[int, str]:
        """GET a page without following redirects; return status and body."""
        async with self.session.get(self.url(path), allow_redirects=False, **kwargs) as r:
            return r.status, await r.text()

    async def csrf(self) -> str:
        """This browser's CSRF token, as every form of its pages carries it."""
        status, html = await self.get("/console/login")
        if status != 200:  # signed in: the login page moves on, any page has the sign-out form
            status, html = await self.get("/console/alerts")
        return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)

    async def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kwargs: Any
    ) -> aiohttp.ClientResponse:
        """POST a form (with this browser's CSRF token unless told not to); no redirects."""
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf_token", await self.csrf())
        async with self.session.post(
            self.url(path), data=form, allow_redirects=False, **kwargs
        ) as response:
            await response.read()
            return response

    async def sign_in(self, login: str, password: str = CONSOLE_PASSWORD) -> aiohttp.ClientResponse:
        """Submit the sign-in form."""
        return await self.post("/console/login", {"login": login, "password": password})


@pytest.fixture
async def console(bot: TestServer) -> AsyncIterator[ConsoleActions]:
    """A fresh cookie-keeping browser on the console."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield ConsoleActions(bot, session)
