"""The composition root: one aiohttp app that mounts every face, with every resource (the
database, the HTTP and LINE clients, the notifier's PostgreSQL bridge, the workers) in a
cleanup context."""

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial

import aiohttp
from aiohttp import web

import console.app
import liff.app
import me.app
from bot import link_views, mail_messages, resources, routes
from bot.config import Config, ConfigError
from bot.handlers import EventHandlers
from bot.jma_watch import JmaWatcher
from bot.keys import CONFIG, LINE, STOPPING, WORKER_TASKS, WORKERS
from bot.line_api import LineApi
from bot.login_notices import LoginNotices
from bot.logs import traced_worker
from bot.mailer import SmtpMailer
from bot.metrics import counted_dispatch, counted_worker, webhook_timing
from bot.request_ids import request_ids
from bot.workers import Worker, running
from domain import email_plan, reminder_schedule
from domain.delivery import EngineSettings
from domain.email_delivery import EmailEngine
from domain.housekeeping import tidy
from domain.inbox import next_retry_in, process_pending
from domain.notify import Topic, notifier
from domain.retention import Retention, apply_retention
from me.keys import LoginSettings
from web.csrf import csrf_middleware
from web.headers import on_response_prepare
from web.keys import GROUPS, HTTP, ID_TOKENS, LIFF, LINK, LINK_ATTEMPTS, QUOTA, WEB
from web.line_login import IdTokenVerifier
from web.pages import face_templates
from web.settings import LiffSettings, LinkSettings, WebSettings

log = logging.getLogger(__name__)

INBOX_POLL = 2.0
HOUSEKEEPING_POLL = 3600.0


def create_app(config: Config, *, engine_settings: EngineSettings | None = None) -> web.Application:
    """Build the app; `config.workers` names the background workers it runs."""
    app = web.Application(middlewares=[request_ids, webhook_timing, csrf_middleware])
    app.on_response_prepare.append(on_response_prepare)
    app[CONFIG] = config
    app[WEB] = WebSettings(
        secret_key=config.secret_key,
        secure_cookies=config.public_base_url.startswith("https://"),
        public_base_url=config.public_base_url,
        email_on=bool(config.smtp_url),
    )
    app[LIFF] = LiffSettings(liff_id=config.liff_id, sdk_url=config.liff_sdk_url)
    app[LINK] = LinkSettings(access_base_url=config.line_access_base_url)
    app[LINK_ATTEMPTS] = link_views.address_limiter()
    env = face_templates(app, "bot")
    env.globals["app_name"] = "安否確認"
    routes.setup_routes(app)
    app.add_subapp("/liff", liff.app.create_app())
    app.add_subapp("/console", console.app.create_app(app[WEB]))
    login = LoginSettings(
        channel_id=config.line_login_channel_id,
        channel_secret=config.line_login_channel_secret,
        access_base_url=config.line_access_base_url,
        api_base_url=config.line_api_base_url,
        public_base_url=config.public_base_url,
    )
    mailer = SmtpMailer.from_url(config.smtp_url, config.mail_from) if config.smtp_url else None
    notices = LoginNotices(lambda: app[LINE])
    app.add_subapp("/me", me.app.create_app(app[WEB], login, notices, mailer))
    _add_resources(app, engine_settings)
    return app


def create_worker_app(
    config: Config, *, engine_settings: EngineSettings | None = None
) -> web.Application:
    """The background workers alone (`python -m bot worker`): the same database, LINE client,
    notifier bridge and workers as `create_app`; its only routes are the probes and metrics."""
    app = web.Application(middlewares=[request_ids])
    app[CONFIG] = config
    routes.setup_probes(app)  # served only where WORKER_PORT is set
    _add_resources(app, engine_settings)
    return app


def _add_resources(app: web.Application, engine_settings: EngineSettings | None) -> None:
    """Every resource as a cleanup context, each after those it needs."""
    app[STOPPING] = asyncio.Event()
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_clients)
    app.cleanup_ctx.append(_notifier_bridge)
    if app[CONFIG].workers:
        app.cleanup_ctx.append(partial(_workers, engine_settings=engine_settings))


