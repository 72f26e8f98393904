"""Alembic environment: runs on the connection `database.migrate` hands over."""

from __future__ import annotations

from alembic import context

from controlplane.storage.tables import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table="meshveil_alembic_version",
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
