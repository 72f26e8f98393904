"""Per-node telemetry credentials: each sidecar sends with its own bearer token, which the
control plane puts in that node's signed filter config. Only a SHA-256 of a token is
stored; the token is shown once, when it is issued.

The node a credential belongs to decides the tenant and the service of every event it
sends, so a sidecar cannot write events into another tenant or pose as another service.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import Connection, Dialect, Insert, Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from controlplane.storage.clock import utc_now
from controlplane.storage.tables import TelemetryNodeRow
from controlplane.storage.tokens import hash_token

NODE_TOKEN_PREFIX = "mvn_"  # noqa: S105 - a prefix, not a secret
DERIVED_BY = "system:ecds"
"""`created_by` of credentials the ECDS server derived for the nodes it serves."""
_DERIVED_LABEL = b"meshveil.telemetry-node.v1"
_ROTATED_LABEL = b"meshveil.telemetry-node.v2:"
DERIVED_SECRET_BYTES_MIN = 32
_PENDING = "pending:"
"""Starts the `token_hash` of a rotated derived credential until its new token is served."""
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
    rotated: bool
    """It replaces the node's revoked credential (same row, totals and events kept)."""


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


def namespace_of(node_id: str) -> str | None:
    """The namespace an Istio node id names (`shop` for `sidecar~…~checkout-….shop~…`)."""
    match = _ISTIO_NODE.match(node_id)
    return match["namespace"] if match is not None else None


def issue(
    session: Session, node_id: str, tenant: str, service: str | None, created_by: str
) -> IssuedCredential:
    """A new credential for a node without one, or, for a node whose hand-issued credential
    was revoked, a new one in its row (a rotation: the old token stays dead, the node keeps
    its totals and its events). Refused, with why, for a live credential, a node of another
    tenant, and a node whose credential the ECDS server derives."""
    existing = get(session, node_id)
    if existing is not None:
        _ensure_reissuable(existing, tenant)
    token = NODE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = existing or TelemetryNodeRow(
        node_id=node_id,
        tenant=tenant,
        last_batch_at=None,
        batches=0,
        events_accepted=0,
        events_duplicate=0,
        events_rejected=0,
        events_dropped=0,
    )
    row.service = service or service_of(node_id)
    row.token_hash = hash_token(token)
    row.created_at = utc_now()
    row.created_by = created_by
    row.revoked_at = None
    if existing is None:
        session.add(row)
    session.flush()
    return IssuedCredential(row, token, rotated=existing is not None)


def _ensure_reissuable(row: TelemetryNodeRow, tenant: str) -> None:
    if row.tenant != tenant:
        raise NodeConflictError(f"node {row.node_id!r} belongs to another tenant")
    if row.created_by == DERIVED_BY:
        # An issued token would never reach the node: its config carries the derived one.
        raise NodeConflictError(
            f"node {row.node_id!r} is served over ECDS and sends with the credential derived "
            "for it (a hand-issued one would not reach it); rotate that one instead"
        )
    if row.revoked_at is None:
        raise NodeConflictError(
            f"node {row.node_id!r} already has a live telemetry credential; "
            "revoke it, then issue again to rotate it"
        )


def derived_token(secret: bytes, tenant: str, node_id: str, epoch: int = 0) -> str:
    """The node's credential, derived from the control plane's secret: every replica gives
    a node the same token without storing it, and no two nodes (or tenants) share one.
    Rotating the credential moves the node's epoch on, which gives it a token unlike any
    before (epoch 0 keeps the first label, so tokens derived before epochs existed hold)."""
    assert len(secret) >= DERIVED_SECRET_BYTES_MIN, "the node-token secret is too short"
    assert 0 <= epoch < 1 << 31, "a credential epoch fits the column"
    # The epoch goes first, fixed-size: after the node id a node id with a NUL in it could
    # pose as another node's later epoch.
    label = _DERIVED_LABEL if epoch == 0 else _ROTATED_LABEL + epoch.to_bytes(4, "big")
    message = b"\0".join((label, tenant.encode(), node_id.encode()))
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return NODE_TOKEN_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class Enrolment:
    """A node the ECDS server gave a derived credential, to be recorded on first sight."""

    node_id: str
    tenant: str
    service: str
    token_hash: str
    epoch: int = 0
    """The credential epoch the token was derived for."""


