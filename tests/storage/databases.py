"""Database URLs for tests: a fresh SQLite file, or a throwaway schema on the PostgreSQL
server named by MESHVEIL_TEST_POSTGRES_URL (skipped, saying so, when it is not set)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from controlplane.storage import tenants
from controlplane.storage.database import Database, migrate, open_database

POSTGRES_URL = os.environ.get("MESHVEIL_TEST_POSTGRES_URL")


@contextmanager
def database_url(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'meshveil.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip(
            "PostgreSQL tests need MESHVEIL_TEST_POSTGRES_URL (.ci/run sets it when a server answers)"
        )
    schema = f"meshveil_test_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")


@contextmanager
def sqlite_with_tenant(folder: Path, tenant: str) -> Iterator[Database]:
    """A migrated SQLite database in `folder` holding `tenant` (its namespace of the same name)."""
    with database_url("sqlite", folder) as url:
        database = open_database(url)
    migrate(database)
    with database.write() as session:
        tenants.create(session, tenant, [tenant])
    try:
        yield database
    finally:
        database.dispose()
