"""Policies and their versions. A version is never changed once written; a rollback is a
new, higher version carrying an older version's content."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.storage.clock import as_utc, utc_now
from controlplane.storage.tables import PolicyRow, PolicyVersionRow


class PolicyConflictError(ValueError):
    pass


class StaleVersionError(ValueError):
    """The caller expected a different latest version (optimistic concurrency)."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"the policy is at version {actual}, not {expected}")
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True)
class NewVersion:
    document: dict[str, Any]
    source: str
    media_type: str
    content_hash: str
    created_by: str
    rollback_of: int | None = None


@dataclass(frozen=True)
class PolicyVersion:
    policy_id: str
    tenant: str
    name: str
    version: int
    serial: int
    document: dict[str, Any]
    source: str
    media_type: str
    content_hash: str
    created_at: datetime
    created_by: str
    rollback_of: int | None


def _version(policy: PolicyRow, row: PolicyVersionRow) -> PolicyVersion:
    return PolicyVersion(
        policy_id=policy.id,
        tenant=policy.tenant,
        name=policy.name,
        version=row.version,
        serial=row.serial,
        document=row.document,
        source=row.source,
        media_type=row.source_media_type,
        content_hash=row.content_hash,
        created_at=as_utc(row.created_at),
        created_by=row.created_by,
        rollback_of=row.rollback_of,
    )


def create(session: Session, tenant: str, name: str, first: NewVersion) -> PolicyVersion:
    existing = session.scalar(select(PolicyRow).where(PolicyRow.tenant == tenant, PolicyRow.name == name))
    if existing is not None:
        state = "a deleted policy" if existing.deleted_at is not None else "a policy"
        raise PolicyConflictError(f"tenant {tenant!r} already has {state} named {name!r}")
    policy = PolicyRow(
        id=secrets.token_hex(8),
        tenant=tenant,
        name=name,
        latest_version=0,
        created_at=utc_now(),
        deleted_at=None,
    )
    session.add(policy)
    session.flush()
    return add_version(session, policy, first)


def add_version(
    session: Session, policy: PolicyRow, new: NewVersion, expected_version: int | None = None
) -> PolicyVersion:
    if expected_version is not None and expected_version != policy.latest_version:
        raise StaleVersionError(expected_version, policy.latest_version)
    policy.latest_version += 1
    row = PolicyVersionRow(
        policy_id=policy.id,
        version=policy.latest_version,
        document=new.document,
        source=new.source,
        source_media_type=new.media_type,
        content_hash=new.content_hash,
        created_at=utc_now(),
        created_by=new.created_by,
        rollback_of=new.rollback_of,
    )
    session.add(row)
    session.flush()
    return _version(policy, row)


def get(session: Session, policy_id: str, *, for_update: bool = False) -> PolicyRow | None:
    query = select(PolicyRow).where(PolicyRow.id == policy_id, PolicyRow.deleted_at.is_(None))
    if for_update:
        query = query.with_for_update()
    return session.scalar(query)


def get_version(session: Session, policy: PolicyRow, version: int | None = None) -> PolicyVersion | None:
    number = policy.latest_version if version is None else version
    row = session.scalar(
        select(PolicyVersionRow).where(
            PolicyVersionRow.policy_id == policy.id, PolicyVersionRow.version == number
        )
    )
    return _version(policy, row) if row is not None else None


def latest_content_hash(session: Session, policy: PolicyRow) -> str | None:
    """The latest version's content hash, without loading its document."""
    return session.scalar(
        select(PolicyVersionRow.content_hash).where(
            PolicyVersionRow.policy_id == policy.id, PolicyVersionRow.version == policy.latest_version
        )
    )


def list_versions(session: Session, policy: PolicyRow) -> list[PolicyVersion]:
    rows = session.scalars(
        select(PolicyVersionRow)
        .where(PolicyVersionRow.policy_id == policy.id)
        .order_by(PolicyVersionRow.version)
    )
    return [_version(policy, row) for row in rows]


def list_policies(session: Session, tenants: frozenset[str] | None) -> list[PolicyRow]:
    query = select(PolicyRow).where(PolicyRow.deleted_at.is_(None)).order_by(PolicyRow.tenant, PolicyRow.name)
    if tenants is not None:
        query = query.where(PolicyRow.tenant.in_(sorted(tenants)))
    return list(session.scalars(query))


def mark_deleted(policy: PolicyRow) -> None:
    policy.deleted_at = utc_now()


def active_versions(session: Session) -> list[PolicyVersion]:
    """The latest version of every policy that is not deleted: what sidecars are served."""
    rows = session.execute(
        select(PolicyRow, PolicyVersionRow)
        .join(
            PolicyVersionRow,
            (PolicyVersionRow.policy_id == PolicyRow.id)
            & (PolicyVersionRow.version == PolicyRow.latest_version),
        )
        .where(PolicyRow.deleted_at.is_(None))
        .order_by(PolicyRow.tenant, PolicyRow.name)
    )
    return [_version(policy, version) for policy, version in rows]


def version_by_serial(session: Session, serial: int) -> PolicyVersion | None:
    row = session.get(PolicyVersionRow, serial)
    if row is None:
        return None
    policy = session.get(PolicyRow, row.policy_id)
    assert policy is not None, "a version always has its policy"
    return _version(policy, row)
