"""Bearer tokens: checking one, and the admin token a fresh installation starts with."""

from __future__ import annotations

import os
from pathlib import Path

from controlplane.auth.principal import Principal
from controlplane.auth.roles import ALL_TENANTS, Role
from controlplane.storage import audit
from controlplane.storage import tokens as token_store
from controlplane.storage.database import Database

ADMIN_TOKEN_FILE = "admin-token"  # noqa: S105 - a file name
_SYSTEM = audit.Actor(subject="system:bootstrap", role="system")


def authenticate(database: Database, token: str) -> Principal | None:
    with database.read() as session:
        row = token_store.find_active(session, token)
        if row is None:
            return None
        return Principal(token_id=row.id, name=row.name, role=Role(row.role), tenants=frozenset(row.tenants))


def bootstrap_admin_token(database: Database, data_dir: Path) -> Path | None:
    """On a database with no tokens at all, creates an all-tenant admin token and writes it
    to DATA_DIR/admin-token (mode 0600). Returns the file, or None when tokens exist."""
    with database.write() as session:
        if token_store.count(session) > 0:
            return None
        row, token = token_store.create(
            session, "bootstrap-admin", Role.ADMIN.value, [ALL_TENANTS], _SYSTEM.subject
        )
        audit.record(
            session,
            _SYSTEM,
            "token.create",
            "token",
            row.id,
            tenant=None,
            detail={"role": row.role, "tenants": row.tenants},
        )
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / ADMIN_TOKEN_FILE
        temporary = path.with_suffix(".partial")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(token + "\n")
        temporary.replace(path)
    return path
