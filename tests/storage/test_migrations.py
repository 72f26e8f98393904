"""Migrations: up and down on SQLite and (where reachable) PostgreSQL, the schema they make
matches the tables, and the audit log refuses UPDATE and DELETE."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DatabaseError as SqlDatabaseError

from controlplane.storage import audit
from controlplane.storage.database import (
    Database,
    current_revision,
    downgrade,
    head_revision,
    migrate,
    open_database,
)
from controlplane.storage.tables import Base
from tests.storage.databases import database_url


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    with database_url(request.param, tmp_path) as url:
        opened = open_database(url)
        try:
            yield opened
        finally:
            opened.dispose()


def test_upgrade_creates_the_tables_and_downgrade_removes_them(database: Database) -> None:
    migrate(database)
    assert current_revision(database) == head_revision()
    assert set(Base.metadata.tables) <= set(inspect(database.engine).get_table_names())
    downgrade(database, "base")
    assert current_revision(database) is None
    assert not set(Base.metadata.tables) & set(inspect(database.engine).get_table_names())
    migrate(database)
    assert current_revision(database) == head_revision()


def test_migrations_match_the_table_definitions(database: Database) -> None:
    migrate(database)
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": "meshveil_alembic_version"})
        differences = [
            item
            for item in compare_metadata(context, Base.metadata)
            if "meshveil_alembic_version" not in str(item)
        ]
    assert differences == []


def test_audit_log_is_append_only(database: Database) -> None:
    migrate(database)
    with database.write() as session:
        audit.record(
            session, audit.Actor("tester", "admin"), "policy.create", "policy", "p1", tenant="t", after=b"x"
        )
    for statement in ("UPDATE audit_events SET actor = 'someone else'", "DELETE FROM audit_events"):
        with pytest.raises(SqlDatabaseError, match="append-only"), database.write() as session:
            session.execute(text(statement))
    with database.read() as session:
        rows = audit.list_events(session, None, include_global=True)
    assert [(row.actor, row.after_hash) for row in rows] == [("tester", audit.content_hash(b"x"))]
