"""Bearer-token authentication and role/tenant checks as FastAPI dependencies.

No or an unknown token: 401. A known token without the permission: 403. An object in a
tenant the token is not scoped to: 404, so tokens cannot probe other tenants' objects.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from controlplane.api.context import ServiceContext
from controlplane.api.problems import Problem
from controlplane.auth.principal import Principal
from controlplane.auth.roles import Permission
from controlplane.auth.tokens import authenticate

_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer mvt_…`")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="meshveil"'}


async def service(request: Request) -> ServiceContext:
    # async: a sync dependency costs every request a hop to the thread pool and back.
    context: ServiceContext = request.app.state.service
    return context


async def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The request's token, not yet checked against storage (no thread or database needed)."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Problem(401, "send an API token as 'Authorization: Bearer TOKEN'", headers=_CHALLENGE)
    return credentials.credentials


def principal_for(context: ServiceContext, token: str) -> Principal:
    """Looks the token up: blocking, so call it on a worker thread."""
    principal = authenticate(context.database, token)
    if principal is None:
        raise Problem(401, "the API token is unknown or revoked", headers=_CHALLENGE)
    return principal


def check_permission(principal: Principal, permission: Permission) -> Principal:
    if not principal.can(permission):
        raise Problem(403, f"role {principal.role.value} may not {permission.value}", kind="forbidden")
    return principal


def authorize(context: ServiceContext, token: str, permission: Permission) -> Principal:
    """`require(permission)` for a handler that authenticates on the worker thread doing its
    work: one hop to the thread pool per request instead of two."""
    return check_permission(principal_for(context, token), permission)


def current_principal(
    context: Annotated[ServiceContext, Depends(service)],
    token: Annotated[str, Depends(bearer_token)],
) -> Principal:
    return principal_for(context, token)


def require(permission: Permission) -> Callable[[Principal], Awaitable[Principal]]:
    # async: FastAPI runs sync dependencies on the thread pool, a hop a check does not need.
    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        return check_permission(principal, permission)

    return check


def ensure_visible(principal: Principal, tenant: str, what: str) -> None:
    """404 for objects of tenants the caller is not scoped to: their existence must not leak."""
    if not principal.sees(tenant):
        raise Problem(404, f"{what} not found")


def ensure_scoped(principal: Principal, tenant: str) -> None:
    """403 for writes into a tenant the caller is not scoped to (the caller named it)."""
    if not principal.sees(tenant):
        raise Problem(403, f"this token is not scoped to tenant {tenant!r}", kind="forbidden")


def ensure_all_tenants(principal: Principal) -> None:
    if not principal.all_tenants:
        raise Problem(403, "only tokens scoped to every tenant ('*') may do this", kind="forbidden")
