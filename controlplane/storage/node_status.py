"""What each sidecar was served and what it ACKed or NACKed, per resource."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from controlplane.storage.clock import utc_now
from controlplane.storage.tables import NodeStatusRow

_KEY = ("node_id", "resource_name")


@dataclass(frozen=True)
class NodeEvent:
    node_id: str
    resource_name: str
    tenant: str | None
    policy_id: str | None
    served_version: str | None
    acked_version: str | None = None
    nacked_version: str | None = None
    error_detail: str | None = None


def apply_events(session: Session, events: list[NodeEvent], replica_id: str) -> None:
    """Folds events into the node rows, last event winning per (node, resource).

    Events are merged in memory first and written as one upsert per set of columns, so a
    thousand sidecars ACKing a push cost a handful of statements, not a query each.
    """
    now = utc_now()
    merged: dict[tuple[str, str], dict[str, object]] = {}
    for event in events:
        row = merged.setdefault(
            (event.node_id, event.resource_name),
            {"node_id": event.node_id, "resource_name": event.resource_name},
        )
        row.update(tenant=event.tenant, policy_id=event.policy_id, updated_at=now, replica_id=replica_id)
        if event.served_version is not None:
            row["served_version"] = event.served_version
        if event.acked_version is not None:
            row.update(acked_version=event.acked_version, nacked_version=None, error_detail=None)
        if event.nacked_version is not None:
            row.update(nacked_version=event.nacked_version, error_detail=event.error_detail)
    by_columns: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for row in merged.values():
        by_columns.setdefault(tuple(sorted(row)), []).append(row)
    for columns, rows in by_columns.items():
        session.execute(_upsert(session, columns), rows)


def _upsert(session: Session, columns: tuple[str, ...]) -> Any:
    """INSERT … ON CONFLICT (node_id, resource_name) DO UPDATE of the given columns."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(NodeStatusRow)
    updated = {name: statement.excluded[name] for name in columns if name not in _KEY}
    return statement.on_conflict_do_update(index_elements=list(_KEY), set_=updated)


def list_for(
    session: Session, tenants: frozenset[str] | None, policy_id: str | None = None
) -> list[NodeStatusRow]:
    query = select(NodeStatusRow).order_by(NodeStatusRow.node_id, NodeStatusRow.resource_name)
    if tenants is not None:
        query = query.where(NodeStatusRow.tenant.in_(sorted(tenants)))
    if policy_id is not None:
        query = query.where(NodeStatusRow.policy_id == policy_id)
    return list(session.scalars(query))
