"""/v1/policies: create, update, list, get, versions, diff, rollback, delete, and WasmPlugins
with signed configs for Istio-managed delivery."""

from __future__ import annotations

import json
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from controlplane.api import policy_service, wasmplugin_service
from controlplane.api.context import ServiceContext
from controlplane.api.problems import Problem
from controlplane.api.schemas import (
    FieldChangeOut,
    PolicyDiffOut,
    PolicyOut,
    PolicyVersionSummary,
    RollbackIn,
    WasmPluginsIn,
)
from controlplane.api.security import authorize, bearer_token, require, service
from controlplane.auth.principal import Principal
from controlplane.auth.roles import Permission
from controlplane.policy.diff import diff_documents
from controlplane.storage import policies
from controlplane.storage.policies import PolicyVersion

router = APIRouter(prefix="/v1/policies", tags=["policies"])

_POLICY_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A policy document (see deploy/examples/policy.yaml)",
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}

Context = Annotated[ServiceContext, Depends(service)]
Token = Annotated[str, Depends(bearer_token)]
Reader = Annotated[Principal, Depends(require(Permission.POLICY_READ))]
Writer = Annotated[Principal, Depends(require(Permission.POLICY_WRITE))]
RolloutWriter = Annotated[Principal, Depends(require(Permission.ROLLOUT_WRITE))]


async def _body(request: Request) -> policy_service.PolicyBody:
    media_type = request.headers.get("content-type", "application/json")
    return policy_service.PolicyBody(await request.body(), media_type)


def _if_match(value: str | None) -> int | None:
    if value is None:
        return None
    text = value.strip().strip('"')
    if not text.isdigit():
        raise Problem(400, 'If-Match must be a policy version number, e.g. If-Match: "3"')
    return int(text)


# Creating and updating authenticate on the worker thread that writes (`authorize`): the
# policy write path is the hot one, and each hop to the thread pool costs it under load.
@router.post("", status_code=201, response_model=PolicyOut, openapi_extra=_POLICY_BODY)
async def create_policy(request: Request, response: Response, context: Context, token: Token) -> PolicyOut:
    body = await _body(request)
    version = await run_in_threadpool(_create, context, token, body)
    response.headers["Location"] = f"/v1/policies/{version.policy_id}"
    response.headers["ETag"] = f'"{version.version}"'
    return PolicyOut.of(version)


def _create(context: ServiceContext, token: str, body: policy_service.PolicyBody) -> PolicyVersion:
    principal = authorize(context, token, Permission.POLICY_WRITE)
    return policy_service.create_policy(context, principal, body)


@router.put("/{policy_id}", response_model=PolicyOut, openapi_extra=_POLICY_BODY)
async def update_policy(
    policy_id: str,
    *,
    request: Request,
    response: Response,
    context: Context,
    token: Token,
    if_match: Annotated[
        str | None, Header(description="apply only if the latest version is this one")
    ] = None,
) -> PolicyOut:
    body = await _body(request)
    version = await run_in_threadpool(_update, context, token, policy_id, body, if_match)
    response.headers["ETag"] = f'"{version.version}"'
    return PolicyOut.of(version)


def _update(
    context: ServiceContext,
    token: str,
    policy_id: str,
    body: policy_service.PolicyBody,
    if_match: str | None,
) -> PolicyVersion:
    principal = authorize(context, token, Permission.POLICY_WRITE)
    return policy_service.update_policy(context, principal, policy_id, body, _if_match(if_match))


@router.get("", response_model=list[PolicyOut])
def list_policies(
    context: Context, principal: Reader, tenant: Annotated[str | None, Query()] = None
) -> list[PolicyOut]:
    scope = principal.tenant_scope()
    if tenant is not None:
        scope = frozenset({tenant}) if principal.sees(tenant) else frozenset()
    with context.database.read() as session:
        out = []
        for row in policies.list_policies(session, scope):
            version = policies.get_version(session, row)
            assert version is not None, "a live policy always has its latest version"
            out.append(PolicyOut.of(version))
    return out


