"""The committed migrations match the models; configuration follows DESIGN.md's contract;
the factory builds the app it promises."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from tortoise.cli.cli import tortoise_cli_context
from tortoise.migrations.autodetector import MigrationAutodetector

from bot.app import create_app
from bot.config import SERVE_REQUIRED, Config, ConfigError, require_https_line_hosts
from models import Template
from models.alert_templates import DEFAULT_TEMPLATE
from models.db import TORTOISE_ORM

ROOT = Path(__file__).resolve().parent.parent


async def test_committed_migrations_match_the_models():
    apps = {label: dict(app) for label, app in TORTOISE_ORM["apps"].items()}
    async with tortoise_cli_context(TORTOISE_ORM) as ctx:
        writers = await MigrationAutodetector(ctx.apps, apps).changes()
    assert writers == [], "models changed without a migration: run tortoise makemigrations"


async def test_migrate_installs_the_seed_template(db):
    template = await Template.get(key="earthquake")
    assert template.title == "【地震】安否確認"
    assert template.message.startswith("関東地域におきまして、震度6強の地震が発生しました。")
    assert [(i["label"], i["required"]) for i in template.items] == [
        ("本人", True),
        ("家族", True),
        ("家屋", True),
        ("出社", True),
    ]
    assert template.items == DEFAULT_TEMPLATE["items"]
    assert template.line_enabled and not template.email_enabled


def test_defaults_follow_the_configuration_contract():
    config = Config.from_env({})
    assert config.database_url == "sqlite://anpi.sqlite3"
    assert config.line_api_base_url == "https://api.line.me"
    assert config.line_access_base_url == "https://access.line.me"
    assert config.liff_base_url == "https://liff.line.me"
    assert config.public_base_url == "http://localhost:8080"
    assert config.port == 8080 and config.workers == (
        "inbox",
        "delivery",
        "housekeeping",
        "email_plan",
        "email",
        "reminders",
        "jma",
    )
    assert config.jma_feeds == (
        "https://www.data.jma.go.jp/developer/xml/feed/eqvol.xml",
        "https://www.data.jma.go.jp/developer/xml/feed/extra.xml",
    )
    assert config.jma_poll_seconds == 60.0
    assert config.smtp_url == "" and config.mail_from == "anpi@localhost"
    assert config.liff_sdk_url == "https://static.line-scdn.net/liff/edge/2/sdk.js"


def test_settings_are_read_from_the_environment():
    config = Config.from_env(
        {
            "DATABASE_URL": "postgres://u@h/db",
            "LINE_CHANNEL_SECRET": "s",
            "LIFF_ID": "123-abc",
            "LIFF_BASE_URL": "http://127.0.0.1:9/liff/",
            "PUBLIC_BASE_URL": "https://anpi.example.jp/",
            "PORT": "9000",
        }
    )
    assert config.database_url == "postgres://u@h/db"
    assert config.line_channel_secret == "s"
    assert config.public_base_url == "https://anpi.example.jp"
    assert config.liff_url == "http://127.0.0.1:9/liff/123-abc"
    assert config.liff_sdk_url == "http://127.0.0.1:9/liff/sdk.js"
    assert config.port == 9000


def test_a_port_that_is_not_a_number_is_refused_by_name():
    with pytest.raises(ConfigError, match=r"^PORT must be a number"):
        Config.from_env({"PORT": "eighty"})


def test_require_names_the_first_missing_variable():
    config = Config.from_env({"LINE_CHANNEL_SECRET": "s"})
    with pytest.raises(ConfigError, match=r"^LINE_CHANNEL_ACCESS_TOKEN is not set"):
        config.require(*SERVE_REQUIRED)


def test_the_factory_registers_every_face_by_name():
    app = create_app(Config(workers=()))
    assert {"callback", "health", "link", "link_submit"} <= set(app.router.named_resources())
    # The LIFF face is a sub-application mounted under /liff.
    mounted = {
        info["prefix"]: info["app"]
        for info in (r.get_info() for r in app.router.resources())
        if "app" in info
    }
    liff_names = set(mounted["/liff"].router.named_resources())
    assert {"liff", "liff_api_alert", "liff_api_answer"} <= liff_names
    assert str(mounted["/liff"].router["liff"].url_for()) == "/liff/"


@pytest.mark.parametrize(
    "url",
    [
        "https://api.line.me",
        "https://line.example.jp:8443/prefix",
        "http://127.0.0.1:8081",
        "http://127.9.9.9",
        "http://[::1]:8081/liff",
        "http://localhost:8081",
    ],
)
@pytest.mark.parametrize("variable", ["LINE_API_BASE_URL", "LINE_ACCESS_BASE_URL", "LIFF_BASE_URL"])
def test_a_line_host_is_https_or_on_this_machine(variable, url):
    require_https_line_hosts(Config.from_env({variable: url}))


@pytest.mark.parametrize(
    "url",
    [
        "http://api.line.me",
        "http://192.168.1.10:8081",
        "http://localhost.example.com",
        "http://127.0.0.1.example.com",
        "ftp://127.0.0.1",
        "api.line.me",
        "https://",
    ],
)
@pytest.mark.parametrize("variable", ["LINE_API_BASE_URL", "LINE_ACCESS_BASE_URL", "LIFF_BASE_URL"])
def test_a_plain_http_line_host_elsewhere_is_refused_by_name(variable, url):
    config = Config.from_env({variable: url})
    with pytest.raises(ConfigError, match=rf"^{variable} must be an https:// URL") as refused:
        require_https_line_hosts(config)
    assert "\n" not in str(refused.value)


def test_the_wheel_ships_the_product_without_the_local_line_platform():
    setuptools = pytest.importorskip("setuptools")
    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    find = find["find"]
    packages = set(
        setuptools.find_namespace_packages(ROOT, include=find["include"], exclude=find["exclude"])
    )
    assert {"bot", "bot.templates", "domain", "liff", "liff.templates", "liff.static"} <= packages
    assert {"models", "models.migrations", "web"} <= packages
    assert not {p for p in packages if p.split(".")[0] in ("line_simulator", "tests")}


async def test_every_unique_together_is_a_unique_index_after_the_migrations(db, database_url):
    # SQLite remakes a table to alter a column and forgets the old CREATE TABLE's UNIQUE;
    # without it ON CONFLICT DO NOTHING inserts a second delivery.
    from tortoise import Tortoise

    connection = Tortoise.get_connection("default")
    postgres = database_url.startswith("postgres")
    missing = []
    for model in Tortoise.apps["models"].values():
        table = model._meta.db_table
        if postgres:
            rows = await connection.execute_query_dict(
                "SELECT indexdef AS definition FROM pg_indexes WHERE tablename = $1", [table]
            )
            found = {
                tuple(
                    c.strip().strip('"') for c in r["definition"].split("(", 1)[1][:-1].split(",")
                )
                for r in rows
                if " UNIQUE " in r["definition"]
            }
        else:
            found = set()
            for index in await connection.execute_query_dict(f'PRAGMA index_list("{table}")'):
                if index["unique"]:
                    info = await connection.execute_query_dict(
                        f'PRAGMA index_info("{index["name"]}")'
                    )
                    found.add(tuple(c["name"] for c in info))
        for fields in model._meta.unique_together or ():
            columns = tuple(
                model._meta.fields_map[f].source_field or f
                if f in model._meta.fields_db_projection
                else f"{f}_id"
                for f in fields
            )
            if columns not in found:
                missing.append(f"{table}{columns}")
    assert not missing
