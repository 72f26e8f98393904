"""/v1/keys: the config signing keys' public halves, and rotation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from controlplane.api.context import ServiceContext
from controlplane.api.schemas import KeyOut
from controlplane.api.security import ensure_all_tenants, require, service
from controlplane.auth.principal import Principal
from controlplane.auth.roles import Permission
from controlplane.storage import signing_keys
from controlplane.storage.clock import as_utc
from controlplane.trust.keys import PublicKey, public_key_pem

router = APIRouter(prefix="/v1/keys", tags=["keys"])
Context = Annotated[ServiceContext, Depends(service)]


def _list(context: ServiceContext) -> list[KeyOut]:
    with context.database.read() as session:
        rows = signing_keys.list_all(session)
    return [
        KeyOut(
            key_id=row.key_id,
            name=row.name,
            public_key_pem=public_key_pem(PublicKey(row.name, row.public_key)).decode("ascii"),
            state=row.state,
            created_at=as_utc(row.created_at),
            retired_at=as_utc(row.retired_at) if row.retired_at else None,
        )
        for row in rows
    ]


@router.get("", response_model=list[KeyOut])
def list_keys(
    context: Context, _principal: Annotated[Principal, Depends(require(Permission.KEY_READ))]
) -> list[KeyOut]:
    return _list(context)


@router.post("/rotate", status_code=201, response_model=list[KeyOut])
async def rotate_key(
    context: Context, principal: Annotated[Principal, Depends(require(Permission.KEY_ROTATE))]
) -> list[KeyOut]:
    """Generates a new signing key and re-signs every config with it. Filters trust it once
    the trust root lists it (a trust statement signed by the root keys)."""
    ensure_all_tenants(principal)

    def rotate_and_publish() -> None:
        context.keyring.rotate(principal.actor())
        context.hub.publish()

    await run_in_threadpool(rotate_and_publish)
    return _list(context)
