"""The command line: `python -m bot serve|worker|migrate|send|remind|tally|close|registration-codes|
employees|user|admin-group|richmenu|backup|demo`. Each command parses its arguments, calls domain
functions and prints the result. The LINE SDK and the web server are imported only by the
commands that use them, so `tally` and `migrate` start fast."""

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from bot import resources
from bot.config import (
    SERVE_REQUIRED,
    WORKER_REQUIRED,
    Config,
    ConfigError,
    require_https_line_hosts,
)
from bot.logs import setup_logging
from domain import alerts, linking, organization
from domain.actors import Actor
from domain.alerts import DEFAULT_SENDER
from domain.errors import DomainError, NotFound
from models.db import migrate, pending_migrations
from web.timefmt import jst

log = logging.getLogger(__name__)


class CommandError(Exception):
    """A command cannot go on; the message is one line for the terminal."""


async def require_migrated(config: Config) -> None:
    """Refuse to work on a database the committed migrations have not reached."""
    pending = await pending_migrations(config.database_url)
    if pending:
        raise CommandError(
            f"the database is not migrated ({len(pending)} pending): run `python -m bot migrate`"
        )


async def _with_database(config: Config, work: Callable[[], Awaitable[None]]) -> None:
    """Run `work` on the migrated database, its notifications reaching every process."""
    async with resources.database(config), resources.notifier_bridge(config):
        await require_migrated(config)
        await work()


async def _deliver_now(config: Config, alert_id: int, round_: int) -> None:
    """Run the delivery engine for one alert until nothing is pending, and print the counts
    of the round just started."""
    from domain.delivery_report import delivery_counts

    async with resources.line_api(config) as line:
        await resources.delivery_engine(config, line).run_until_idle(alert_id)
    counts = await delivery_counts(alert_id, round_)
    print("  deliveries " + ", ".join(f"{s.value} {n}" for s, n in counts.items()))


async def send(config: Config, args: argparse.Namespace) -> None:
    """Start an alert from a template and deliver it now."""
    config.require("line_channel_access_token", "liff_id")

    async def work() -> None:
        template = await alerts.find_template(args.template)
        departments = await alerts.find_departments(args.department or [])
        started = await alerts.start_alert(
            Actor.cli(),
            template,
            drill=args.drill,
            sender_name=args.sender,
            departments=departments,
        )
        alert = started.alert
        print(f"alert {alert.id} started: {'訓練' if alert.drill else '本番'} {alert.title}")
        print(
            f"  recipients {started.recipients}, by LINE {started.line_deliveries}, "
            f"not reachable by LINE {started.unreachable}"
        )
        await _deliver_now(config, alert.id, 0)

    await _with_database(config, work)


async def remind(config: Config, args: argparse.Namespace) -> None:
    """Remind everyone who has not answered (a new delivery round) and deliver it now."""
    config.require("line_channel_access_token", "liff_id")

    async def work() -> None:
        reminder = await alerts.remind_unanswered(
            Actor.cli(), args.alert, message=args.message or "", sender_name=args.sender
        )
        if not reminder.round:
            print(
                f"alert {args.alert}: nobody to remind "
                f"({reminder.unanswered} not answered); nothing sent"
            )
            return
        print(
            f"alert {args.alert} reminder {reminder.round}: {reminder.unanswered} not answered, "
            f"by LINE {reminder.line_deliveries}, by e-mail {reminder.email_recipients} "
            f"({reminder.email_deliveries} addresses; sent by the e-mail worker)"
        )
        if reminder.line_deliveries:
            await _deliver_now(config, args.alert, reminder.round)

    await _with_database(config, work)


async def show_tally(config: Config, args: argparse.Namespace) -> None:
    """Print an alert's tally."""
    from domain.tally import tally

    async def work() -> None:
        result = await tally(args.alert)
        print(f"alert {result.alert_id}: {result.shown_title}")
        print(f"  回答済 {result.answered} / {result.total}  未回答 {result.unanswered}")
        for item in result.items:
            counts = result.choice_counts[item.label]
            print(f"  {item.label}: " + "  ".join(f"{c} {n}" for c, n in counts.items()))
        for dept in result.departments:
            print(f"  {dept.name}: 回答済 {dept.answered} / {dept.total}")

    await _with_database(config, work)


