"""Tenants: a name and the namespaces whose workloads belong to it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.storage.clock import utc_now
from controlplane.storage.tables import TenantRow


class TenantConflictError(ValueError):
    pass


def create(session: Session, name: str, namespaces: list[str]) -> TenantRow:
    if session.get(TenantRow, name) is not None:
        raise TenantConflictError(f"tenant {name!r} already exists")
    owner = namespace_owners(session, frozenset(namespaces))
    if owner:
        taken = ", ".join(f"{namespace} (tenant {tenant})" for namespace, tenant in sorted(owner.items()))
        raise TenantConflictError(f"namespaces already belong to another tenant: {taken}")
    row = TenantRow(name=name, namespaces=sorted(namespaces), created_at=utc_now())
    session.add(row)
    return row


def get(session: Session, name: str) -> TenantRow | None:
    return session.get(TenantRow, name)


def list_all(session: Session) -> list[TenantRow]:
    return list(session.scalars(select(TenantRow).order_by(TenantRow.name)))


def namespace_owners(session: Session, namespaces: frozenset[str]) -> dict[str, str]:
    """namespace -> tenant, for the given namespaces that some tenant already holds."""
    owners = {}
    for row in list_all(session):
        for namespace in row.namespaces:
            if namespace in namespaces:
                owners[namespace] = row.name
    return owners