def enrol(session: Session, enrolments: list[Enrolment]) -> list[Adoption]:
    """Records each node's derived credential. One INSERT … ON CONFLICT DO NOTHING, so
    replicas enrolling the same node at once never fail. A node that already has a row keeps
    it, except that a live hand-issued credential of the same tenant is replaced by the
    derived one (adopted): the ECDS server puts the derived token in the node's config, so
    the issued one would never be sent again; and a rotated derived credential gets its new
    token's hash. A revoked row stays revoked. Returns the adoptions, for the audit log."""
    if not enrolments:
        return []
    now = utc_now()
    rows = [
        {
            "node_id": item.node_id,
            "tenant": item.tenant,
            "service": item.service,
            "token_hash": item.token_hash,
            "created_at": now,
            "created_by": DERIVED_BY,
            "revoked_at": None,
            "last_batch_at": None,
            "batches": 0,
            "events_accepted": 0,
            "events_duplicate": 0,
            "events_rejected": 0,
            "events_dropped": 0,
            "credential_epoch": item.epoch,
        }
        for item in enrolments
    ]
    session.execute(_insert_ignoring_conflicts(session.get_bind().dialect.name), rows)
    return _complete_rows(session, {item.node_id: item for item in enrolments}, now)


@dataclass(frozen=True)
class Adoption:
    """A node's live hand-issued credential, replaced by its derived one."""

    node_id: str
    tenant: str
    replaced_by: str
    """Who had issued the credential that was replaced."""


def _complete_rows(session: Session, enrolments: dict[str, Enrolment], now: datetime) -> list[Adoption]:
    """Gives the derived token's hash to live rows that wait for it: a rotated derived
    credential (until now no token matched it), and a hand-issued one (adopted)."""
    waiting = session.scalars(
        select(TelemetryNodeRow).where(
            TelemetryNodeRow.node_id.in_(sorted(enrolments)),
            TelemetryNodeRow.revoked_at.is_(None),
            (TelemetryNodeRow.created_by != DERIVED_BY) | TelemetryNodeRow.token_hash.startswith(_PENDING),
        )
    )
    adopted = []
    for row in waiting:
        item = enrolments[row.node_id]
        if row.tenant != item.tenant or row.credential_epoch != item.epoch:
            # Placed in another tenant by an admin (theirs stands), or served before this
            # replica saw the rotation (the next snapshot serves the new epoch).
            continue
        if row.created_by != DERIVED_BY:
            adopted.append(Adoption(row.node_id, row.tenant, row.created_by))
            row.created_by = DERIVED_BY
            row.created_at = now
        row.token_hash = item.token_hash
    session.flush()
    return adopted


def rotate_derived(row: TelemetryNodeRow) -> None:
    """A new derived credential for the node, live or revoked: its epoch moves on, so the
    old token is refused at once and the ECDS server serves the node a new one, whose hash
    is stored when the node is next served it (`enrol`)."""
    if row.created_by != DERIVED_BY:
        raise NodeConflictError(
            f"node {row.node_id!r} has a hand-issued credential; revoke it, then issue again to rotate it"
        )
    row.credential_epoch += 1
    # Unique and not a SHA-256, so no token matches it until the new one's hash is stored.
    row.token_hash = f"{_PENDING}{row.id}:{row.credential_epoch}"
    row.revoked_at = None
    row.created_at = utc_now()


def rotated_epochs(session: Session) -> dict[str, int]:
    """Nodes whose derived credential was rotated, with their epochs (all others: 0)."""
    query = select(TelemetryNodeRow.node_id, TelemetryNodeRow.credential_epoch).where(
        TelemetryNodeRow.credential_epoch > 0
    )
    return {node_id: epoch for node_id, epoch in session.execute(query)}


def _insert_ignoring_conflicts(dialect: str) -> Insert:
    if dialect == "postgresql":
        return postgresql.insert(_NODES).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(_NODES).on_conflict_do_nothing()
    raise ValueError(f"enrolling nodes needs SQLite or PostgreSQL, not {dialect}")


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