async def close(config: Config, args: argparse.Namespace) -> None:
    """Stop accepting answers for an alert."""

    async def work() -> None:
        alert = await alerts.close_alert(Actor.cli(), args.alert)
        print(f"alert {alert.id} closed at {jst(alert.closed_at)}")

    await _with_database(config, work)


async def registration_codes(config: Config, args: argparse.Namespace) -> None:
    """Issue one-time registration codes and print them (they are stored only hashed)."""
    from domain.actors import Actor

    async def work() -> None:
        if args.employee:
            employees = []
            for code in args.employee:
                employee = await organization.active_employee(code)
                if employee is None:
                    raise CommandError(f"no active employee with code {code!r}")
                employees.append(employee)
        elif args.all_unlinked:
            employees = await organization.unlinked_employees()
        else:
            raise CommandError("name employee codes, or pass --all-unlinked")
        target = ",".join(args.employee) if args.employee else "all-unlinked"
        codes = await linking.issue_codes(
            employees, timedelta(days=args.ttl_days), Actor.cli(), target=target[:200]
        )
        print("employee_code,name,registration_code,expires_at")
        for issued in codes:
            print(
                f"{issued.employee_code},{issued.employee_name},{issued.code},"
                f"{jst(issued.expires_at)}"
            )

    if args.ttl_days < 1:
        raise CommandError("--ttl-days must be at least 1")
    await _with_database(config, work)


async def serve(config: Config) -> None:
    """Run the server until SIGINT or SIGTERM; stop within seconds."""
    config.require(*SERVE_REQUIRED)
    require_https_line_hosts(config)
    async with resources.database(config):
        await require_migrated(config)
    from aiohttp import web

    from bot.access_log import PathOnlyAccessLogger
    from bot.app import create_app
    from bot.lifecycle import (
        freeze_startup_heap,
        make_runner,
        stop_runners,
        wait_for_stop_signal,
    )

    runner = make_runner(create_app(config), access_log_class=PathOnlyAccessLogger)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, port=config.port).start()
        except OSError as exc:
            raise CommandError(f"cannot listen on port {config.port}: {exc.strerror}") from None
        freeze_startup_heap()
        print(f"serving on {config.public_base_url} (port {config.port})", flush=True)
        await wait_for_stop_signal()
        print("stopping", flush=True)
    finally:
        await stop_runners(runner)


async def worker(config: Config) -> None:
    """Run the background workers `WORKERS` names, without the web face, until SIGINT or
    SIGTERM (on PostgreSQL, beside `serve` and other workers: they share the work)."""
    config.require(*WORKER_REQUIRED)
    require_https_line_hosts(config)
    if not config.workers:
        raise CommandError("WORKERS is none: a worker process would have nothing to do")
    async with resources.database(config):
        await require_migrated(config)
    from bot.access_log import PathOnlyAccessLogger
    from bot.app import create_worker_app
    from bot.keys import WORKERS
    from bot.lifecycle import (
        freeze_startup_heap,
        make_runner,
        stop_runners,
        wait_for_stop_signal,
    )

    # No public site: the runner starts and stops the app's resources and workers, and only
    # where WORKER_PORT is set serves the probes and metrics there.
    app = create_worker_app(config)
    runner = make_runner(app, access_log_class=PathOnlyAccessLogger)
    await runner.setup()
    try:
        if config.worker_port:
            from aiohttp import web

            try:
                await web.TCPSite(runner, port=config.worker_port).start()
            except OSError as exc:
                raise CommandError(
                    f"cannot listen on port {config.worker_port}: {exc.strerror}"
                ) from None
            print(f"probes and metrics on port {config.worker_port}", flush=True)
        freeze_startup_heap()
        # The names of those that run (the e-mail workers only where SMTP_URL is set).
        print(f"workers running: {', '.join(w.name for w in app[WORKERS])}", flush=True)
        await wait_for_stop_signal()
        print("stopping", flush=True)
    finally:
        await stop_runners(runner)


