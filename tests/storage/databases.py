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
