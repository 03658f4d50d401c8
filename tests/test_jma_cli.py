"""The JMA commands run as an operator runs them: `jma rule add|list|test`, `jma replay` (the
poller's path: prints what it did, delivers, tells the admin groups), one-line refusals for
what cannot be read, and `departments import|export`."""

from __future__ import annotations

# ruff: noqa: F811  (the `bot` and `feed` fixtures are imported, then named as parameters)
import pytest

from domain.actors import Actor
from domain.jma import rules
from models import Alert, AuditEntry, Department, JmaRule
from tests.conftest import until
from tests.jma_helpers import (  # noqa: F401  (fixtures)
    IWATE_SHINGEN,
    IWATE_SOKUHOU,
    SAMPLES,
    admin_room,
    arrange_offices,
    bot,
    feed,
    group_texts,
)
from tests.test_cli import line_env, run
from tests.test_jma_bulletins import BILLION_LAUGHS, MALFORMED

RULE_ADD = (
    "jma", "rule", "add", "--name", "岩手の事業所", "--min-intensity", "4",
    "--prefecture", "岩手県", "--template", "earthquake", "--offices-only",
    "--suppress-minutes", "720", "--delay-minutes", "0",
)  # fmt: skip


# The rule RULE_ADD adds, arranged in-process for the tests of what `jma replay` does with it.
IWATE_RULE = rules.RuleDraft(
    name="岩手の事業所", min_intensity="4", areas=("岩手県",), template="earthquake",
    offices_only=True, suppress_minutes=720, delay_minutes=0,
)  # fmt: skip


async def test_rules_are_added_listed_and_tested_without_sending(sim, bot, database_url):
    await arrange_offices(sim)
    env = line_env(sim, database_url)

    code, out, err = await run(*RULE_ADD, env=env)
    assert code == 0, err
    assert out.strip() == "rule 1 added: 岩手の事業所 (震度4以上: 岩手県)"
    code, out, _ = await run("jma", "rule", "list", env=env)
    assert out.splitlines()[1] == "1,岩手の事業所,quake,4,岩手県,earthquake,1,720,0,0"

    code, out, err = await run(
        "jma", "rule", "test", "岩手の事業所", str(SAMPLES / IWATE_SHINGEN), env=env
    )

    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(
        "fires: 発信します: 【地震】安否確認、対象 2名(盛岡支店(岩手県) とその下の部署)"
    )
    assert lines[1:] == ["  E1 岩手太郎", "  E2 盛岡次郎"]
    assert not await Alert.exists()
    assert not [r for r in sim.sent if r.kind == "multicast"]
    row = await AuditEntry.get(action="jma_rule_add")
    assert (row.via, row.actor, row.target) == ("cli", "cli", "岩手の事業所")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--min-intensity", "8", "--prefecture", "岩手県"), "震度 '8' は"),
        (("--min-intensity", "4"), "対象の都道府県・地域を1つ以上"),
        (("--min-intensity", "4", "--prefecture", "岩手県", "--template", "nope"), "テンプレート"),
        (("--min-intensity", "4", "--prefecture", "岩手県", "--delay-minutes", "99"), "待ち時間"),
    ],
)
async def test_a_bad_rule_is_refused_in_one_line(sim, sqlite_db, args, message):
    code, out, err = await run(
        "jma", "rule", "add", "--name", "x", *args, env=line_env(sim, sqlite_db)
    )
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not await JmaRule.exists()