async def backup(config: Config, args: argparse.Namespace) -> None:
    """Copy the SQLite database while the server runs (PostgreSQL: pg_dump, says how)."""
    from bot.backup import BackupRefused, backup_sqlite
    from domain.housekeeping import record_backup

    try:
        pages = await asyncio.to_thread(backup_sqlite, config.database_url, args.path)
    except BackupRefused as exc:
        raise CommandError(str(exc)) from None
    async with resources.database(config):
        await record_backup(Actor.cli(), args.path, pages)
    print(f"backed up {pages} pages to {args.path}")


def _read_password(args: argparse.Namespace) -> str:
    """The new password: from standard input with --password-stdin, else asked twice."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("パスワード: ")
    if first != getpass.getpass("パスワード(確認): "):
        raise CommandError("the two passwords differ")
    return first


async def user(config: Config, args: argparse.Namespace) -> None:
    """Manage console users: add, passwd, disable."""
    from domain import console_users
    from domain.actors import Actor
    from models import ConsoleRole

    password = _read_password(args) if args.action in ("add", "passwd") else ""

    async def work() -> None:
        if args.action == "add":
            departments = await alerts.find_departments(args.department or [])
            added = await console_users.add_user(
                args.login,
                args.name or args.login,
                password,
                ConsoleRole(args.role),
                departments,
                Actor.cli(),
            )
            print(f"user {added.login} added ({added.role.value})")
        elif args.action == "passwd":
            await console_users.set_password(args.login, password, Actor.cli())
            print(f"password of {args.login} changed; their open sessions ended")
        else:
            await console_users.disable_user(args.login, Actor.cli())
            print(f"user {args.login} disabled; their open sessions ended")

    await _with_database(config, work)


def _read_file(path: str) -> bytes:
    """A file's bytes, or a one-line error."""
    try:
        with open(path, "rb") as source:
            return source.read()
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None


