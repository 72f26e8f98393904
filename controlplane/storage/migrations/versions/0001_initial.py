"""Initial schema: tenants, tokens, policies and versions, modules, keys, generation,
node status and the append-only audit log.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TIMESTAMP = sa.DateTime(timezone=True)

_SQLITE_APPEND_ONLY = (
    "CREATE TRIGGER audit_events_no_{verb} BEFORE {verb_upper} ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
)
_POSTGRES_FUNCTION = (
    "CREATE FUNCTION meshveil_audit_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$ LANGUAGE plpgsql"
)
_POSTGRES_TRIGGER = (
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION meshveil_audit_append_only()"
)


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("namespaces", sa.JSON(), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("tenants", sa.JSON(), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("revoked_at", _TIMESTAMP, nullable=True),
    )
    op.create_table(
        "policies",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant", sa.String(63), sa.ForeignKey("tenants.name"), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("deleted_at", _TIMESTAMP, nullable=True),
        sa.UniqueConstraint("tenant", "name", name="uq_policies_tenant_name"),
    )
    op.create_index("ix_policies_tenant", "policies", ["tenant"])
    op.create_table(
        "policy_versions",
        sa.Column("serial", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("policy_id", sa.String(32), sa.ForeignKey("policies.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_media_type", sa.String(64), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("rollback_of", sa.Integer(), nullable=True),
        sa.UniqueConstraint("policy_id", "version", name="uq_policy_versions_policy_version"),
    )
    op.create_index("ix_policy_versions_policy_id", "policy_versions", ["policy_id"])
    op.create_table(
        "modules",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("signed_by", sa.String(64), nullable=True),
        sa.Column("build_id", sa.String(64), nullable=False),
        sa.Column("trust_version", sa.Integer(), nullable=True),
        sa.Column("uploaded_at", _TIMESTAMP, nullable=False),
        sa.Column("uploaded_by", sa.String(128), nullable=False),
    )
    op.create_index("ix_modules_name", "modules", ["name"])
    op.create_table(
        "signing_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", _TIMESTAMP, nullable=False),
        sa.Column("retired_at", _TIMESTAMP, nullable=True),
    )
    generation = op.create_table(
        "config_generation",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
    )
    op.bulk_insert(generation, [{"id": 1, "generation": 0, "updated_at": datetime.now(UTC)}])
    op.create_table(
        "node_status",
        sa.Column("node_id", sa.String(256), primary_key=True),
        sa.Column("resource_name", sa.String(128), primary_key=True),
        sa.Column("tenant", sa.String(63), nullable=True),
        sa.Column("policy_id", sa.String(32), nullable=True),
        sa.Column("served_version", sa.String(128), nullable=True),
        sa.Column("acked_version", sa.String(128), nullable=True),
        sa.Column("nacked_version", sa.String(128), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("updated_at", _TIMESTAMP, nullable=False),
        sa.Column("replica_id", sa.String(128), nullable=False),
    )
    op.create_index("ix_node_status_tenant", "node_status", ["tenant"])
    op.create_index("ix_node_status_policy_id", "node_status", ["policy_id"])
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", _TIMESTAMP, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("tenant", sa.String(63), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_type", sa.String(32), nullable=False),
        sa.Column("object_id", sa.String(128), nullable=False),
        sa.Column("before_hash", sa.String(64), nullable=True),
        sa.Column("after_hash", sa.String(64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_events_tenant", "audit_events", ["tenant"])
    _install_append_only_triggers()


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION meshveil_audit_append_only()")
    for table in (
        "audit_events",
        "node_status",
        "config_generation",
        "signing_keys",
        "modules",
        "policy_versions",
        "policies",
        "api_tokens",
        "tenants",
    ):
        op.drop_table(table)


def _install_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("update", "delete"):
            op.execute(_SQLITE_APPEND_ONLY.format(verb=verb, verb_upper=verb.upper()))
    elif dialect == "postgresql":
        op.execute(_POSTGRES_FUNCTION)
        op.execute(_POSTGRES_TRIGGER)
