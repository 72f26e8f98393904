"""Writing events: one multi-row INSERT per batch that skips rows already stored (the unique
key node + event id + part) and answers which rows it did insert, and the retention sweep.

The insert is the collector's hot path (10,000 events/s is the target), so it is plain
SQL on the driver connection: `INSERT … ON CONFLICT DO NOTHING RETURNING`, which SQLite
(3.35+) and PostgreSQL both speak, with the statement text cached per row count.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import cache

from sqlalchemy import Connection, delete, select

from controlplane.storage.tables import TelemetryEventRow, TelemetryNodeRow
from controlplane.telemetry.records import StoredRow

COLUMNS = StoredRow._fields
"""Every column but `id`, in the order a `StoredRow` holds them."""
ROWS_PER_STATEMENT = 500
"""Keeps a statement under SQLite's 32,766 bound parameters (and PostgreSQL's 65,535)."""

_PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def insert_new(connection: Connection, rows: Sequence[StoredRow]) -> set[tuple[str, int]]:
    """Inserts the rows not stored yet, inside the connection's transaction; answers the
    (event id, part) of those it inserted. A retried batch, even one racing its first
    attempt on another replica, inserts nothing."""
    inserted: set[tuple[str, int]] = set()
    placeholder = _PLACEHOLDER[connection.dialect.paramstyle]
    # The driver's own cursor: SQLAlchemy's per-statement bookkeeping would cost more than
    # the INSERT itself, and these values need no type conversion.
    cursor = connection.connection.cursor()
    try:
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start : start + ROWS_PER_STATEMENT]
            cursor.execute(_insert_sql(placeholder, len(chunk)), tuple(itertools.chain.from_iterable(chunk)))
            inserted.update((event_id, part) for event_id, part in cursor.fetchall())
    finally:
        cursor.close()
    return inserted


@cache
def _insert_sql(placeholder: str, rows: int) -> str:
    one_row = "(" + ", ".join([placeholder] * len(COLUMNS)) + ")"
    # Built from constants only; every value travels as a bound parameter.
    return (
        f"INSERT INTO {TelemetryEventRow.__tablename__} ({', '.join(COLUMNS)}) "  # noqa: S608
        f"VALUES {', '.join([one_row] * rows)} "
        "ON CONFLICT (node_ref, event_id, part) DO NOTHING RETURNING event_id, part"
    )


def tenants_with_nodes(connection: Connection) -> list[str]:
    return list(connection.execute(select(TelemetryNodeRow.tenant).distinct()).scalars())


def delete_older_than(connection: Connection, tenant: str, cutoff_ms: int, rows_max: int) -> int:
    """Deletes at most `rows_max` of the tenant's events older than `cutoff_ms`, oldest
    first (by the tenant-and-time index); answers how many it deleted (fewer than
    `rows_max`: the backlog is gone)."""
    oldest = (
        select(TelemetryEventRow.id)
        .where(TelemetryEventRow.tenant == tenant, TelemetryEventRow.time_ms < cutoff_ms)
        .order_by(TelemetryEventRow.time_ms)
        .limit(rows_max)
    )
    statement = delete(TelemetryEventRow).where(TelemetryEventRow.id.in_(oldest.scalar_subquery()))
    return int(connection.execute(statement).rowcount)
