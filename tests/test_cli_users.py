"""`python -m bot user add|passwd|disable` manages console users; the first maintainer is
created this way."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from domain.console_users import sign_in
from domain.errors import Invalid
from models import AuditEntry, ConsoleRole, ConsoleUser
from tests.conftest import make_company

ROOT = Path(__file__).resolve().parent.parent


async def bot_cli(*args: str, database_url: str, stdin: str = "") -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LINE_", "LIFF_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=ROOT,
        env={**env, "DATABASE_URL": database_url},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), 60)
    return process.returncode, out.decode(), err.decode()


async def test_add_a_maintainer_who_can_then_sign_in(db):
    code, out, err = await bot_cli(
        "user", "add", "admin", "--role", "maintainer", "--name", "管理者", "--password-stdin",
        database_url=db, stdin="a long enough secret\n",
    )  # fmt: skip
    assert code == 0, err
    assert "user admin added (maintainer)" in out
    viewer = await sign_in("admin", "a long enough secret", "127.0.0.1")
    assert viewer.role is ConsoleRole.MAINTAINER and viewer.scope.is_everything
    assert await AuditEntry.filter(via="cli", action="user_add", target="admin").exists()


async def test_a_supervisor_is_scoped_to_their_departments(db):
    await make_company({"総務部": [("E1", "山田")], "営業部": [("E2", "佐藤")]})
    code, _, err = await bot_cli(
        "user", "add", "soumu", "--department", "総務部", "--password-stdin",
        database_url=db, stdin="a long enough secret\n",
    )  # fmt: skip
    assert code == 0, err
    viewer = await sign_in("soumu", "a long enough secret", "127.0.0.1")
    assert viewer.role is ConsoleRole.SUPERVISOR and len(viewer.scope.department_ids) == 1


async def test_passwd_changes_the_password_and_disable_stops_sign_in(db):
    add = ("user", "add", "admin", "--role", "maintainer", "--password-stdin")
    assert (await bot_cli(*add, database_url=db, stdin="first secret 123\n"))[0] == 0
    code, _, err = await bot_cli(
        "user", "passwd", "admin", "--password-stdin", database_url=db, stdin="second secret 45\n"
    )
    assert code == 0, err
    with pytest.raises(Invalid):
        await sign_in("admin", "first secret 123", "127.0.0.1")
    await sign_in("admin", "second secret 45", "127.0.0.1")
    assert (await bot_cli("user", "disable", "admin", database_url=db))[0] == 0
    assert not (await ConsoleUser.get(login="admin")).active
    with pytest.raises(Invalid):
        await sign_in("admin", "second secret 45", "127.0.0.1")


MAINTAINER = ("--role", "maintainer", "--password-stdin")


async def test_passwd_refuses_a_common_password_and_keeps_the_old_one(db):
    add = ("user", "add", "admin", *MAINTAINER)
    assert (await bot_cli(*add, database_url=db, stdin="first secret 123\n"))[0] == 0
    code, _, err = await bot_cli(
        "user", "passwd", "admin", "--password-stdin", database_url=db, stdin="Password1234\n"
    )
    assert code == 2 and "よく使われている" in err
    await sign_in("admin", "first secret 123", "127.0.0.1")


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (("user", "add", "x", *MAINTAINER), "long secret 1\n", "ログインID"),
        (("user", "add", "admin", *MAINTAINER), "short\n", "10文字以上"),
        (("user", "add", "admin", *MAINTAINER), "1234567890\n", "よく使われている"),
        (("user", "add", "admin", *MAINTAINER), "qwertyuiop\n", "よく使われている"),
        (("user", "add", "boss", "--password-stdin"), "long enough secret\n", "部署を1つ以上"),
        (("user", "passwd", "ghost", "--password-stdin"), "long enough secret\n", "ghost"),
    ],
)
async def test_bad_user_commands_say_why_in_one_line(db, args, stdin, says):
    code, _, err = await bot_cli(*args, database_url=db, stdin=stdin)
    assert code == 2
    assert err.startswith("error: ") and says in err and err.count("\n") == 1
