"""`python -m bot demo`: the bot, the local LINE platform and a demo company on SQLite, in one
process, with a drill already sent. What it made stays in .demo/ (the database, the local LINE
platform's chats saved as JSON on every stop) and the next start goes on from there;
`--reset` (`make demo-reset`) starts over. The only module besides the tests that starts the
simulator; the product code talks to it over HTTP exactly as it would to LINE."""

import asyncio
import contextlib
import email
import email.policy
import importlib.util
import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web

from bot.access_log import PathOnlyAccessLogger
from bot.app import create_app
from bot.config import Config, demo_secret_key, is_loopback
from bot.lifecycle import freeze_startup_heap, make_runner, stop_runners, wait_for_stop_signal
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
from models import ConsoleRole, Department, Employee, LineAccount
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
    sink.count = len(list(DEMO_MAIL_DIR.glob("*.eml")))  # a resumed demo adds to the earlier
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(sink, hostname="anpi-demo-mail"), host, port
    )
    return sink, server


# The demo's earthquake template in English too, for employees who choose English.
EARTHQUAKE_ENGLISH = {
    "title_en": "[Earthquake] Safety check",
    "message_en": (
        "A strong earthquake (seismic intensity 6+) has struck the Kanto region.\n"
        "Please report your safety status."
    ),
    "items_en": {
        "本人": ("Yourself", ("Safe", "Minor injury", "Serious injury")),
        "家族": ("Family", ("All safe", "Some injured", "Unknown")),
        "家屋": ("Home", ("No damage", "Partly collapsed", "Collapsed")),
        "出社": ("Coming to work", ("Yes", "No", "Not sure")),
    },
}


async def prepare_the_earthquake_template() -> None:
    """The demo's earthquake template also sends e-mail (LINE first, e-mail to those LINE
    cannot reach at once and to the silent after its delay) and speaks English to those who
    chose it."""
    from models import EmailMode, Template

    template = await Template.get(key="earthquake")
    items = []
    for item in template.items:
        label_en, choices_en = EARTHQUAKE_ENGLISH["items_en"].get(item["label"], ("", ()))
        items.append({**item, "label_en": label_en, "choices_en": list(choices_en)})
    await Template.filter(id=template.id).update(
        email_enabled=True,
        email_mode=EmailMode.FALLBACK,
        title_en=EARTHQUAKE_ENGLISH["title_en"],
        message_en=EARTHQUAKE_ENGLISH["message_en"],
        items=items,
    )


