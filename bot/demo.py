"""`python -m bot demo`: the bot, the local LINE platform and a demo company on SQLite, in one
process, with a drill already sent. The only module besides the tests that starts the
simulator; the product code talks to it over HTTP exactly as it would to LINE."""

import asyncio
import contextlib
import email
import email.policy
import importlib.util
import logging
import re
import secrets
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web

from bot.access_log import PathOnlyAccessLogger
from bot.app import create_app
from bot.config import Config, demo_secret_key, is_loopback
from bot.lifecycle import make_runner, stop_runners, wait_for_stop_signal
from bot.line_api import LineApi
from bot.messages import alert_url
from bot.richmenus import sync as sync_rich_menus
from domain.actors import Actor
from domain.alerts import StartedAlert, find_departments, find_template, start_alert
from domain.console_users import add_user
from domain.linking import (
    IssuedCode,
    attach_line_account,
    issue_registration_code,
    record_link_token,
)
from domain.organization import add_department, add_employee
from models import ConsoleRole, Department, Employee
from models.db import close_database, migrate

DEMO_DIR = Path(".demo")
DEMO_DATABASE = f"sqlite://{DEMO_DIR}/anpi-demo.sqlite3"
DEMO_CHANNEL_SECRET = "demo-channel-secret"
DEMO_ACCESS_TOKEN = "demo-channel-access-token"
DEMO_LOGIN_CHANNEL_ID = "2000000000"
DEMO_LOGIN_CHANNEL_SECRET = "demo-login-channel-secret"
DEMO_LIFF_ID = "2000000000-DemoAnpi"
# The local LINE platform lets whoever reaches it act as any employee: this machine only,
# unless `--host` opens it deliberately.
DEMO_HOST = "127.0.0.1"
SIMULATOR_MISSING = (
    "the demo needs the local LINE platform (line_simulator), which ships with the source "
    "tree, not the installed package: run `make demo` in a checkout"
)

# (department, parent) and its people: (employee code, name, LINE display name or None).
DEPARTMENTS = [
    ("本社", None),
    ("総務部", "本社"),
    ("営業部", "本社"),
    ("開発部", "本社"),
    ("大阪支店", None),
]
PEOPLE = {
    "総務部": ["山田 太郎", "佐藤 花子", "鈴木 一郎", "高橋 美咲", "田中 健太", "伊藤 さくら"],
    "営業部": ["渡辺 翔", "山本 愛", "中村 大輔", "小林 結衣", "加藤 拓也", "吉田 陽菜"],
    "開発部": ["山口 蓮", "松本 葵", "井上 悠斗", "木村 凛", "林 颯太", "斎藤 芽依"],
    "大阪支店": [
        "清水 湊",
        "山崎 結菜",
        "森 大翔",
        "池田 莉子",
        "橋本 陸",
        "阿部 美月",
        "石川 海斗",
        "前田 心春",
        "藤田 樹",
        "小川 杏",
        "岡田 悠真",
        "長谷川 紬",
    ],
}
UNLINKED = 4  # the last few employees have no LINE yet (the very last: e-mail only, for good)


async def seed_company(sim) -> tuple[list[tuple[Employee, str]], list[Employee]]:
    """Create the demo organisation; return (linked employees with LINE IDs, unlinked ones)."""
    departments: dict[str, Department] = {}
    for name, parent in DEPARTMENTS:
        departments[name] = await add_department(name, departments.get(parent or ""))
    employees: list[Employee] = []
    number = 1
    for dept_name, names in PEOPLE.items():
        for name in names:
            employees.append(
                await add_employee(
                    f"E{number:03d}", name, departments[dept_name], f"e{number:03d}@example.com"
                )
            )
            number += 1
    linked, unlinked = employees[:-UNLINKED], employees[-UNLINKED:]
    pairs = []
    for employee in linked:
        user = sim.add_user(employee.name.split(" ")[1])  # a LINE name people actually use
        user.friend = True
        await attach_line_account(employee, user.user_id, user.display_name)
        pairs.append((employee, user.user_id))
    return pairs, unlinked


DEMO_ADMIN_GROUP = "防災対策本部"


async def seed_admin_group(sim, senders: list[tuple[Employee, str]]) -> str:
    """The admin group 「防災対策本部」: these employees made senders (発信権限者) and its
    members, the bot invited, and the group bound by the first of them posting a one-time
    code, as people do it. Return the group ID."""
    from domain.admin_groups import issue_bind_code
    from models import EmployeeRole

    await Employee.filter(id__in=[e.id for e, _ in senders]).update(role=EmployeeRole.SENDER)
    group = sim.groups.create(DEMO_ADMIN_GROUP, [user_id for _, user_id in senders])
    await sim.groups.invite_bot(group.group_id)
    issued = await issue_bind_code(Actor.cli())
    await sim.groups.text(group.group_id, senders[0][1], f"/bind {issued.code}")
    return group.group_id


