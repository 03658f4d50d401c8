"""Running `python -m bot …` as a separate process, the way an operator would."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_READY = "password"  # the last thing the demo prints once everything is up


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


async def start_demo(cwd: Path, port: int) -> tuple[asyncio.subprocess.Process, str]:
    """`python -m bot demo --port PORT` once it is up, with what it printed."""
    process = await spawn_bot("demo", "--port", str(port), cwd=cwd, env=clean_env())
    try:
        return process, await read_until(process, DEMO_READY)
    except BaseException:
        process.kill()
        await process.wait()
        raise
