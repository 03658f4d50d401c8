"""Running `python -m bot …` as a separate process, the way an operator would, against the
local LINE platform served on real ports and a company arranged in the database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import unused_port

from line_simulator import Simulator, SimulatorConfig
from models import Department, Employee, LineAccount

ROOT = Path(__file__).resolve().parent.parent
DEMO_READY = "The demo is ready."  # the last line the demo prints once everything is up
SERVE_READY = "serving on"
WORKER_READY = "workers running"
STOP_WITHIN = 5.0  # the promise made to operators (see bot/lifecycle.py)


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without LINE settings, with the repository importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINE_", "LIFF_"))}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


async def spawn_bot(*args: str, cwd: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    """Start `python -m bot ARGS` with its output (stdout and stderr) on a pipe."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def read_until(process: asyncio.subprocess.Process, marker: str) -> str:
    """Everything the process printed up to the line holding `marker`."""
    printed = ""
    while marker not in printed:
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        assert line, f"exited early:\n{printed}"
        printed += line.decode()
    return printed


DEMO_PORTS = 3  # the bot, the local LINE platform (port + 1), the SMTP sink (port + 2)


def _free_ports_below_ephemeral(count: int) -> int:
    """A port P with P … P + count - 1 free, picked at random below the kernel's ephemeral
    range: a port found free there stays free while a process we start gets round to binding
    it, since neither another test process's free-port picks (`unused_port`) nor the outgoing
    connections of every process on the machine take ports from there."""
    rng = random.SystemRandom()
    for _ in range(200):
        base = rng.randrange(20000, 32000 - count)
        with contextlib.ExitStack() as stack:
            try:
                for offset in range(count):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", base + offset))
            except OSError:
                continue
        return base
    raise RuntimeError(f"no {count} consecutive free ports found")


def demo_port() -> int:
    """A port P with P, P + 1 and P + 2 free, for `demo --port P`."""
    return _free_ports_below_ephemeral(DEMO_PORTS)


def process_port() -> int:
    """A free port for a process we start (`serve`, `worker`) to listen on: seconds pass
    before it binds, in which a port from the ephemeral range (`unused_port`) can be taken
    by any connection opened meanwhile ('address already in use')."""
    return _free_ports_below_ephemeral(1)


async def start_demo(cwd: Path, port: int) -> tuple[asyncio.subprocess.Process, str]:
    """`python -m bot demo --port PORT` once it is up, with what it printed."""
    process = await spawn_bot("demo", "--port", str(port), cwd=cwd, env=clean_env())
    try:
        return process, await read_until(process, DEMO_READY)
    except BaseException:
        process.kill()
        await process.wait()
        raise


def line_env(
    sim_url: str, database_url: str, port: int | None = None, **extra: str
) -> dict[str, str]:
    """A clean environment for `serve` or `worker` with every LINE host at the local LINE
    platform (SECRET and the other test channel settings of tests/conftest.py)."""
    from tests.conftest import ACCESS_TOKEN, LIFF_ID, LOGIN_CHANNEL_ID, SECRET

    env = clean_env(
        DATABASE_URL=database_url,
        LINE_CHANNEL_SECRET=SECRET,
        LINE_CHANNEL_ACCESS_TOKEN=ACCESS_TOKEN,
        LINE_LOGIN_CHANNEL_ID=LOGIN_CHANNEL_ID,
        LIFF_ID=LIFF_ID,
        SECRET_KEY="test-secret-key",
        LINE_API_BASE_URL=sim_url,
        LINE_DATA_API_BASE_URL=sim_url,
        LINE_ACCESS_BASE_URL=sim_url,
        LIFF_BASE_URL=f"{sim_url}/liff",
    )
    if port is not None:
        env.update(PORT=str(port), PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")
    return {**env, **extra}


class BotProcess:
    """A running `python -m bot ARGS` whose output is read as it comes (an unread pipe
    would fill up and stall it) and kept for failure messages."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            self.lines.append(line.decode(errors="replace"))

    @classmethod
    async def start(cls, *args: str, cwd: Path, env: dict[str, str], ready: str) -> BotProcess:
        """Start it and return once it printed `ready` (fail if it exits first)."""
        running = cls(await spawn_bot(*args, cwd=cwd, env=env))
        try:
            await running.printed(ready)
        except BaseException:
            await running.kill()
            raise
        return running

    @property
    def output(self) -> str:
        """Everything it printed so far."""
        return "".join(self.lines)

    async def printed(self, marker: str, within: float = 60.0) -> None:
        """Wait until it printed a line holding `marker`."""
        deadline = asyncio.get_running_loop().time() + within
        while not any(marker in line for line in self.lines):
            assert not self._reader.done(), f"exited early:\n{self.output[-3000:]}"
            assert asyncio.get_running_loop().time() < deadline, self.output[-3000:]
            await asyncio.sleep(0.02)

    async def exited(self, within: float = 600.0) -> int:
        """Wait for it to finish on its own; its exit code."""
        await asyncio.wait_for(self.process.wait(), within)
        await self._reader
        return self.process.returncode

    async def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, as a crash or a pulled plug."""
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
        await self._reader

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Signal it (SIGTERM, or SIGINT as Ctrl-C), then its exit code: it must exit within
        STOP_WITHIN seconds."""
        if self.process.returncode is None:
            self.process.send_signal(sig)
        try:
            await asyncio.wait_for(self.process.wait(), STOP_WITHIN)
        except TimeoutError:
            await self.kill()
            raise AssertionError(f"still running {STOP_WITHIN} s after {sig.name}") from None
        await self._reader
        return self.process.returncode


@contextlib.asynccontextmanager
async def simulator_on_ports(
    count: int = 1, *middlewares: object
) -> AsyncIterator[tuple[Simulator, list[str]]]:
    """The local LINE platform served on `count` ports (a process's port tells the platform
    who is calling), with extra middlewares that watch or stop what the bot sends."""
    from tests.conftest import ACCESS_TOKEN, LOGIN_CHANNEL_ID, SECRET

    simulator = Simulator(
        SimulatorConfig(
            channel_secret=SECRET,
            channel_access_token=ACCESS_TOKEN,
            login_channel_id=LOGIN_CHANNEL_ID,
        )
    )
    simulator.app.middlewares.extend(middlewares)  # type: ignore[arg-type]
    runner = web.AppRunner(simulator.app, shutdown_timeout=1.0)
    await runner.setup()
    urls = []
    try:
        for _ in range(count):
            port = unused_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            urls.append(f"http://127.0.0.1:{port}")
        simulator.config.public_base_url = urls[0]
        yield simulator, urls
    finally:
        await runner.cleanup()


def local_port(request: web.Request) -> int:
    """The port of ours a request came in on."""
    return request.transport.get_extra_info("sockname")[1]


async def linked_staff(sim: Simulator, count: int) -> list[str]:
    """`count` employees of one department, each linked to a LINE friend; their user IDs."""
    department = await Department.create(name="総務部")
    await Employee.bulk_create(
        [Employee(code=f"E{n:05}", name=f"社員{n}", department=department) for n in range(count)],
        batch_size=1000,
    )
    accounts = []
    for employee in await Employee.all().order_by("id"):
        user = sim.add_user(employee.name)
        user.friend = True
        accounts.append(
            LineAccount(user_id=user.user_id, display_name=user.display_name, employee=employee)
        )
    await LineAccount.bulk_create(accounts, batch_size=1000)
    return [account.user_id for account in accounts]
