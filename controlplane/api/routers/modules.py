"""/v1/modules: upload a signed module, list them, and serve their bytes by sha256.

Uploads are admitted by the trust package against the configured trust root (signature,
claims, issuer, validity, capabilities); nothing unsigned is stored. The bytes endpoint
needs no token: Envoy fetches modules by URL without credentials, and the sha256 in the
pushed config (and the module's own signature) is what makes a fetched module trusted.
"""

from __future__ import annotations

import hashlib
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from controlplane.api.context import ServiceContext
from controlplane.api.problems import Problem
from controlplane.api.schemas import ModuleOut
from controlplane.api.security import ensure_all_tenants, require, service
from controlplane.auth.principal import Principal
from controlplane.auth.roles import Permission
from controlplane.storage import audit, generation, modules
from controlplane.storage.modules import ModuleInfo
from controlplane.trust.admission import AdmissionRequest, admit_module
from controlplane.trust.errors import TrustError
from controlplane.xds.resources import module_url

router = APIRouter(prefix="/v1/modules", tags=["modules"])

Context = Annotated[ServiceContext, Depends(service)]
MAX_MODULE_BYTES = 32 * 1024 * 1024
_SHA256_HEX = 64


def _out(info: ModuleInfo, base_url: str) -> ModuleOut:
    return ModuleOut(
        sha256=info.sha256,
        name=info.name,
        size=info.size,
        capabilities=list(info.capabilities),
        signed_by=info.signed_by,
        build_id=info.build_id,
        trust_version=info.trust_version,
        uploaded_at=info.uploaded_at,
        uploaded_by=info.uploaded_by,
        url=module_url(base_url, info.sha256),
    )


def _store(context: ServiceContext, principal: Principal, data: bytes) -> tuple[ModuleInfo, bool]:
    if context.trust_root is None:
        raise Problem(
            409,
            "no trust root is configured (--trust-root), so no module can be verified",
            kind="no-trust-root",
        )
    try:
        admitted = admit_module(
            data, AdmissionRequest(trust=context.trust_root.current, now=int(time.time()))
        )
    except TrustError as error:
        reason = getattr(error, "reason", None) or "refused"
        raise Problem(422, f"module refused: {error}", kind=f"module-{reason}") from error
    build = admitted.build
    with context.database.write() as session:
        info, created = modules.store(
            session,
            sha256=modules_sha256(data),
            name=admitted.claims.subject,
            data=data,
            capabilities=sorted(admitted.claims.granted),
            signed_by=admitted.claims.issuer,
            build_id=build.build_id if build is not None else admitted.claims.build_id,
            trust_version=build.trust_version if build is not None else None,
            uploaded_by=principal.actor().subject,
        )
        if created:
            audit.record(
                session,
                principal.actor(),
                "module.upload",
                "module",
                info.sha256,
                tenant=None,
                after=data,
                detail={"name": info.name, "size": info.size, "issuer": info.signed_by},
            )
            generation.bump(session)
    if created:
        context.hub.publish()
    return info, created


def modules_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@router.post(
    "",
    status_code=201,
    response_model=ModuleOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/wasm": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload_module(
    request: Request,
    response: Response,
    context: Context,
    principal: Annotated[Principal, Depends(require(Permission.MODULE_WRITE))],
) -> ModuleOut:
    ensure_all_tenants(principal)
    data = await request.body()
    if len(data) > MAX_MODULE_BYTES:
        raise Problem(413, f"a module may be at most {MAX_MODULE_BYTES} bytes")
    info, created = await run_in_threadpool(_store, context, principal, data)
    if not created:
        response.status_code = 200
    return _out(info, str(request.base_url).rstrip("/"))


@router.get("", response_model=list[ModuleOut])
def list_modules(
    request: Request,
    context: Context,
    _principal: Annotated[Principal, Depends(require(Permission.MODULE_READ))],
) -> list[ModuleOut]:
    with context.database.read() as session:
        found = modules.list_all(session)
    return [_out(info, str(request.base_url).rstrip("/")) for info in found]


@router.get("/{sha256}", response_model=ModuleOut)
def get_module(
    sha256: str,
    request: Request,
    context: Context,
    _principal: Annotated[Principal, Depends(require(Permission.MODULE_READ))],
) -> ModuleOut:
    with context.database.read() as session:
        info = modules.get_info(session, sha256.lower())
    if info is None:
        raise Problem(404, "module not found")
    return _out(info, str(request.base_url).rstrip("/"))


@router.get(
    "/{sha256}/bytes", response_class=Response, responses={200: {"content": {"application/wasm": {}}}}
)
def module_bytes(sha256: str, context: Context) -> Response:
    if len(sha256) != _SHA256_HEX:
        raise Problem(404, "module not found")
    with context.database.read() as session:
        data = modules.get_bytes(session, sha256.lower())
    if data is None:
        raise Problem(404, "module not found")
    return Response(
        data,
        media_type="application/wasm",
        headers={"ETag": f'"{sha256.lower()}"', "Cache-Control": "public, max-age=31536000, immutable"},
    )
