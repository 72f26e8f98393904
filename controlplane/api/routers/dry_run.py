"""POST /v1/policies/{id}/dry-run: what the policy's filters would do to recorded traffic."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, UploadFile
from starlette.concurrency import run_in_threadpool

from controlplane.api import dry_run, policy_service
from controlplane.api.context import ServiceContext
from controlplane.api.problems import Problem
from controlplane.api.security import require, service
from controlplane.auth.principal import Principal
from controlplane.auth.roles import Permission

router = APIRouter(tags=["dry-run"])
MAX_TRAFFIC_BYTES = 64 * 1024 * 1024
Context = Annotated[ServiceContext, Depends(service)]
Runner = Annotated[Principal, Depends(require(Permission.POLICY_DRY_RUN))]


@router.post("/v1/policies/{policy_id}/dry-run")
async def dry_run_policy(
    policy_id: str,
    context: Context,
    principal: Runner,
    traffic: Annotated[UploadFile | None, File(description="a HAR or JSON lines capture")] = None,
    sample: Annotated[str | None, Query(description="a named capture from the sample set instead")] = None,
) -> dict[str, Any]:
    with context.database.read() as session:
        policy_service.load_visible(session, principal, policy_id)
    if (traffic is None) == (sample is None):
        raise Problem(
            422, "send exactly one of: a 'traffic' file upload, or ?sample=NAME", kind="invalid-request"
        )
    if traffic is not None:
        data = await traffic.read(MAX_TRAFFIC_BYTES + 1)
        if len(data) > MAX_TRAFFIC_BYTES:
            raise Problem(413, f"traffic uploads are limited to {MAX_TRAFFIC_BYTES} bytes")
        path = dry_run.spool_upload(data, traffic.filename or "upload")
        try:
            upload = f"upload:{traffic.filename or 'traffic'}"
            return await run_in_threadpool(dry_run.run_dry_run, context, policy_id, path, upload)
        finally:
            path.unlink(missing_ok=True)
    assert sample is not None
    return await run_in_threadpool(
        dry_run.run_dry_run, context, policy_id, dry_run.sample_path(context, sample), f"sample:{sample}"
    )


@router.get("/v1/samples", response_model=list[str])
def samples(context: Context, _principal: Runner) -> list[str]:
    return dry_run.list_samples(context)
