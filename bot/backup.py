"""`python -m bot backup PATH`: a consistent copy of a SQLite database while `serve` runs.

SQLite's online backup API copies page by page under the database's own locking, so writers
are never blocked for long and the copy is a database as of one moment (a plain file copy of
a WAL database can be torn). PostgreSQL has its own tool for this, pg_dump."""

import sqlite3
from pathlib import Path

from tortoise.backends.base.config_generator import expand_db_url

PAGES_PER_STEP = 1024  # pages copied between yields to writers
PG_DUMP_HINT = (
    "PostgreSQL is backed up with its own tool: "
    'pg_dump --format=custom --file=anpi.dump "$DATABASE_URL" '
    "(restore with pg_restore; see README, backup and retention)"
)


class BackupRefused(Exception):
    """The backup cannot be made; the message is one line for the terminal."""


def sqlite_path(database_url: str) -> Path:
    """The file of a SQLite database URL (raises BackupRefused for anything else)."""
    if not database_url.startswith("sqlite://"):
        raise BackupRefused(PG_DUMP_HINT)
    path = expand_db_url(database_url)["credentials"]["file_path"]
    if path in ("", ":memory:"):
        raise BackupRefused("an in-memory database has nothing to back up")
    return Path(path)


def _copy(source: Path, target: Path) -> int:
    # Opened read-only through a URI: a mistyped DATABASE_URL must not create an empty file.
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst, pages=PAGES_PER_STEP)
            (pages,) = dst.execute("PRAGMA page_count").fetchone()
        finally:
            dst.close()
    finally:
        src.close()
    return pages


def backup_sqlite(database_url: str, target: str) -> int:
    """Copy the database to `target` (which must not exist); return the pages copied.
    Blocking: run it in a thread."""
    source = sqlite_path(database_url)
    if not source.exists():
        raise BackupRefused(f"no database at {source}")
    destination = Path(target)
    if destination.exists():
        raise BackupRefused(f"{destination} exists: name a new file")
    if not destination.parent.is_dir():
        raise BackupRefused(f"no directory {destination.parent}")
    try:
        return _copy(source, destination)
    except sqlite3.Error as exc:
        destination.unlink(missing_ok=True)
        raise BackupRefused(f"backup failed: {exc}") from None
