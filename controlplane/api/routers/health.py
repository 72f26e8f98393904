"""/healthz, /readyz and /metrics (Prometheus text exposition)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.responses import PlainTextResponse

from controlplane.api.context import ServiceContext
from controlplane.api.metrics import render_metrics
from controlplane.api.problems import Problem
from controlplane.api.security import service
from controlplane.storage import generation

router = APIRouter(tags=["health"])
Context = Annotated[ServiceContext, Depends(service)]


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(context: Context) -> dict[str, object]:
    try:
        with context.database.read() as session:
            current = generation.current(session)
    except Exception as error:
        raise Problem(503, f"database unavailable: {type(error).__name__}") from error
    snapshot = context.hub.snapshot
    if snapshot.generation < 0:
        raise Problem(503, "no config snapshot built yet")
    return {
        "status": "ready",
        "generation": current,
        "snapshot_generation": snapshot.generation,
        "problems": list(snapshot.problems),
    }


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(context: Context) -> Response:
    return Response(render_metrics(context), media_type="text/plain; version=0.0.4; charset=utf-8")
