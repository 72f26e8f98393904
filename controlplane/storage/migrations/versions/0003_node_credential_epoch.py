"""Telemetry nodes: a credential epoch, mixed into a node's derived credential, so the ECDS
server's credential for a revoked node can be rotated (a new epoch, a new token) while the
old token stays dead.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("telemetry_nodes") as table:
        table.add_column(sa.Column("credential_epoch", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("telemetry_nodes") as table:
        table.drop_column("credential_epoch")