async def _database(app: web.Application) -> AsyncIterator[None]:
    async with resources.database(app[CONFIG]):
        yield


async def _clients(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    async with resources.line_api(config) as line, aiohttp.ClientSession() as http:
        app[LINE] = line
        app[QUOTA] = line
        app[GROUPS] = line
        app[HTTP] = http
        app[ID_TOKENS] = verifier = IdTokenVerifier(
            http, config.line_api_base_url, config.line_login_channel_id
        )
        try:
            yield
        finally:
            verifier.close()


async def _notifier_bridge(app: web.Application) -> AsyncIterator[None]:
    async with resources.notifier_bridge(app[CONFIG]):
        yield


def build_workers(
    config: Config, line: LineApi, engine_settings: EngineSettings | None = None
) -> list[Worker]:
    """The workers `config.workers` names, wired to LINE."""
    handlers = EventHandlers(line, config)
    engine = resources.delivery_engine(config, line, engine_settings)
    inbox = partial(process_pending, counted_dispatch(handlers.dispatch))
    retention = Retention(
        answers=_days(config.answer_retention_days),
        line_data=_days(config.line_data_retention_days),
    )

    async def purge() -> int:
        return await tidy(timedelta(days=config.inbox_retention_days)) + await apply_retention(
            retention
        )

    available = {
        "inbox": Worker("inbox", inbox, Topic.INBOX, INBOX_POLL, due=next_retry_in),
        "delivery": Worker("delivery", engine.run_once, Topic.DELIVERY, engine.settings.idle_poll),
        "housekeeping": Worker("housekeeping", purge, None, HOUSEKEEPING_POLL),
        "reminders": Worker(
            "reminders",
            reminder_schedule.send_due_reminders,
            None,
            reminder_schedule.REMINDER_POLL,
            due=reminder_schedule.next_reminder_in,
        ),
        "jma": jma_worker(config, line),
        **email_workers(config),
    }
    # The e-mail workers exist only where SMTP_URL is set: elsewhere e-mail is off.
    return [
        counted_worker(traced_worker(available[name]))
        for name in config.workers
        if name in available
    ]


def _days(days: int) -> timedelta | None:
    return timedelta(days=days) if days else None


def jma_worker(config: Config, line: LineApi) -> Worker:
    """The JMA feed watcher (bot/jma_watch.py), asking each feed once per JMA_POLL_SECONDS."""
    watcher = JmaWatcher(config.jma_feeds, config.jma_poll_seconds, line)
    return Worker("jma", watcher.step, None, config.jma_poll_seconds, due=watcher.due)


def email_workers(config: Config) -> dict[str, Worker]:
    """The e-mail planner and engine, wired to SMTP_URL (none when it is unset)."""
    if not config.smtp_url:
        return {}
    if not config.secret_key:
        raise ConfigError("SECRET_KEY is not set: e-mail answer links are signed with it")
    render = partial(
        mail_messages.delivery_mail,
        public_base_url=config.public_base_url,
        secret_key=config.secret_key,
        mail_from=config.mail_from,
    )
    engine = EmailEngine(SmtpMailer.from_url(config.smtp_url, config.mail_from), render)
    return {
        "email_plan": Worker(
            "email_plan",
            email_plan.plan_emails,
            Topic.DELIVERY,
            email_plan.PLAN_POLL,
            due=email_plan.next_fallback_in,
        ),
        "email": Worker("email", engine.run_once, Topic.DELIVERY, engine.settings.idle_poll),
    }


async def _workers(
    app: web.Application, *, engine_settings: EngineSettings | None
) -> AsyncIterator[None]:
    app[WORKERS] = build_workers(app[CONFIG], app[LINE], engine_settings)
    async with running(app[WORKERS], notifier) as tasks:
        app[WORKER_TASKS] = tasks
        yield
