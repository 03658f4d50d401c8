"""One `python -m bot demo` for the tests that walk it as a newcomer would (the newcomer's
walk, the screenshots, the demo keeping its data): started once per test process (a session
fixture, `running_demo`), restarted only by the test of what a restart keeps."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import DEMO_READY, clean_env, demo_port

STARTS_WITHIN = 120.0  # a guard against a hang, not a speed check
STOPS_WITHIN = 30.0


class DemoProcess:
    """`python -m bot demo --port P` in its own directory, its output read as it comes."""

    def __init__(self, cwd: Path, port: int) -> None:
        self.cwd = cwd
        self.port = port
        self.process: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._start_line = 0
        self._reader: threading.Thread | None = None

    def _read(self, process: subprocess.Popen[str], ready: threading.Event) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line)
            if DEMO_READY in line:
                ready.set()
        process.stdout.close()
        ready.set()  # exited: let the waiter look

    def _finish_reading(self) -> None:
        """Wait until the last run's output is all read (its process has exited): a reader
        still at it would add that run's last lines to the next run's, or wake its waiter."""
        if self._reader is not None:
            self._reader.join(STOPS_WITHIN)
            self._reader = None

    def start(self, *args: str) -> str:
        """Start it (with extra arguments such as --reset); what it printed up to the ready
        line."""
        self._finish_reading()
        self._start_line = len(self.lines)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "demo", "--port", str(self.port), *args],
            cwd=self.cwd, env=clean_env(), text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        ready = threading.Event()  # this run's own: set by this run's reader only
        self._reader = threading.Thread(target=self._read, args=(self.process, ready), daemon=True)
        self._reader.start()
        if not ready.wait(STARTS_WITHIN) or self.process.poll() is not None:
            self.stop()
            raise AssertionError(f"the demo did not get ready:\n{self.output[-3000:]}")
        return self.printed

    def stop(self, sig: signal.Signals = signal.SIGINT) -> int | None:
        """Ctrl-C (SIGINT) by default, as a person stops it; its exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(STOPS_WITHIN)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            self._finish_reading()
            raise AssertionError(f"the demo did not stop:\n{self.output[-3000:]}") from None
        self._finish_reading()
        return code

    @property
    def output(self) -> str:
        """Everything every run printed."""
        return "".join(self.lines)

    @property
    def printed(self) -> str:
        """What the current run printed."""
        return "".join(self.lines[self._start_line :])

    # What the banner says

    def urls(self) -> list[str]:
        return re.findall(r"https?://\S+", self.banner)

    @property
    def banner(self) -> str:
        """The banner of the current run (from its first line to the ready line)."""
        text = self.printed
        return text[text.index("Anpi デモ") : text.index(DEMO_READY) + len(DEMO_READY)]

    def url(self, contains: str) -> str:
        """The first printed URL holding `contains`."""
        return next(u for u in self.urls() if contains in u)

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.port + 1}"

    @property
    def bot_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def password(self) -> str:
        return re.search(r"password (\S+)", self.banner).group(1)

    def link_code(self) -> tuple[str, str, str]:
        """(employee code, their name, registration code) of the employee to link in chat."""
        found = re.search(r"社員番号 (E\d+) \((.+?)\) と登録コード (\S{4}-\S{4})", self.banner)
        return found.group(1), found.group(2), found.group(3)


@pytest.fixture(scope="session")
def running_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoProcess]:
    """The demo, started once for this test process."""
    demo = DemoProcess(tmp_path_factory.mktemp("demo"), demo_port())
    demo.start()
    try:
        yield demo
    finally:
        demo.stop()
