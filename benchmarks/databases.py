"""A throwaway PostgreSQL database for one benchmark run, made on the server `--database-url`
names and dropped after."""

import re
import uuid

import asyncpg


def _dsn(base: str) -> str:
    return base.replace("postgres://", "postgresql://", 1)


async def fresh_postgres(base: str) -> tuple[str, str]:
    """Create an empty database beside `base`; return its URL and its name."""
    name = f"anpi_bench_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(_dsn(base))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return re.sub(r"/[^/]*$", f"/{name}", base), name


async def drop_postgres(base: str, name: str) -> None:
    """Drop a database `fresh_postgres` made."""
    connection = await asyncpg.connect(_dsn(base))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()