async def test_replay_starts_delivers_and_tells_the_admin_groups(sim, bot, database_url):
    users = await arrange_offices(sim)
    group = await admin_room(sim, users)
    env = line_env(sim, database_url)
    assert (await run(*RULE_ADD, env=env))[0] == 0

    code, out, err = await run("jma", "replay", str(SAMPLES / IWATE_SOKUHOU), env=env)

    assert code == 0, err
    assert out.splitlines()[0] == "started alert 1: 開始: 連絡 #1(ルール「岩手の事業所」、対象 2名)"
    assert "admin groups told: 1" in out
    await until(lambda: sim.messages_for(users["盛岡次郎"]))
    assert sim.messages_for(users["大阪花子"]) == []
    assert "連絡 #1 を開始しました" in group_texts(sim, group)[-1]

    code, out, _ = await run("jma", "replay", str(SAMPLES / IWATE_SHINGEN), env=env)
    assert out.splitlines()[0] == "already decided: この地震はすでに対応済みです(連絡 #1)"
    code, out, _ = await run("jma", "replay", str(SAMPLES / IWATE_SHINGEN), env=env)
    assert out.splitlines()[0].startswith("already read: 既に処理済みの電文です")
    assert await Alert.all().count() == 1


async def test_replay_says_why_a_bulletin_is_ignored(sim, bot, database_url):
    await arrange_offices(sim)
    env = line_env(sim, database_url)
    await rules.add_rule(Actor.cli(), IWATE_RULE)

    code, out, _ = await run(
        "jma",
        "replay",
        str(SAMPLES / "VXSE53_20210216_real_Wakayama_max1_Osaka-office.xml"),
        env=env,
    )

    assert code == 0
    assert out.strip() == "ignored: 無視: 条件を満たすルールなし、最大震度1"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (BILLION_LAUGHS, "安全でないXMLのため読みません(DTDForbidden)"),
        (MALFORMED, "XMLとして読めません"),
        (b" " * (50 * 1024 * 1024), "電文が大きすぎます"),
        (
            (SAMPLES / "VXSE52_20080614_jmasample_IwateMiyagi.xml").read_bytes(),
            "この種類の電文は扱いません",
        ),
    ],
    ids=["billion-laughs", "malformed", "50MB", "unknown-type"],
)
async def test_replay_refuses_what_cannot_be_read_in_one_line(
    sim, bot, database_url, tmp_path, content, message
):
    await arrange_offices(sim)
    env = line_env(sim, database_url)
    await rules.add_rule(Actor.cli(), IWATE_RULE)
    path = tmp_path / "bulletin.xml"
    path.write_bytes(content)

    code, out, err = await run("jma", "replay", str(path), env=env)

    assert code == 2 and out == ""
    assert err.startswith("error: refused: ") and message in err and err.count("\n") == 1
    assert not await Alert.exists()


async def test_departments_prefectures_round_trip_through_csv(sim, sqlite_db, tmp_path):
    await arrange_offices(sim)
    env = {"DATABASE_URL": sqlite_db}
    upload = tmp_path / "offices.csv"
    upload.write_text("部署,都道府県\n盛岡支店/営業課,宮城県\n大阪支店,\n", encoding="utf-8")

    code, out, err = await run("departments", "import", str(upload), env=env)
    assert code == 0, err
    assert out.strip() == "prefectures set for 2 department(s)"
    code, out, _ = await run("departments", "export", env=env)

    assert out.lstrip("\ufeff").splitlines() == [
        "department,prefecture",
        "大阪支店,",
        "本社,東京都",
        "盛岡支店,岩手県",
        "盛岡支店/営業課,宮城県",
    ]
    assert (await Department.get(name="大阪支店")).prefecture is None


async def test_a_departments_csv_with_an_error_changes_nothing(sim, sqlite_db, tmp_path):
    await arrange_offices(sim)
    upload = tmp_path / "offices.csv"
    upload.write_text(
        "department,prefecture\n本社,大阪府\n支社,東京都\n盛岡支店,石川\n", encoding="utf-8"
    )

    code, _, err = await run("departments", "import", str(upload), env={"DATABASE_URL": sqlite_db})

    assert code == 2
    assert "3行目: 部署 '支社' がありません" in err and "4行目: 都道府県 '石川'" in err
    assert (await Department.get(name="本社")).prefecture == "13"
