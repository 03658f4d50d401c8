"""The JMA commands of `python -m bot`: `jma rule add|list|delete|test`, `jma replay FILE.xml`
(the poller's path for one bulletin), `jma-watch` (the poller alone) and `departments
import|export FILE` (each office's prefecture)."""

import argparse
import asyncio
from dataclasses import replace
from typing import Any

from bot import cli, resources
from bot.config import Config
from domain.actors import Actor
from domain.jma import events, offices, rules
from domain.jma.areas import intensity_label
from domain.jma.bulletin import BulletinRefused


def add_parsers(sub: Any) -> None:
    """Register the JMA commands on the top-level subparsers."""
    p = sub.add_parser("jma", help="automatic alerts from JMA bulletins: rules, replay")
    actions = p.add_subparsers(dest="action", required=True)
    q = actions.add_parser("rule", help="JMA rules: add, list, delete, test")
    rule = q.add_subparsers(dest="rule_action", required=True)
    r = rule.add_parser("add", help="add a rule")
    r.add_argument("--name", required=True)
    r.add_argument("--kind", choices=["quake", "tsunami", "weather"], default="quake")
    r.add_argument("--min-intensity", default="", help="quake rules: 1 2 3 4 5- 5+ 6- 6+ 7")
    r.add_argument("--prefecture", action="append", default=[], help="prefecture (name/code)")
    r.add_argument("--area", action="append", default=[], help="area or coast (name/code)")
    r.add_argument("--template", default="earthquake", help="template key or ID")
    r.add_argument("--offices-only", action="store_true", help="only offices in prefectures hit")
    r.add_argument("--suppress-minutes", type=int, default=720, help="再通知抑止時間 (minutes)")
    r.add_argument("--delay-minutes", type=int, default=0, help="wait before starting")
    r.add_argument("--drills", action="store_true", help="訓練 bulletins start drills")
    rule.add_parser("list", help="list the rules")
    r = rule.add_parser("delete", help="delete a rule")
    r.add_argument("rule", help="rule name or ID")
    r = rule.add_parser("test", help="who a bulletin would reach through a rule (sends nothing)")
    r.add_argument("rule", help="rule name or ID")
    r.add_argument("file")
    q = actions.add_parser("replay", help="feed a bulletin through the poller's path")
    q.add_argument("file")
    sub.add_parser("jma-watch", help="run the JMA poller alone (WORKERS=jma)")
    p = sub.add_parser("departments", help="each department's prefecture as CSV")
    actions = p.add_subparsers(dest="action", required=True)
    q = actions.add_parser("import", help="set prefectures from a CSV (department,prefecture)")
    q.add_argument("file")
    q = actions.add_parser("export", help="write departments and prefectures as CSV")
    q.add_argument("file", nargs="?", help="output file (default: standard output)")


def commands(config: Config, args: argparse.Namespace) -> dict[str, Any]:
    """The coroutine factories of the JMA commands, by command name."""
    return {
        "jma": lambda: jma(config, args),
        "jma-watch": lambda: cli.worker(replace(config, workers=("jma",))),
        "departments": lambda: departments(config, args),
    }


async def jma(config: Config, args: argparse.Namespace) -> None:
    """`jma rule …` and `jma replay`."""
    data = cli._read_file(args.file) if getattr(args, "file", None) else b""
    if args.action == "replay":
        config.require("line_channel_access_token", "liff_id")

    async def work() -> None:
        if args.action == "replay":
            await replay(config, data)
        elif args.rule_action == "add":
            draft = rules.RuleDraft(
                name=args.name, kind=args.kind, min_intensity=args.min_intensity,
                areas=tuple(args.prefecture + args.area), template=args.template,
                offices_only=args.offices_only, suppress_minutes=args.suppress_minutes,
                delay_minutes=args.delay_minutes, drills=args.drills,
            )  # fmt: skip
            rule = await rules.add_rule(Actor.cli(), draft)
            print(f"rule {rule.id} added: {rule.name} ({rules.describe(rule)})")
        elif args.rule_action == "list":
            print("id,name,kind,min_intensity,areas,template,offices_only,suppress,delay,drills")
            for rule in await rules.list_rules():
                print(
                    f"{rule.id},{rule.name},{rule.kind.value},"
                    f"{intensity_label(rule.min_intensity) if rule.min_intensity else ''},"
                    f"{' '.join(rule.areas)},{rule.template.key if rule.template else '-'},"
                    f"{int(rule.offices_only)},{rule.suppress_minutes},{rule.delay_minutes},"
                    f"{int(rule.drills)}"
                )
        elif args.rule_action == "delete":
            rule = await rules.find_rule(args.rule)
            await rules.delete_rule(Actor.cli(), rule.id)
            print(f"rule {rule.id} deleted: {rule.name}")
        else:
            rule = await rules.find_rule(args.rule)
            try:
                result = await events.test_rule(rule, data, show=1000)
            except BulletinRefused as exc:
                raise cli.CommandError(f"refused: {exc.message}") from None
            print(("fires: " if result.fires else "does not fire: ") + result.text)
            for employee in result.employees:
                print(f"  {employee}")

    await cli._with_database(config, work)


async def replay(config: Config, data: bytes) -> None:
    """One bulletin through the poller's path; deliver what it started and tell the admin
    groups, then print what it did."""
    from bot.jma_watch import push_notices

    try:
        outcome = await events.handle_bulletin(data)
    except BulletinRefused as exc:
        raise cli.CommandError(f"refused: {exc.message}") from None
    print(said(outcome))
    async with resources.line_api(config) as line:
        for started in outcome.started:
            await cli._deliver_now(config, started.alert.id, 0)
        told = await push_notices(line)
    if told:
        print(f"  admin groups told: {told}")


def said(outcome: events.Outcome) -> str:
    """What a replayed bulletin did: a word for scripts, then the Japanese line."""
    if outcome.did is events.Did.STARTED:
        return f"started alert {outcome.alert_id}: {outcome.text}"
    return f"{outcome.did.value}: {outcome.text}"


async def departments(config: Config, args: argparse.Namespace) -> None:
    """Import or export each department's prefecture."""
    data = cli._read_file(args.file) if args.action == "import" else b""

    async def work() -> None:
        if args.action == "export":
            output = await offices.export_csv()
            await asyncio.to_thread(cli._write_output, args.file, output)
            return
        count = await offices.import_csv(Actor.cli(), data)
        print(f"prefectures set for {count} department(s)")

    await cli._with_database(config, work)