def kept_secret_key() -> str:
    """The demo's own secret key: made on its first start and kept in .demo/ (owner-only), so
    what it signed (the e-mailed answer links, console sessions) still holds after Ctrl-C and
    a second `make demo`. `make demo-reset` forgets it with the rest."""
    with contextlib.suppress(FileNotFoundError, UnicodeDecodeError):
        if key := DEMO_SECRET.read_text(encoding="ascii").strip():
            return key
    key = demo_secret_key()  # none kept (or an empty file): a new one
    descriptor = os.open(DEMO_SECRET, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(key)
    return key


def reset_demo_dir() -> None:
    """Start the demo over: an empty .demo/ (database, chats, mail)."""
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
        secret_key=base.secret_key or kept_secret_key(),
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
        freeze_startup_heap()
        yield sink
    finally:
        await stop_runners(bot_runner, sim_runner)
        if mail_server is not None:
            mail_server.close()
        await close_database()


class DemoStateError(Exception):
    """What .demo/ kept cannot be read back."""


DEMO_STATE = DEMO_DIR / "demo.json"  # what the banner prints again on the next start
DEMO_SECRET = DEMO_DIR / "secret_key"  # signs its sessions and links, run after run
DEMO_LINE_STATE = DEMO_DIR / "line.json"  # the local LINE platform's chats, groups, menus
NEWCOMER = "しんにゅう"  # links in chat with the printed code
FIRST_TIMER = "はじめて"  # not a friend yet: links on the employee page with LINE Login


@dataclass
class DemoState:
    """What a demo made that its database does not say and its banner needs: kept in
    .demo/demo.json (the console password in clear: a local demo's log-in, printed anyway)."""

    console_password: str
    admin_group_id: str
    senders: list[str]
    newcomer_user_id: str
    first_timer_user_id: str
    mail_only_code: str
    mail_link: str | None

    def save(self) -> None:
        """Write it to .demo/demo.json."""
        text = json.dumps(asdict(self), ensure_ascii=False, indent=2)
        DEMO_STATE.write_text(text, encoding="utf-8")

    @classmethod
    def load(cls) -> "DemoState | None":
        """The saved state, or None when there is none (or it cannot be read)."""
        try:
            return cls(**json.loads(DEMO_STATE.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None


@dataclass(frozen=True)
class DemoSeed:
    """What the banner prints: the people to try things as, and their one-time codes."""

    state: DemoState
    alert_id: int
    started: StartedAlert | None  # the drill this run sent (a resumed demo sends none)
    alerts: int
    answerer: Employee
    answerer_user_id: str
    link_token: str
    issued: IssuedCode | None  # the employee to link in chat, None once everyone is linked
    page_issued: IssuedCode | None  # the employee to sign in on the employee page
    mail_only: Employee
    newcomer_name: str
    first_timer_name: str


async def _still_unlinked_line_user(sim, user_id: str, name: str, *, follow: bool) -> str:
    """`user_id` while no employee is linked to it, else a new LINE user named like it (made a
    friend and greeted with `follow`), so every start has one to try linking with."""
    if (
        user_id in sim.users
        and not await LineAccount.filter(user_id=user_id, employee_id__isnull=False).exists()
    ):
        return user_id
    user = sim.add_user(f"{name}{len(sim.users) + 1}")
    if follow:
        await sim.follow(user.user_id)
    return user.user_id


async def _people_to_try(state: DemoState) -> tuple[IssuedCode | None, IssuedCode | None]:
    """Fresh one-time codes for the first two employees without LINE (the e-mail-only one
    excepted): one to link in chat, one for the employee page (codes are shown once, so every
    start issues new ones, revoking the earlier unused ones)."""
    unlinked = (
        await Employee.filter(active=True, line_account__isnull=True)
        .exclude(code=state.mail_only_code)
        .order_by("id")
        .limit(2)
    )
    issued = [await issue_registration_code(employee) for employee in unlinked]
    first, second, *_ = [*issued, None, None]
    return first, second


async def people_seed(
    config: Config, sim, state: DemoState, started: StartedAlert | None
) -> DemoSeed:
    """Everything the banner prints, from the database and `state`, fresh codes included; the
    state is updated (and saved) when its LINE users have been linked since."""
    from models import Alert

    state.newcomer_user_id = await _still_unlinked_line_user(
        sim, state.newcomer_user_id, NEWCOMER, follow=True
    )
    state.first_timer_user_id = await _still_unlinked_line_user(
        sim, state.first_timer_user_id, FIRST_TIMER, follow=False
    )
    state.save()
    issued, page_issued = await _people_to_try(state)
    line = LineApi(config.line_api_base_url, DEMO_ACCESS_TOKEN)
    try:
        link_token = await line.issue_link_token(state.newcomer_user_id)
        await record_link_token(state.newcomer_user_id, link_token)
    finally:
        await line.close()
    account = (
        await LineAccount.filter(employee_id__isnull=False)
        .order_by("employee_id")
        .select_related("employee")
        .first()
    )
    latest = await Alert.all().order_by("-id").first()
    return DemoSeed(
        state=state,
        alert_id=latest.id if latest else 0,
        started=started,
        alerts=await Alert.all().count(),
        answerer=account.employee,
        answerer_user_id=account.user_id,
        link_token=link_token,
        issued=issued,
        page_issued=page_issued,
        mail_only=await Employee.get(code=state.mail_only_code),
        newcomer_name=sim.users[state.newcomer_user_id].display_name,
        first_timer_name=sim.users[state.first_timer_user_id].display_name,
    )


async def seed_demo(config: Config, sim, sink: MailSink) -> DemoSeed:
    """The demo company, its rich menus, admin group, console users, JMA rule, and a drill."""
    newcomer = sim.add_user(NEWCOMER)
    first_timer = sim.add_user(FIRST_TIMER)  # not a friend yet: adds the account on LINE Login
    pairs, unlinked = await seed_company(sim)
    # Both rich menus on the local platform: the unlinked one as everyone's default, the
    # linked one bulk-linked to the employees just linked.
    menus = LineApi(config.line_api_base_url, DEMO_ACCESS_TOKEN, config.line_data_api_base_url)
    try:
        await sync_rich_menus(menus)
    finally:
        await menus.close()
    await sim.follow(newcomer.user_id)  # greeted in chat, with the 連携 button
    await prepare_the_earthquake_template()
    template = await find_template("earthquake")
    started = await start_alert(Actor.cli(), template, drill=True, sender_name="総務部 防災担当")
    console_password = await seed_console_users(pairs[0][0].department_id)
    senders = [pairs[0], pairs[6]]
    admin_group_id = await seed_admin_group(sim, senders)
    await seed_jma_rule()
    mail_only = unlinked[-1]
    state = DemoState(
        console_password=console_password,
        admin_group_id=admin_group_id,
        senders=[employee.name for employee, _ in senders],
        newcomer_user_id=newcomer.user_id,
        first_timer_user_id=first_timer.user_id,
        mail_only_code=mail_only.code,
        mail_link=await sink.link_for(mail_only.email or ""),
    )
    return await people_seed(config, sim, state, started)


def banner(config: Config, urls: DemoUrls, seed: DemoSeed) -> str:
    """What to open, in Japanese and English, printed once everything is up."""
    state, sim_url, bot_url = seed.state, urls.sim, urls.bot
    employee = seed.answerer
    answer_url = alert_url(config.liff_url, seed.alert_id)
    open_as = f"{sim_url}/_sim/open?{urlencode({'user': seed.answerer_user_id, 'url': answer_url})}"
    link_url = f"{bot_url}/link?{urlencode({'linkToken': seed.link_token})}"
    newcomer = state.newcomer_user_id
    mail_only = seed.mail_only
    if seed.started is not None:
        s = seed.started
        first = (
            f"訓練を {s.recipients} 名に送信しました (LINE {s.line_deliveries} 名、未連携 "
            f"{s.unreachable} 名)。\n"
            f"A drill (訓練) was sent to {s.recipients} employees: {s.line_deliveries} by LINE, "
            f"{s.unreachable} not linked yet."
        )
    else:
        first = (
            f"{DEMO_DIR}/ のデータで再開しました (これまでの連絡 {seed.alerts} 件)。\n"
            f"Resumed from {DEMO_DIR}/ (alerts so far: {seed.alerts})."
        )
    if seed.issued is not None:
        issued = seed.issued
        link = f"""  LINE 連携: 次のリンクページを LINE ユーザー「{seed.newcomer_name}」として開き、
  社員番号 {issued.employee_code} ({issued.employee_name}) と登録コード {issued.code} でサインイン。
  Link LINE for {issued.employee_name}: open the link page below (as that LINE user) and sign
  in with employee code {issued.employee_code} and registration code {issued.code}:
      {link_url}
    (または / or: {sim_url}/_sim/chat/{newcomer} で「連携」と送信 / send 「連携」)"""
    else:
        link = "  未連携の社員はもういません。 / Every employee has linked LINE."
    if seed.page_issued is not None:
        page = seed.page_issued
        me = f"""  社員ページ (登録コード表の手順): {bot_url}/me/ で
  {page.employee_code} ({page.employee_name}) とコード {page.code} でサインイン → LINEアプリ →
  LINE ID連携 → LINE ユーザー「{seed.first_timer_name}」を選び、友だち追加にチェック。
  Employee page (the printed sheet's way): open {bot_url}/me/ and sign in as
  {page.employee_code} with code {page.code}; then LINEアプリ → LINE ID連携 → choose that LINE
  user with 友だち追加 ticked."""
    else:
        me = f"  社員ページ / Employee page: {bot_url}/me/"
    python = Path(".venv/bin/python")
    mail_link = state.mail_link or f"{DEMO_MAIL_DIR}/ のメール / the e-mail in {DEMO_MAIL_DIR}/"
    senders = " / ".join(state.senders)
    return f"""
Anpi デモが動いています (Ctrl-C で停止。データは {DEMO_DIR}/ に残り、make demo-reset で最初から)。
The Anpi demo is running (Ctrl-C stops it; its data stays in {DEMO_DIR}/, make demo-reset starts
over). Nothing leaves this machine: the local LINE platform plays LINE.
{first}

  ローカル LINE (全ユーザーのトーク) / Local LINE (chat for every user):
      {sim_url}/
  {employee.name} ({employee.code}) として回答 / Answer alert {seed.alert_id} as {employee.name}:
      {open_as}
{link}
{me}
  管理グループ「{DEMO_ADMIN_GROUP}」(発信権限者 {senders}。/help、訓練、/status …)
  Admin group 「{DEMO_ADMIN_GROUP}」 (senders {senders}; post /help, 訓練, /status …):
      {sim_url}/_sim/group/{state.admin_group_id}
  メール: ローカル SMTP サーバー (127.0.0.1:{urls.mail_port}) が送信メールを
  {DEMO_MAIL_DIR}/ に保存します。
  E-mail: a local SMTP server (127.0.0.1:{urls.mail_port}) keeps every e-mail the bot sends in
  {DEMO_MAIL_DIR}/ (.txt to read, .eml as sent). Answer by e-mail as {mail_only.name}
  ({mail_only.code}, メールのみ / e-mail only, {mail_only.email}):
      {mail_link}
  集計 / Tally:  DATABASE_URL={DEMO_DATABASE} {python} -m bot tally {seed.alert_id}
  管理画面 (集計の推移) / Console (watch the tally fill up):  {bot_url}/console/
      {DEMO_MAINTAINER} (メンテナンス担当者 / maintainer, everything) or {DEMO_SUPERVISOR}
      (総務部の集計権限者 / supervisor of 総務部 only),
      パスワード / password {state.console_password}
  地震の発生: ローカル気象庁フィード {sim_url}/_jma/ のボタンを押すと、{DEMO_JMA_POLL:g} 秒以内に
  ルール「{DEMO_JMA_RULE}」が連絡を開始し管理グループに知らせます ({bot_url}/console/jma)。
  An earthquake arriving: press a button on the local JMA feed, {sim_url}/_jma/ ; within
  {DEMO_JMA_POLL:g} s the rule 「{DEMO_JMA_RULE}」 starts an alert and tells the admin group
  (rules and bulletins: {bot_url}/console/jma).

{DEMO_READY}
"""


DEMO_READY = "デモの準備ができました。 / The demo is ready."


async def run_demo(
    base: Config, port: int | None = None, host: str = DEMO_HOST, *, reset: bool = False
) -> None:
    """Start everything on `host`, from what .demo/ kept unless `reset` (or there is none),
    print what to open, run until interrupted, and keep the local LINE platform's state."""
    from line_simulator import snapshot

    urls = demo_urls(port or base.port, host)
    state = None if reset else DemoState.load()
    if state is None:
        reset_demo_dir()
    config = demo_config(base, urls)
    sim = demo_simulator(urls)
    if state is not None:
        try:
            snapshot.load(sim, DEMO_LINE_STATE)
        except (ValueError, KeyError, TypeError) as exc:
            raise DemoStateError(
                f"{DEMO_LINE_STATE} cannot be read ({exc!r}): `make demo-reset` starts over"
            ) from exc
    await migrate(config.database_url)
    async with demo_servers(config, sim, urls) as sink:
        try:
            if state is None:
                seed = await seed_demo(config, sim, sink)
            else:
                seed = await people_seed(config, sim, state, None)
            snapshot.save(sim, DEMO_LINE_STATE)
            if not is_loopback(host):
                print(
                    f"  Listening on {host}: anyone who reaches it can act as any employee.",
                    flush=True,
                )
            print(banner(config, urls, seed), flush=True)
            await wait_for_stop_signal()
            print("stopping", flush=True)
        finally:
            snapshot.save(sim, DEMO_LINE_STATE)  # Ctrl-C keeps the chats for the next start
