"""/v1/audit: the append-only audit log, scoped to the caller's tenants."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from controlplane.api.context import ServiceContext
from controlplane.api.schemas import AuditEventOut
from controlplane.api.security import require, service
from controlplane.auth.principal import Principal
from controlplane.auth.roles import Permission
from controlplane.storage import audit
from controlplane.storage.clock import as_utc

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("", response_model=list[AuditEventOut])
def list_events(
    context: Annotated[ServiceContext, Depends(service)],
    principal: Annotated[Principal, Depends(require(Permission.AUDIT_READ))],
    after_id: Annotated[int, Query(ge=0, description="return events with a larger id (paging)")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEventOut]:
    # Events without a tenant (modules, keys, tokens) are platform-wide: admins see them.
    include_global = principal.all_tenants
    with context.database.read() as session:
        rows = audit.list_events(
            session, principal.tenant_scope(), include_global=include_global, after_id=after_id, limit=limit
        )
        return [
            AuditEventOut(
                id=row.id,
                at=as_utc(row.at),
                actor=row.actor,
                role=row.role,
                tenant=row.tenant,
                action=row.action,
                object_type=row.object_type,
                object_id=row.object_id,
                before_hash=row.before_hash,
                after_hash=row.after_hash,
                detail=row.detail,
            )
            for row in rows
        ]