@router.get("/{policy_id}", response_model=PolicyOut)
def get_policy(
    policy_id: str,
    context: Context,
    principal: Reader,
    version: Annotated[int | None, Query(ge=1, description="a past version (default: latest)")] = None,
) -> PolicyOut:
    with context.database.read() as session:
        row = policy_service.load_visible(session, principal, policy_id)
        found = policies.get_version(session, row, version)
    if found is None:
        raise Problem(404, f"policy version {version} not found")
    return PolicyOut.of(found)


@router.get("/{policy_id}/versions", response_model=list[PolicyVersionSummary])
def list_versions(policy_id: str, context: Context, principal: Reader) -> list[PolicyVersionSummary]:
    with context.database.read() as session:
        row = policy_service.load_visible(session, principal, policy_id)
        versions = policies.list_versions(session, row)
    return [
        PolicyVersionSummary(
            version=item.version,
            serial=item.serial,
            content_hash=item.content_hash,
            created_at=item.created_at,
            created_by=item.created_by,
            rollback_of=item.rollback_of,
        )
        for item in versions
    ]


@router.get("/{policy_id}/diff", response_model=PolicyDiffOut)
def diff_versions(
    policy_id: str,
    context: Context,
    principal: Reader,
    from_version: Annotated[int, Query(alias="from", ge=1)],
    to_version: Annotated[int | None, Query(alias="to", ge=1, description="default: latest")] = None,
) -> PolicyDiffOut:
    with context.database.read() as session:
        row = policy_service.load_visible(session, principal, policy_id)
        before = policies.get_version(session, row, from_version)
        after = policies.get_version(session, row, to_version)
    if before is None or after is None:
        missing = from_version if before is None else to_version
        raise Problem(404, f"policy version {missing} not found")
    changes = [
        FieldChangeOut(path=change.path, kind=change.kind.value, before=change.before, after=change.after)
        for change in diff_documents(before.document, after.document)
    ]
    return PolicyDiffOut(
        policy_id=policy_id, from_version=before.version, to_version=after.version, changes=changes
    )


@router.post("/{policy_id}/rollback", status_code=201, response_model=PolicyOut)
def rollback(policy_id: str, body: RollbackIn, context: Context, principal: RolloutWriter) -> PolicyOut:
    """Serve an earlier version's content again, as a new and higher version."""
    return PolicyOut.of(policy_service.rollback_policy(context, principal, policy_id, body.version))


@router.post(
    "/{policy_id}/wasmplugins",
    response_class=Response,
    responses={
        200: {
            "description": "One WasmPlugin per filter and workload selector, as YAML documents "
            '(`kubectl apply -f -`), or `{"items": [...]}` with `Accept: application/json`',
            "content": {"application/yaml": {"schema": {"type": "string"}}, "application/json": {}},
        }
    },
)
def render_wasmplugins(
    policy_id: str, body: WasmPluginsIn, request: Request, context: Context, principal: RolloutWriter
) -> Response:
    """Istio-managed delivery of the latest version, signed: each WasmPlugin's pluginConfig is
    the signed config bundle its filter verifies, valid for `validity_seconds`."""
    render = wasmplugin_service.RenderRequest(
        validity=body.validity_seconds,
        sources={
            name: wasmplugin_service.ModuleSource(source.url, source.sha256)
            for name, source in body.modules.items()
        },
    )
    manifests = wasmplugin_service.render_wasmplugins(context, principal, policy_id, render)
    if "application/json" in request.headers.get("accept", ""):
        return Response(json.dumps({"items": manifests}), media_type="application/json")
    return Response(yaml.safe_dump_all(manifests, sort_keys=False), media_type="application/yaml")


@router.delete("/{policy_id}", status_code=204)
def delete_policy(policy_id: str, context: Context, principal: Writer) -> Response:
    policy_service.delete_policy(context, principal, policy_id)
    return Response(status_code=204)