DEMO_JMA_RULE = "岩手県で震度4以上"
DEMO_JMA_POLL = 5.0  # the demo's feed is local: asked every 5 s, not JMA's once a minute


async def seed_jma_rule() -> None:
    """A JMA rule the local feed's sample earthquake (岩手県 震度4) meets."""
    from domain.actors import Actor
    from domain.jma import rules

    draft = rules.RuleDraft(name=DEMO_JMA_RULE, min_intensity="4", areas=("岩手県",))
    await rules.add_rule(Actor.system(), draft)


def simulator_available() -> bool:
    """Whether the local LINE platform can be imported (a source checkout, not a wheel)."""
    return importlib.util.find_spec("line_simulator") is not None


def _url_host(host: str) -> str:
    """The host to print in URLs for a listen address (a wildcard is reached as localhost)."""
    if host in ("0.0.0.0", "::", ""):
        return "localhost"
    return f"[{host}]" if ":" in host else host


DEMO_MAINTAINER = "admin"
DEMO_SUPERVISOR = "soumu"


async def seed_console_users(department_id: int | None) -> str:
    """A maintainer and a supervisor of one department; return their (fresh) password."""
    password = f"demo-{secrets.token_hex(4)}"
    departments = await find_departments([str(department_id)]) if department_id else []
    seed = Actor.system()
    await add_user(DEMO_MAINTAINER, "管理者", password, ConsoleRole.MAINTAINER, [], seed)
    await add_user(DEMO_SUPERVISOR, "総務部長", password, ConsoleRole.SUPERVISOR, departments, seed)
    return password


DEMO_MAIL_DIR = DEMO_DIR / "mail"
MAIL_LINK = re.compile(r"https?://\S+/liff/answer/\S+")


class MailSink:
    """The demo's SMTP server side (an aiosmtpd handler): every e-mail the bot sends is written
    to `folder` as an .eml file and, for reading, a .txt file of its text part."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        self.texts: dict[str, list[str]] = {}  # address: the text of each e-mail it received
        self.arrived = asyncio.Event()

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's hook
        """Keep one received e-mail."""
        self.count += 1
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        stem = self.folder / f"{self.count:04d}"
        header = f"To: {', '.join(envelope.rcpt_tos)}\nSubject: {message['Subject']}\n\n"
        await asyncio.to_thread(stem.with_suffix(".eml").write_bytes, envelope.content)
        await asyncio.to_thread(stem.with_suffix(".txt").write_text, header + text, "utf-8")
        for address in envelope.rcpt_tos:
            self.texts.setdefault(address.lower(), []).append(text)
        self.arrived.set()
        return "250 Message accepted for delivery"

    async def link_for(self, address: str, within: float = 10.0) -> str | None:
        """The answer link of the first e-mail to `address`, once it has arrived."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not self.texts.get(address.lower()):
            self.arrived.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                async with asyncio.timeout(remaining):
                    await self.arrived.wait()
            except TimeoutError:
                return None
        found = MAIL_LINK.search(self.texts[address.lower()][0])
        return found.group(0) if found else None


async def start_mail_sink(host: str, port: int) -> tuple[MailSink, asyncio.Server]:
    """An SMTP server on `host:port` that writes what it receives to .demo/mail/."""
    from aiosmtpd.smtp import SMTP  # a development tool, like the local LINE platform

    # aiosmtpd logs every SMTP command (addresses included) at INFO: keep the demo readable.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    DEMO_MAIL_DIR.mkdir(parents=True, exist_ok=True)
    sink = MailSink(DEMO_MAIL_DIR)
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(sink, hostname="anpi-demo-mail"), host, port
    )
    return sink, server


async def email_the_earthquake_template() -> None:
    """The demo's earthquake template also sends e-mail: LINE first, e-mail to those LINE
    cannot reach at once and to the silent after its delay."""
    from models import EmailMode, Template

    await Template.filter(key="earthquake").update(
        email_enabled=True, email_mode=EmailMode.FALLBACK
    )


def reset_demo_dir() -> None:
    """Start every demo from an empty database."""
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    DEMO_DIR.mkdir()


