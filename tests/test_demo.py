"""`python -m bot demo` (what `make demo` runs) starts and prints URLs that work."""

from __future__ import annotations

import asyncio
import re
import signal
import sys

import aiohttp

from tests.processes import clean_env, demo_port, start_demo


async def test_demo_prints_an_answer_form_a_link_page_and_a_tally_that_all_work(tmp_path):
    port = demo_port()  # the simulator and the SMTP sink take the next two
    process, printed = await start_demo(tmp_path, port)
    try:
        assert "A drill (訓練) was sent to 30 employees" in printed
        urls = re.findall(r"https?://\S+", printed)
        answer_url = next(u for u in urls if "/_sim/open?" in u)
        link_url = next(u for u in urls if "/link?linkToken=" in u)
        code = re.search(r"registration code ([A-Z0-9]{4}-[A-Z0-9]{4})", printed).group(1)
        employee = re.search(r"employee code (E\d+)", printed).group(1)

        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as session:
            # The answer link walks the LIFF host to the bot's form page.
            async with session.get(answer_url) as response:
                assert response.status == 200
                assert "liff.state=" in str(response.url) and "安否回答" in await response.text()
            # The link page signs the unlinked employee in and hands over to LINE's dialog.
            async with session.get(link_url) as response:
                html = await response.text()
                assert response.status == 200 and "社員番号" in html
            form = {
                "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1),
                "linkToken": re.search(r'name="linkToken" value="([^"]+)"', html).group(1),
                "employee_code": employee,
                "registration_code": code,
            }
            async with session.post(link_url.split("?")[0], data=form) as response:
                assert response.status == 200
                assert "連携が完了しました" in await response.text()

        # The console: the supervisor of 総務部 sees the drill with their 6 people only.
        console_url = next(u for u in urls if u.endswith("/console/"))
        password = re.search(r"password (\S+)", printed).group(1)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            async with session.get(console_url) as response:
                html = await response.text()
                assert "ログインID" in html
            form = {
                "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1),
                "login": "soumu",
                "password": password,
            }
            async with session.post(f"{console_url}login", data=form) as response:
                html = await response.text()
                assert response.status == 200 and "【訓練】" in html
                assert "0 / 6" in html

        tally_command = re.search(r"Tally:\s+(\S+) \S+ -m bot tally (\d+)", printed)
        database_url = tally_command.group(1).split("=", 1)[1]
        tally = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "tally",
            tally_command.group(2),
            cwd=tmp_path,
            env=clean_env(DATABASE_URL=database_url),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(tally.communicate(), 60)
        assert tally.returncode == 0, err.decode()
        assert "回答済 0 / 30" in out.decode()
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            await asyncio.wait_for(process.wait(), 30)
    assert process.returncode == 0
