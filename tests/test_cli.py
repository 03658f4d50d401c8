"""The command line, run as a separate process the way an operator runs it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from domain.linking import begin_link, record_link_token
from models import Alert, Delivery, DeliveryStatus, LinkNonce
from tests.conftest import ACCESS_TOKEN, LIFF_ID, LOGIN_CHANNEL_ID, SECRET, make_company, quick_link
from tests.processes import demo_port, start_demo

ROOT = Path(__file__).resolve().parent.parent


async def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run `python -m bot ARGS` with only the given settings; return code, stdout, stderr."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LINE_", "LIFF_"))}
    base.pop("DATABASE_URL", None)
    base.pop("SECRET_KEY", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=ROOT,
        env={**base, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


def line_env(sim, database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "LINE_CHANNEL_ACCESS_TOKEN": ACCESS_TOKEN,
        "LINE_API_BASE_URL": sim.config.public_base_url,
        "LIFF_BASE_URL": f"{sim.config.public_base_url}/liff",
        "LIFF_ID": LIFF_ID,
    }


@pytest.mark.no_delivery_engine
async def test_send_starts_a_drill_delivers_it_and_tally_counts_it(sim, bot, database_url):
    company = await make_company({"総務部": [("E1", "山田")], "営業部": [("E2", "佐藤")]})
    soumu = await quick_link(sim, company.employees["E1"])
    eigyo = await quick_link(sim, company.employees["E2"])

    code, out, err = await run(
        "send",
        "--template",
        "earthquake",
        "--drill",
        "--department",
        "総務部",
        "--sender",
        "総務部 防災担当",
        env=line_env(sim, database_url),
    )
    assert code == 0, err
    assert "alert 1 started: 訓練 【地震】安否確認" in out
    assert "recipients 1, by LINE 1" in out and "sent 1" in out
    assert [m["type"] for m in sim.messages_for(soumu)] == ["flex"]
    assert sim.messages_for(eigyo) == []
    assert await Delivery.filter(status=DeliveryStatus.SENT).count() == 1

    code, out, err = await run("tally", "1", env={"DATABASE_URL": database_url})
    assert code == 0, err
    assert "回答済 0 / 1  未回答 1" in out
    assert "本人: 無事 0  軽傷 0  重傷 0" in out
    assert "総務部: 回答済 0 / 1" in out

    code, out, err = await run("close", "1", env={"DATABASE_URL": database_url})
    assert code == 0, err
    assert out.startswith("alert 1 closed at ")
    assert (await Alert.get(id=1)).closed_at is not None
    code, _, err = await run("close", "1", env={"DATABASE_URL": database_url})
    assert code == 2 and err.strip() == "error: この連絡はすでに終了しています。"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["send", "--template", "nope"], "テンプレート 'nope' が見つかりません。"),
        (["send", "--department", "経理部"], "部署 '経理部' が見つかりません。"),
        (["tally", "42"], "連絡 42 が見つかりません。"),
        (["registration-codes", "E999"], "no active employee with code 'E999'"),
        (["registration-codes"], "name employee codes, or pass --all-unlinked"),
    ],
)
async def test_a_command_with_bad_input_says_why_in_one_line(sim, sqlite_db, args, message):
    await make_company({"総務部": [("E1", "山田")]})
    code, _, err = await run(*args, env=line_env(sim, sqlite_db))
    assert code == 2
    assert err.strip() == f"error: {message}"


async def test_registration_codes_prints_codes_that_let_the_employee_link(db):
    await make_company({"総務部": [("E1", "山田"), ("E2", "佐藤")]})
    code, out, err = await run("registration-codes", "--all-unlinked", env={"DATABASE_URL": db})
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "employee_code,name,registration_code,expires_at"
    rows = {line.split(",")[0]: line.split(",") for line in lines[1:]}
    assert set(rows) == {"E1", "E2"}
    await record_link_token("U-cli-test", "link-token-from-line")
    nonce = await begin_link("link-token-from-line", "E1", rows["E1"][2])
    assert len(nonce) >= 22 and await LinkNonce.all().count() == 1


async def test_serve_refuses_an_unmigrated_database_with_a_hint(tmp_path):
    env = {
        "DATABASE_URL": f"sqlite://{tmp_path}/empty.sqlite3",
        "LINE_CHANNEL_SECRET": SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": ACCESS_TOKEN,
        "LINE_LOGIN_CHANNEL_ID": LOGIN_CHANNEL_ID,
        "LIFF_ID": LIFF_ID,
        "SECRET_KEY": "k",
    }
    code, _, err = await run("serve", env=env)
    assert code == 2
    committed = len(list((ROOT / "models" / "migrations").glob("0*.py")))
    assert err.strip() == (
        f"error: the database is not migrated ({committed} pending): run `python -m bot migrate`"
    )


@pytest.mark.parametrize(
    "missing",
    [
        "LINE_CHANNEL_SECRET",
        "LINE_CHANNEL_ACCESS_TOKEN",
        "LINE_LOGIN_CHANNEL_ID",
        "LIFF_ID",
        "SECRET_KEY",
    ],
)
async def test_serve_outside_the_demo_names_a_missing_secret_in_one_line(tmp_path, missing):
    env = {
        "DATABASE_URL": f"sqlite://{tmp_path}/x.sqlite3",
        "LINE_CHANNEL_SECRET": SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": ACCESS_TOKEN,
        "LINE_LOGIN_CHANNEL_ID": LOGIN_CHANNEL_ID,
        "LIFF_ID": LIFF_ID,
        "SECRET_KEY": "k",
    }
    del env[missing]
    code, _, err = await run("serve", env=env)
    assert code == 2
    assert err.strip() == f"error: {missing} is not set: export it (see README, configuration)"


async def test_migrate_creates_the_schema_and_the_seed_template_and_can_run_twice(tmp_path):
    env = {"DATABASE_URL": f"sqlite://{tmp_path}/m.sqlite3"}
    for _ in range(2):
        code, _out, err = await run("migrate", env=env)
        assert code == 0, err
    code, _, err = await run("tally", "1", env=env)
    assert code == 2 and "連絡 1 が見つかりません" in err  # migrated: the query ran


def serve_env(tmp_path, **settings: str) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite://{tmp_path}/empty.sqlite3",
        "LINE_CHANNEL_SECRET": SECRET,
        "LINE_CHANNEL_ACCESS_TOKEN": ACCESS_TOKEN,
        "LINE_LOGIN_CHANNEL_ID": LOGIN_CHANNEL_ID,
        "LIFF_ID": LIFF_ID,
        "SECRET_KEY": "k",
        **settings,
    }


@pytest.mark.parametrize("variable", ["LINE_API_BASE_URL", "LINE_ACCESS_BASE_URL", "LIFF_BASE_URL"])
async def test_serve_refuses_a_plain_http_line_host_in_one_line(tmp_path, variable):
    code, _, err = await run("serve", env=serve_env(tmp_path, **{variable: "http://line.example"}))
    assert code == 2
    assert err.strip() == (
        f"error: {variable} must be an https:// URL (http only on a loopback host), "
        "not 'http://line.example'"
    )


async def test_serve_accepts_plain_http_for_a_line_platform_on_this_machine(tmp_path):
    env = serve_env(
        tmp_path,
        LINE_API_BASE_URL="http://127.0.0.1:8081",
        LINE_ACCESS_BASE_URL="http://localhost:8081",
        LIFF_BASE_URL="http://[::1]:8081/liff",
    )
    code, _, err = await run("serve", env=env)
    assert code == 2 and "the database is not migrated" in err  # got past the host check


def lan_address() -> str | None:
    """This machine's address on its network (no packet is sent), or None offline."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))  # TEST-NET-2: only picks a route
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


async def test_the_demo_listens_only_on_this_machine_unless_told_otherwise(tmp_path):
    address = lan_address()
    if address is None:
        pytest.skip("this machine has no network address besides loopback")
    port = demo_port()  # the simulator and the SMTP sink take the next two
    process, _printed = await start_demo(tmp_path, port)
    # Keep reading what it prints, so a full pipe never holds it up, and say it if it hangs.
    output = asyncio.ensure_future(process.stdout.read())
    try:
        for listening in (port, port + 1):
            _, writer = await asyncio.open_connection("127.0.0.1", listening)
            writer.close()
            await writer.wait_closed()
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection(address, listening)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 60)
        except TimeoutError:
            process.kill()
            await process.wait()
    printed = (await output).decode()[-3000:]
    assert process.returncode == 0, printed
