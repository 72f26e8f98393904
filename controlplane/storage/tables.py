"""The tables. The Alembic migrations create exactly these (a test compares the two)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[str]: JSON,
        datetime: DateTime(timezone=True),
    }


class TenantRow(Base):
    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    namespaces: Mapped[list[str]]
    created_at: Mapped[datetime]


class TokenRow(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    tenants: Mapped[list[str]]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(128))
    revoked_at: Mapped[datetime | None]


class PolicyRow(Base):
    __tablename__ = "policies"
    __table_args__ = (UniqueConstraint("tenant", "name", name="uq_policies_tenant_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(63), ForeignKey("tenants.name"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    latest_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class PolicyVersionRow(Base):
    __tablename__ = "policy_versions"
    __table_args__ = (UniqueConstraint("policy_id", "version", name="uq_policy_versions_policy_version"),)

    serial: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    """Increases across all policies: the monotonic version a signed config carries."""
    policy_id: Mapped[str] = mapped_column(String(32), ForeignKey("policies.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]]
    source: Mapped[str] = mapped_column(Text)
    source_media_type: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(128))
    rollback_of: Mapped[int | None] = mapped_column(Integer)


class ModuleRow(Base):
    __tablename__ = "modules"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    capabilities: Mapped[list[str]]
    signed_by: Mapped[str | None] = mapped_column(String(64))
    build_id: Mapped[str] = mapped_column(String(64))
    trust_version: Mapped[int | None] = mapped_column(Integer)
    uploaded_at: Mapped[datetime]
    uploaded_by: Mapped[str] = mapped_column(String(128))


class SigningKeyRow(Base):
    __tablename__ = "signing_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]


class GenerationRow(Base):
    """One row; bumped by every transaction that changes what sidecars are served."""

    __tablename__ = "config_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class NodeStatusRow(Base):
    __tablename__ = "node_status"

    node_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    resource_name: Mapped[str] = mapped_column(String(128), primary_key=True)
    tenant: Mapped[str | None] = mapped_column(String(63), index=True)
    policy_id: Mapped[str | None] = mapped_column(String(32), index=True)
    served_version: Mapped[str | None] = mapped_column(String(128))
    acked_version: Mapped[str | None] = mapped_column(String(128))
    nacked_version: Mapped[str | None] = mapped_column(String(128))
    error_detail: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]
    replica_id: Mapped[str] = mapped_column(String(128))


class AuditRow(Base):
    """Append-only: the migration installs triggers that refuse UPDATE and DELETE."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(32))
    tenant: Mapped[str | None] = mapped_column(String(63), index=True)
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(128))
    before_hash: Mapped[str | None] = mapped_column(String(64))
    after_hash: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]]


class TelemetryNodeRow(Base):
    """A sidecar (Envoy node) allowed to send telemetry: its credential, kept as a SHA-256
    only, the tenant and service its events belong to, and what it has sent so far."""

    __tablename__ = "telemetry_nodes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node_id: Mapped[str] = mapped_column(String(256), unique=True)
    tenant: Mapped[str] = mapped_column(String(63), ForeignKey("tenants.name"), index=True)
    service: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(128))
    revoked_at: Mapped[datetime | None]
    last_batch_at: Mapped[datetime | None]
    batches: Mapped[int] = mapped_column(BigInteger)
    events_accepted: Mapped[int] = mapped_column(BigInteger)
    events_duplicate: Mapped[int] = mapped_column(BigInteger)
    events_rejected: Mapped[int] = mapped_column(BigInteger)
    events_dropped: Mapped[int] = mapped_column(BigInteger)
    """Events the node's filters reported dropping (the batches' `dropped` fields)."""
    credential_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Mixed into the node's derived credential; rotating the credential moves it on."""


class TelemetryEventRow(Base):
    """One stored observation: an anomaly event, or one detector's findings at one location
    of a finding event (`part` numbers them). Never a raw value: `detail` is the event as
    the collector validated it, unknown fields left out."""

    __tablename__ = "telemetry_events"
    __table_args__ = (
        UniqueConstraint("node_ref", "event_id", "part", name="uq_telemetry_events_node_event_part"),
        # Queries and retention both go by tenant and time; every index costs ingest speed.
        Index("ix_telemetry_events_tenant_time", "tenant", "time_ms"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(63))
    node_ref: Mapped[int] = mapped_column(Integer, ForeignKey("telemetry_nodes.id"))
    event_id: Mapped[str] = mapped_column(String(64))
    part: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(16))
    time_ms: Mapped[int] = mapped_column(BigInteger)
    received_ms: Mapped[int] = mapped_column(BigInteger)
    module: Mapped[str] = mapped_column(String(64))
    plugin: Mapped[str] = mapped_column(String(128))
    service: Mapped[str] = mapped_column(String(128))
    peer: Mapped[str | None] = mapped_column(String(256))
    direction: Mapped[str | None] = mapped_column(String(8))
    route: Mapped[str | None] = mapped_column(String(128))
    method: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[int | None] = mapped_column(Integer)
    request_id: Mapped[str | None] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(16))
    enforced: Mapped[bool] = mapped_column(Boolean)
    detector: Mapped[str | None] = mapped_column(String(64))
    findings: Mapped[int] = mapped_column(Integer)
    """Values found: of `detector` at `location` (finding), or in the identity's window (anomaly)."""
    score: Mapped[float | None] = mapped_column(Float)
    location_kind: Mapped[str | None] = mapped_column(String(8))
    """body, header, query or cookie."""
    location: Mapped[str | None] = mapped_column(String(256))
    """JSON path (`$.cards[*].number`), form field or header name; never a value."""
    masked_sample: Mapped[str | None] = mapped_column(String(128))
    fingerprints: Mapped[str | None] = mapped_column(String(160))
    """Keyed fingerprints of the values, hex, space-separated."""
    identity_kind: Mapped[str | None] = mapped_column(String(32))
    identity: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict[str, Any]]