@dataclass(frozen=True)
class DemoUrls:
    """Where the demo's three servers listen and how people reach them."""

    host: str
    port: int
    sim_port: int
    mail_port: int
    bot: str
    sim: str


def demo_urls(port: int, host: str) -> DemoUrls:
    """The bot on `port`, the local LINE platform on the next, the SMTP sink on the one after."""
    url_host = _url_host(host)
    return DemoUrls(
        host, port, port + 1, port + 2, f"http://{url_host}:{port}", f"http://{url_host}:{port + 1}"
    )


def demo_config(base: Config, urls: DemoUrls) -> Config:
    """The product's config pointed at the local LINE platform, mail sink and JMA feed."""
    return replace(
        base,
        database_url=DEMO_DATABASE,
        line_channel_secret=DEMO_CHANNEL_SECRET,
        line_channel_access_token=DEMO_ACCESS_TOKEN,
        line_login_channel_id=DEMO_LOGIN_CHANNEL_ID,
        line_login_channel_secret=DEMO_LOGIN_CHANNEL_SECRET,
        liff_id=DEMO_LIFF_ID,
        public_base_url=urls.bot,
        secret_key=base.secret_key or demo_secret_key(),
        port=urls.port,
        smtp_url=f"smtp://127.0.0.1:{urls.mail_port}",
        jma_feed_url=f"{urls.sim}/_jma/feed.xml",  # the local JMA feed, never JMA's
        jma_poll_seconds=DEMO_JMA_POLL,
    ).on_line_host(urls.sim)


def demo_simulator(urls: DemoUrls):
    """The local LINE platform playing the demo's channels, with a local JMA feed."""
    from line_simulator import Simulator, SimulatorConfig
    from line_simulator.jma_feed import JmaFeed

    sim = Simulator(
        SimulatorConfig(
            channel_secret=DEMO_CHANNEL_SECRET,
            channel_access_token=DEMO_ACCESS_TOKEN,
            login_channel_id=DEMO_LOGIN_CHANNEL_ID,
            login_channel_secret=DEMO_LOGIN_CHANNEL_SECRET,
            login_redirect_uris=[f"{urls.bot}/me/line/callback"],
            webhook_url=f"{urls.bot}/callback",
            liff_apps={DEMO_LIFF_ID: f"{urls.bot}/liff/"},
            public_base_url=urls.sim,
        )
    )
    sim.app.add_subapp("/_jma", JmaFeed().app)
    return sim


@contextlib.asynccontextmanager
async def demo_servers(config: Config, sim, urls: DemoUrls) -> AsyncIterator[MailSink]:
    """The mail sink, the local LINE platform and the bot listening; all stopped on exit (the
    bot's cleanup context opens the database for this process)."""
    sim_runner = make_runner(sim.app, access_log_class=PathOnlyAccessLogger)
    bot_runner = make_runner(create_app(config), access_log_class=PathOnlyAccessLogger)
    mail_server = None
    try:
        sink, mail_server = await start_mail_sink("127.0.0.1", urls.mail_port)
        await sim_runner.setup()
        await web.TCPSite(sim_runner, urls.host, urls.sim_port).start()
        await bot_runner.setup()
        await web.TCPSite(bot_runner, urls.host, urls.port).start()
        yield sink
    finally:
        await stop_runners(bot_runner, sim_runner)
        if mail_server is not None:
            mail_server.close()
        await close_database()


@dataclass(frozen=True)
class DemoSeed:
    """What the demo made, for the banner."""

    started: StartedAlert
    linked: list[tuple[Employee, str]]
    unlinked: list[Employee]
    newcomer_user_id: str
    link_token: str
    issued: IssuedCode
    page_issued: IssuedCode
    console_password: str
    admin_group_id: str
    mail_link: str | None


