"""Per-node telemetry credentials: each sidecar sends with its own bearer token, which the
control plane puts in that node's signed filter config. Only a SHA-256 of a token is
stored; the token is shown once, when it is issued.

The node a credential belongs to decides the tenant and the service of every event it
sends, so a sidecar cannot write events into another tenant or pose as another service.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import Connection, Dialect, Table, bindparam, select, update
from sqlalchemy.orm import Session

from controlplane.storage.clock import utc_now
from controlplane.storage.tables import TelemetryNodeRow
from controlplane.storage.tokens import hash_token

NODE_TOKEN_PREFIX = "mvn_"  # noqa: S105 - a prefix, not a secret
# Istio's sidecar node ids: sidecar~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local
_ISTIO_NODE = re.compile(r"^[a-z]+~[^~]*~(?P<pod>[^.~]+)\.(?P<namespace>[^~]+)~[^~]*$")
# A Deployment's pods are named <deployment>-<replicaset hash>-<pod suffix>.
_POD_SUFFIX = re.compile(r"-[a-z0-9]{6,10}-[a-z0-9]{5}$")


class NodeConflictError(ValueError):
    pass


@dataclass(frozen=True)
class IssuedCredential:
    row: TelemetryNodeRow
    token: str
    """The bearer token; it exists nowhere else once this is returned."""


@dataclass(frozen=True)
class BatchTally:
    """What one batch from a node came to, for the node's running totals."""

    accepted: int
    duplicate: int
    rejected: int
    dropped_reported: int


def service_of(node_id: str) -> str:
    """The workload an Istio node id belongs to (`checkout` for
    `sidecar~10.0.0.7~checkout-7d9f8b6c5-x2x9z.shop~shop.svc.cluster.local`), else the id."""
    match = _ISTIO_NODE.match(node_id)
    if match is None:
        return node_id[:128]
    return _POD_SUFFIX.sub("", match["pod"])


def issue(
    session: Session, node_id: str, tenant: str, service: str | None, created_by: str
) -> IssuedCredential:
    if session.scalar(select(TelemetryNodeRow).where(TelemetryNodeRow.node_id == node_id)) is not None:
        raise NodeConflictError(f"node {node_id!r} already has a telemetry credential; revoke it first")
    token = NODE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = TelemetryNodeRow(
        node_id=node_id,
        tenant=tenant,
        service=service or service_of(node_id),
        token_hash=hash_token(token),
        created_at=utc_now(),
        created_by=created_by,
        revoked_at=None,
        last_batch_at=None,
        batches=0,
        events_accepted=0,
        events_duplicate=0,
        events_rejected=0,
        events_dropped=0,
    )
    session.add(row)
    session.flush()
    return IssuedCredential(row, token)


def authenticate(session: Session, token: str) -> TelemetryNodeRow | None:
    """The live credential this token belongs to, or None."""
    row = session.scalar(select(TelemetryNodeRow).where(TelemetryNodeRow.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    return row


def get(session: Session, node_id: str) -> TelemetryNodeRow | None:
    return session.scalar(select(TelemetryNodeRow).where(TelemetryNodeRow.node_id == node_id))


def list_nodes(session: Session, tenants: frozenset[str] | None) -> list[TelemetryNodeRow]:
    query = select(TelemetryNodeRow).order_by(TelemetryNodeRow.node_id)
    if tenants is not None:
        query = query.where(TelemetryNodeRow.tenant.in_(sorted(tenants)))
    return list(session.scalars(query))


def revoke(row: TelemetryNodeRow) -> None:
    row.revoked_at = utc_now()


_NODES = cast(Table, TelemetryNodeRow.__table__)
# Built once: this runs for every batch, and the statement never changes.
_RECORD_BATCH = (
    update(_NODES)
    .where(_NODES.c.id == bindparam("node_ref"))
    .values(
        last_batch_at=bindparam("at"),
        batches=_NODES.c.batches + 1,
        events_accepted=_NODES.c.events_accepted + bindparam("accepted"),
        events_duplicate=_NODES.c.events_duplicate + bindparam("duplicate"),
        events_rejected=_NODES.c.events_rejected + bindparam("rejected"),
        events_dropped=_NODES.c.events_dropped + bindparam("dropped"),
    )
)


@dataclass(frozen=True)
class _CompiledUpdate:
    sql: str
    positions: tuple[str, ...] | None
    """Parameter names in order for positional drivers (SQLite); None: named (psycopg)."""
    constants: dict[str, Any]
    """Parameters the statement itself fixes (the 1 in `batches + 1`)."""
    convert_time: Callable[[Any], Any] | None


@cache
def _compiled_record_batch(dialect: Dialect) -> _CompiledUpdate:
    compiled = _RECORD_BATCH.compile(dialect=dialect)
    positions = tuple(compiled.positiontup) if compiled.positiontup else None
    return _CompiledUpdate(
        compiled.string, positions, dict(compiled.params), _NODES.c.last_batch_at.type.bind_processor(dialect)
    )


def record_batch(connection: Connection, node_ref: int, tally: BatchTally, at: datetime) -> None:
    """Adds a batch to the node's totals in one UPDATE, so replicas never lose a count.
    Runs on every batch, so the statement is compiled once and sent on the driver cursor."""
    update_sql = _compiled_record_batch(connection.dialect)
    values: dict[str, Any] = {
        **update_sql.constants,
        "node_ref": node_ref,
        "at": update_sql.convert_time(at) if update_sql.convert_time else at,
        "accepted": tally.accepted,
        "duplicate": tally.duplicate,
        "rejected": tally.rejected,
        "dropped": tally.dropped_reported,
    }
    parameters = tuple(values[name] for name in update_sql.positions) if update_sql.positions else values
    cursor = connection.connection.cursor()
    try:
        cursor.execute(update_sql.sql, parameters)
    finally:
        cursor.close()
