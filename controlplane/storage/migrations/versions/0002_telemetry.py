"""Telemetry: the sidecars allowed to send it (per-node credentials) and the stored events.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "telemetry_nodes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("node_id", sa.String(256), nullable=False, unique=True),
        sa.Column("tenant", sa.String(63), sa.ForeignKey("tenants.name"), nullable=False),
        sa.Column("service", sa.String(128), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("revoked_at", _TIMESTAMP, nullable=True),
        sa.Column("last_batch_at", _TIMESTAMP, nullable=True),
        sa.Column("batches", sa.BigInteger(), nullable=False),
        sa.Column("events_accepted", sa.BigInteger(), nullable=False),
        sa.Column("events_duplicate", sa.BigInteger(), nullable=False),
        sa.Column("events_rejected", sa.BigInteger(), nullable=False),
        sa.Column("events_dropped", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_telemetry_nodes_tenant", "telemetry_nodes", ["tenant"])
    op.create_table(
        "telemetry_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(63), nullable=False),
        sa.Column("node_ref", sa.Integer(), sa.ForeignKey("telemetry_nodes.id"), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("received_ms", sa.BigInteger(), nullable=False),
        sa.Column("module", sa.String(64), nullable=False),
        sa.Column("plugin", sa.String(128), nullable=False),
        sa.Column("service", sa.String(128), nullable=False),
        sa.Column("peer", sa.String(256), nullable=True),
        sa.Column("direction", sa.String(8), nullable=True),
        sa.Column("route", sa.String(128), nullable=True),
        sa.Column("method", sa.String(16), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("enforced", sa.Boolean(), nullable=False),
        sa.Column("detector", sa.String(64), nullable=True),
        sa.Column("findings", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("location_kind", sa.String(8), nullable=True),
        sa.Column("location", sa.String(256), nullable=True),
        sa.Column("masked_sample", sa.String(128), nullable=True),
        sa.Column("fingerprints", sa.String(160), nullable=True),
        sa.Column("identity_kind", sa.String(32), nullable=True),
        sa.Column("identity", sa.String(128), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.UniqueConstraint("node_ref", "event_id", "part", name="uq_telemetry_events_node_event_part"),
    )
    op.create_index("ix_telemetry_events_tenant_time", "telemetry_events", ["tenant", "time_ms"])


def downgrade() -> None:
    op.drop_table("telemetry_events")
    op.drop_table("telemetry_nodes")