async def seed_demo(config: Config, sim, sink: MailSink) -> DemoSeed:
    """The demo company, its rich menus, admin group, console users, JMA rule, and a drill."""
    newcomer = sim.add_user("しんにゅう")
    sim.add_user("はじめて")  # not a friend yet: adds the account on LINE Login's page
    pairs, unlinked = await seed_company(sim)
    # Both rich menus on the local platform: the unlinked one as everyone's default, the
    # linked one bulk-linked to the employees just linked.
    menus = LineApi(config.line_api_base_url, DEMO_ACCESS_TOKEN, config.line_data_api_base_url)
    try:
        await sync_rich_menus(menus)
    finally:
        await menus.close()
    await sim.follow(newcomer.user_id)  # greeted in chat, with the 連携 button
    await email_the_earthquake_template()
    template = await find_template("earthquake")
    started = await start_alert(Actor.cli(), template, drill=True, sender_name="総務部 防災担当")
    issued = await issue_registration_code(unlinked[0])
    page_issued = await issue_registration_code(unlinked[1])
    console_password = await seed_console_users(pairs[0][0].department_id)
    admin_group_id = await seed_admin_group(sim, [pairs[0], pairs[6]])
    await seed_jma_rule()
    line = LineApi(config.line_api_base_url, DEMO_ACCESS_TOKEN)
    try:
        link_token = await line.issue_link_token(newcomer.user_id)
        await record_link_token(newcomer.user_id, link_token)
    finally:
        await line.close()
    mail_link = await sink.link_for(unlinked[-1].email or "")
    return DemoSeed(
        started, pairs, unlinked, newcomer.user_id, link_token, issued, page_issued,
        console_password, admin_group_id, mail_link,
    )  # fmt: skip


def banner(config: Config, urls: DemoUrls, seed: DemoSeed) -> str:
    """What to open, printed once everything is up."""
    started, unlinked, sim_url, bot_url = seed.started, seed.unlinked, urls.sim, urls.bot
    employee, user_id = seed.linked[0]
    answer_url = alert_url(config.liff_url, started.alert.id)
    open_as = f"{sim_url}/_sim/open?{urlencode({'user': user_id, 'url': answer_url})}"
    link_url = f"{bot_url}/link?{urlencode({'linkToken': seed.link_token})}"
    mail_only = unlinked[-1]
    issued, page_issued = seed.issued, seed.page_issued
    return f"""
Anpi demo is running (Ctrl-C to stop). A drill (訓練) was sent to {started.recipients} employees:
{started.line_deliveries} by LINE, {started.unreachable} not linked yet.

  Local LINE (chat for every user):  {sim_url}/
  Answer the drill as {employee.name} ({employee.code}):
      {open_as}
  Link LINE for {unlinked[0].name}: open the link page below (as the LINE user 「しんにゅう」)
  and sign in with employee code {issued.employee_code} and registration code {issued.code}:
      {link_url}
    (or open {sim_url}/_sim/chat/{seed.newcomer_user_id} and send 「連携」)
  Employee page (the printed sheet's way): open {bot_url}/me/ and sign in as
  {page_issued.employee_code} ({unlinked[1].name}) with code {page_issued.code}; then LINEアプリ →
  LINE ID連携 → choose the LINE user 「はじめて」 with 友だち追加 ticked.
  Admin group 「{DEMO_ADMIN_GROUP}」 (senders {seed.linked[0][0].name} and {seed.linked[6][0].name};
  post /help, 訓練, /status …):  {sim_url}/_sim/group/{seed.admin_group_id}
  E-mail: a local SMTP server (127.0.0.1:{urls.mail_port}) keeps every e-mail the bot sends in
  {DEMO_MAIL_DIR}/ (.txt to read, .eml as sent). Answer the drill by e-mail as {mail_only.name}
  ({mail_only.code}, e-mail only, {mail_only.email}):
      {seed.mail_link or f"the link in the e-mail to {mail_only.email} in {DEMO_MAIL_DIR}/"}
  Tally:  DATABASE_URL={DEMO_DATABASE} {Path(".venv/bin/python")} -m bot tally {started.alert.id}
  Console (watch the tally fill up):  {bot_url}/console/
      sign in as {DEMO_MAINTAINER} (メンテナンス担当者, everything) or {DEMO_SUPERVISOR}
      (集計権限者 of 総務部 only), password {seed.console_password}
  An earthquake arriving: press a button on the local JMA feed, {sim_url}/_jma/ ; within
  {DEMO_JMA_POLL:g} s the rule 「{DEMO_JMA_RULE}」 starts an alert and tells the admin group
  (rules and bulletins: {bot_url}/console/jma).
"""


async def run_demo(base: Config, port: int | None = None, host: str = DEMO_HOST) -> None:
    """Start everything on `host`, print what to open, and run until interrupted."""
    urls = demo_urls(port or base.port, host)
    reset_demo_dir()
    config = demo_config(base, urls)
    sim = demo_simulator(urls)
    await migrate(config.database_url)
    async with demo_servers(config, sim, urls) as sink:
        seed = await seed_demo(config, sim, sink)
        print(banner(config, urls, seed), flush=True)
        if not is_loopback(host):
            print(
                f"  Listening on {host}: anyone who reaches it can act as any employee.",
                flush=True,
            )
        await wait_for_stop_signal()
        print("stopping", flush=True)
