"""The append-only audit log: who changed what, when, with hashes of before and after."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from controlplane.storage.clock import utc_now
from controlplane.storage.tables import AuditRow


@dataclass(frozen=True)
class Actor:
    subject: str
    role: str


def content_hash(content: bytes | None) -> str | None:
    return hashlib.sha256(content).hexdigest() if content is not None else None


def record(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str,
    *,
    tenant: str | None,
    before: bytes | None = None,
    after: bytes | None = None,
    before_hash: str | None = None,
    after_hash: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Adds one event to the caller's transaction; it commits (or not) with the change itself.

    `before_hash`/`after_hash` stand for `content_hash(before)`/`content_hash(after)` when
    the caller already has them (a policy version stores its own)."""
    assert before is None or before_hash is None, "give the before content or its hash, not both"
    assert after is None or after_hash is None, "give the after content or its hash, not both"
    session.add(
        AuditRow(
            at=utc_now(),
            actor=actor.subject,
            role=actor.role,
            tenant=tenant,
            action=action,
            object_type=object_type,
            object_id=object_id,
            before_hash=before_hash if before is None else content_hash(before),
            after_hash=after_hash if after is None else content_hash(after),
            detail=detail or {},
        )
    )


def list_events(
    session: Session,
    tenants: frozenset[str] | None,
    *,
    include_global: bool,
    after_id: int = 0,
    limit: int = 100,
) -> list[AuditRow]:
    """Events in id order; `tenants` None means every tenant."""
    query = select(AuditRow).where(AuditRow.id > after_id).order_by(AuditRow.id).limit(limit)
    if tenants is not None:
        scope = AuditRow.tenant.in_(sorted(tenants))
        query = query.where(or_(scope, AuditRow.tenant.is_(None)) if include_global else scope)
    return list(session.scalars(query))