def _write_output(path: str | None, data: bytes) -> None:
    """Write to the file, or to standard output when none (or `-`) is named."""
    if path and path != "-":
        with open(path, "wb") as target:
            target.write(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


async def employees(config: Config, args: argparse.Namespace) -> None:
    """Import or export the organisation as CSV (the console's format and validation)."""
    from os.path import basename

    from domain import employees as staff
    from domain.actors import Actor

    data = _read_file(args.file) if args.action == "import" else b""

    def mass_deactivation(summary: staff.ImportSummary) -> str:
        return (
            f"this would deactivate {summary.deactivated} of {summary.active_before} active"
            f" employees; to do it, run again with --confirm-deactivate {summary.deactivated}"
        )

    async def work() -> None:
        if args.action == "export":
            exported = await staff.export_csv(actor=Actor.cli(), target=args.file or "-")
            await asyncio.to_thread(_write_output, args.file, exported)
            return
        try:
            if args.dry_run:
                summary = await staff.preview_import(
                    data, deactivate_missing=args.deactivate_missing
                )
            else:
                summary = await staff.import_employees(
                    data,
                    actor=Actor.cli(),
                    target=basename(args.file),
                    deactivate_missing=args.deactivate_missing,
                    confirm_deactivate=args.confirm_deactivate,
                )
            errors = summary.errors
        except staff.ImportInvalid as exc:
            errors = exc.errors
        except staff.MassDeactivation as exc:
            raise CommandError(mass_deactivation(exc.summary)) from None
        if errors:
            for error in errors:
                print(error, file=sys.stderr)
            raise CommandError(f"{len(errors)} error(s) in {args.file}; nothing imported")
        counts = (
            f"new {summary.new}, updated {summary.updated}, unchanged {summary.unchanged}, "
            f"deactivated {summary.deactivated}"
        )
        if summary.prefectures:
            counts += f", department prefectures set {len(summary.prefectures)}"
        if args.dry_run:
            print(f"dry run (nothing written): {counts}")
            if summary.needs_confirmation:
                print(mass_deactivation(summary))
            return
        print(f"imported: {counts}")

    await _with_database(config, work)


async def admin_group(config: Config, args: argparse.Namespace) -> None:
    """Admin groups: issue a one-time bind code (shown once), list bound groups, unbind one."""
    from domain import admin_groups

    async def work() -> None:
        if args.action == "code":
            ttl = timedelta(minutes=args.ttl_minutes)
            issued = await admin_groups.issue_bind_code(Actor.cli(), ttl)
            print(f"bind code {issued.code} (valid until {jst(issued.expires_at)}, once)")
            print(f"  in the LINE group, a sender (発信権限者) posts: /bind {issued.code}")
        elif args.action == "list":
            groups = await admin_groups.bound_groups()
            print("group_id,bound_by,bound_at")
            for group in groups:
                print(f"{group.group_id},{group.bound_by},{jst(group.bound_at)}")
        else:
            await _unbind(config, args.group_id)

    if args.action == "code" and not 1 <= args.ttl_minutes <= 7 * 24 * 60:
        raise CommandError("--ttl-minutes must be between 1 and 10080")
    await _with_database(config, work)


async def _unbind(config: Config, group_id: str) -> None:
    """Unbind an admin group; with a channel access token the bot also leaves it."""
    from domain import admin_groups

    async with contextlib.AsyncExitStack() as stack:
        line = None
        if config.line_channel_access_token:
            line = await stack.enter_async_context(resources.line_api(config))
        try:
            left = await admin_groups.unbind_group(Actor.cli(), group_id, leaver=line)
        except NotFound:
            raise CommandError(f"no admin group {group_id!r}") from None
    if left:
        print(f"group {group_id} unbound; the bot left the group")
    elif line is None:
        print(f"group {group_id} unbound (no LINE_CHANNEL_ACCESS_TOKEN: remove the bot in LINE)")
    else:
        print(f"group {group_id} unbound, but LINE refused to let the bot leave: remove it in LINE")


async def richmenu(config: Config, args: argparse.Namespace) -> None:
    """Rich menus: `sync` makes LINE show the menus of bot/richmenu_spec.py (idempotent)."""
    config.require("line_channel_access_token")
    require_https_line_hosts(config)
    from bot.richmenus import RichMenuSyncError, sync

    async def work() -> None:
        async with resources.line_api(config) as line:
            try:
                report = await sync(line)
            except RichMenuSyncError as exc:
                raise CommandError(str(exc)) from None
        for line_text in report.lines():
            print(line_text)

    await _with_database(config, work)


def alert_number(raw: str) -> int:
    """An alert number as typed: a positive whole number."""
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise argparse.ArgumentTypeError(f"not an alert number: {raw!r}")
    return int(raw)


def build_parser() -> argparse.ArgumentParser:
    from bot import jma_cli

    """The argument parser for every command."""
    parser = argparse.ArgumentParser(prog="python -m bot", description="Anpi server")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the server")
    sub.add_parser("worker", help="run the background workers only (no web server)")
    sub.add_parser("migrate", help="apply the database migrations")
    p = sub.add_parser("send", help="start an alert and deliver it")
    p.add_argument("--template", default="earthquake", help="template key or ID")
    p.add_argument("--drill", action="store_true", help="a drill (訓練), not a real alert")
    p.add_argument("--department", action="append", help="target department (name or ID)")
    p.add_argument("--sender", default=DEFAULT_SENDER, help="連絡者 shown to employees")
    p = sub.add_parser("remind", help="remind everyone who has not answered an alert")
    p.add_argument("alert", type=alert_number)
    p.add_argument("--message", help="follow-up message (二次連絡)")
    p.add_argument("--sender", default=DEFAULT_SENDER, help="連絡者 shown to employees")
    p = sub.add_parser("tally", help="print an alert's tally")
    p.add_argument("alert", type=alert_number)
    p = sub.add_parser("close", help="close an alert (no more answers)")
    p.add_argument("alert", type=alert_number)
    p = sub.add_parser("registration-codes", help="issue one-time registration codes")
    p.add_argument("employee", nargs="*", help="employee codes")
    p.add_argument("--all-unlinked", action="store_true", help="every employee without LINE")
    p.add_argument("--ttl-days", type=int, default=14)
    p = sub.add_parser("user", help="manage console users (add, passwd, disable)")
    p.add_argument("action", choices=["add", "passwd", "disable"])
    p.add_argument("login")
    p.add_argument("--name", help="name shown in the console")
    p.add_argument("--role", choices=["supervisor", "sender", "maintainer"], default="supervisor")
    p.add_argument(
        "--department",
        action="append",
        help="department the user sees, name or ID (a supervisor needs one; limits a sender)",
    )
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p = sub.add_parser("employees", help="import or export employees as CSV")
    actions = p.add_subparsers(dest="action", required=True)
    q = actions.add_parser("import", help="import a CSV (UTF-8 or Shift_JIS)")
    q.add_argument("file")
    q.add_argument(
        "--deactivate-missing", action="store_true", help="deactivate employees not in the file"
    )
    q.add_argument(
        "--confirm-deactivate", type=int, metavar="N",
        help="confirm deactivating N employees (asked when more than 10%% and 5 people)",
    )  # fmt: skip
    q.add_argument("--dry-run", action="store_true", help="check and count; write nothing")
    q = actions.add_parser("export", help="write every employee as CSV (UTF-8 with BOM)")
    q.add_argument("file", nargs="?", help="output file (default: standard output)")
    p = sub.add_parser("admin-group", help="admin groups: bind codes, list, unbind")
    actions = p.add_subparsers(dest="action", required=True)
    q = actions.add_parser("code", help="issue a one-time bind code (shown once)")
    q.add_argument("--ttl-minutes", type=int, default=60, help="how long it works (default 60)")
    actions.add_parser("list", help="list the bound admin groups")
    q = actions.add_parser("unbind", help="unbind an admin group")
    q.add_argument("group_id")
    p = sub.add_parser("richmenu", help="rich menus: sync them to LINE")
    p.add_argument("action", choices=["sync"], help="create or update the menus (idempotent)")
    p = sub.add_parser("backup", help="copy the SQLite database, online (PostgreSQL: pg_dump)")
    p.add_argument("path", help="the new file to write")
    jma_cli.add_parsers(sub)  # jma rule|replay, jma-watch, departments
    p = sub.add_parser("demo", help="run the bot, the local LINE platform and a demo company")
    p.add_argument("--port", type=int, default=None, help="bot port (simulator uses port+1)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; another address lets anyone who "
        "reaches it act as any employee through the local LINE platform)",
    )
    p.add_argument(
        "--reset", action="store_true", help="start over: forget what .demo/ kept of earlier runs"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; print a one-line error and return 2 when it cannot go on."""
    args = build_parser().parse_args(argv)
    setup_logging()  # plain until the configuration says otherwise
    try:
        config = Config.from_env()
        setup_logging(config.log_format)
        if args.command == "demo":
            from bot.demo import SIMULATOR_MISSING, DemoStateError, run_demo, simulator_available

            if not simulator_available():
                raise CommandError(SIMULATOR_MISSING)
            try:
                asyncio.run(run_demo(config, args.port, args.host, reset=args.reset))
            except DemoStateError as exc:
                raise CommandError(str(exc)) from exc
            return 0
        from bot import jma_cli

        commands = {
            "serve": lambda: serve(config),
            "worker": lambda: worker(config),
            "migrate": lambda: migrate(config.database_url),
            "send": lambda: send(config, args),
            "remind": lambda: remind(config, args),
            "tally": lambda: show_tally(config, args),
            "close": lambda: close(config, args),
            "registration-codes": lambda: registration_codes(config, args),
            "user": lambda: user(config, args),
            "employees": lambda: employees(config, args),
            "admin-group": lambda: admin_group(config, args),
            "richmenu": lambda: richmenu(config, args),
            "backup": lambda: backup(config, args),
            **jma_cli.commands(config, args),
        }
        asyncio.run(commands[args.command]())
    except (ConfigError, CommandError, DomainError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Ctrl-C before the servers were up: still a clean stop for serve, worker and demo.
        return 0 if args.command in ("serve", "worker", "demo") else 130
    return 0
