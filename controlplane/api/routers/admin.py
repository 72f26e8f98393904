"""/v1/tenants and /v1/tokens: platform administration (admin tokens for every tenant)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from controlplane.api.context import ServiceContext
from controlplane.api.problems import Problem
from controlplane.api.schemas import TenantIn, TenantOut, TokenCreatedOut, TokenIn, TokenOut
from controlplane.api.security import ensure_all_tenants, require, service
from controlplane.auth.principal import Principal
from controlplane.auth.roles import ALL_TENANTS, Permission, Role
from controlplane.storage import audit, generation, tenants, tokens
from controlplane.storage.clock import as_utc
from controlplane.storage.tables import TokenRow
from controlplane.storage.tenants import TenantConflictError

router = APIRouter(prefix="/v1", tags=["administration"])
Context = Annotated[ServiceContext, Depends(service)]
TenantAdmin = Annotated[Principal, Depends(require(Permission.TENANT_MANAGE))]
TokenAdmin = Annotated[Principal, Depends(require(Permission.TOKEN_MANAGE))]


@router.post("/tenants", status_code=201, response_model=TenantOut)
def create_tenant(body: TenantIn, context: Context, principal: TenantAdmin) -> TenantOut:
    ensure_all_tenants(principal)
    with context.database.write() as session:
        try:
            row = tenants.create(session, body.name, body.namespaces)
        except TenantConflictError as error:
            raise Problem(409, str(error), kind="tenant-conflict") from error
        audit.record(
            session,
            principal.actor(),
            "tenant.create",
            "tenant",
            row.name,
            tenant=row.name,
            detail={"namespaces": row.namespaces},
        )
        generation.bump(session)
    context.hub.publish()
    return TenantOut(name=row.name, namespaces=row.namespaces, created_at=as_utc(row.created_at))


@router.get("/tenants", response_model=list[TenantOut])
def list_tenants(
    context: Context, principal: Annotated[Principal, Depends(require(Permission.POLICY_READ))]
) -> list[TenantOut]:
    with context.database.read() as session:
        rows = [row for row in tenants.list_all(session) if principal.sees(row.name)]
    return [
        TenantOut(name=row.name, namespaces=row.namespaces, created_at=as_utc(row.created_at)) for row in rows
    ]


def _token_out(row: TokenRow) -> TokenOut:
    return TokenOut(
        id=row.id,
        name=row.name,
        role=row.role,
        tenants=row.tenants,
        created_at=as_utc(row.created_at),
        created_by=row.created_by,
        revoked_at=as_utc(row.revoked_at) if row.revoked_at else None,
    )


@router.post("/tokens", status_code=201, response_model=TokenCreatedOut)
def create_token(body: TokenIn, context: Context, principal: TokenAdmin) -> TokenCreatedOut:
    ensure_all_tenants(principal)
    try:
        role = Role(body.role)
    except ValueError as error:
        roles = ", ".join(item.value for item in Role)
        raise Problem(422, f"role: must be one of {roles}", kind="invalid-request") from error
    if ALL_TENANTS in body.tenants and role is not Role.ADMIN:
        raise Problem(
            422, "tenants: only admin tokens may be scoped to every tenant ('*')", kind="invalid-request"
        )
    with context.database.write() as session:
        unknown = [
            name for name in body.tenants if name != ALL_TENANTS and tenants.get(session, name) is None
        ]
        if unknown:
            raise Problem(422, f"tenants: unknown tenant(s) {', '.join(unknown)}", kind="invalid-request")
        row, token = tokens.create(session, body.name, role.value, body.tenants, principal.actor().subject)
        audit.record(
            session,
            principal.actor(),
            "token.create",
            "token",
            row.id,
            tenant=None,
            detail={"role": row.role, "tenants": row.tenants},
        )
    return TokenCreatedOut(**_token_out(row).model_dump(), token=token)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(context: Context, principal: TokenAdmin) -> list[TokenOut]:
    ensure_all_tenants(principal)
    with context.database.read() as session:
        return [_token_out(row) for row in tokens.list_all(session)]


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: str, context: Context, principal: TokenAdmin) -> Response:
    ensure_all_tenants(principal)
    with context.database.write() as session:
        row = tokens.get(session, token_id)
        if row is None:
            raise Problem(404, "token not found")
        tokens.revoke(session, row)
        audit.record(
            session,
            principal.actor(),
            "token.revoke",
            "token",
            row.id,
            tenant=None,
            detail={"name": row.name},
        )
    return Response(status_code=204)
