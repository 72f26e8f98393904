"""Engine, sessions and migrations for SQLite (default) and PostgreSQL.

SQLite runs in WAL mode so readers never wait for the writer, and write transactions
begin IMMEDIATE: two writers queue on the busy timeout instead of one failing half way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "meshveil_alembic_version"
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Any constant works; it only has to be the same for every replica running migrations.
POSTGRES_MIGRATION_LOCK = 0x6D657368


class DatabaseError(RuntimeError):
    """The database cannot be opened or migrated; the message names the URL (without password)."""


def normalize_url(url: str) -> str:
    """`postgresql://` and `postgres://` use psycopg 3, the driver meshveil installs."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@dataclass(frozen=True)
class Database:
    engine: Engine
    _reads: sessionmaker[Session]
    _writes: sessionmaker[Session]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reads() as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self._writes() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str) -> Database:
    url = normalize_url(url)
    parsed = make_url(url)
    options: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        options["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    else:
        options.update(pool_pre_ping=True, pool_size=10, max_overflow=20)
    try:
        engine = create_engine(url, **options)
    except Exception as error:
        raise DatabaseError(
            f"cannot open database {parsed.render_as_string(hide_password=True)}: {error}"
        ) from error
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    writes = engine.execution_options(meshveil_write=True)
    return Database(
        engine,
        sessionmaker(engine, expire_on_commit=False),
        sessionmaker(writes, expire_on_commit=False),
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN can be IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("meshveil_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def migrate(database: Database, revision: str = "head") -> None:
    """Brings the schema to `revision`; safe to run from several replicas at once."""
    config = _alembic_config()
    with database.engine.execution_options(meshveil_write=True).begin() as connection:
        if database.dialect == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": POSTGRES_MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(database: Database, revision: str = "base") -> None:
    config = _alembic_config()
    with database.engine.execution_options(meshveil_write=True).begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def head_revision() -> str:
    """The newest migration meshveil ships: what `migrate` brings a database to."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None, "the migrations folder has a head revision"
    return head


def current_revision(database: Database) -> str | None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()
