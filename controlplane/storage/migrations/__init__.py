"""Alembic migrations; `controlplane.storage.database.migrate` runs them without an alembic.ini."""
