"""The FastAPI application: routers, problem-JSON errors, and the service it serves."""

from __future__ import annotations

from fastapi import FastAPI

from controlplane.api.context import ServiceContext
from controlplane.api.problems import install_problem_handlers
from controlplane.api.routers import (
    admin,
    audit_log,
    dry_run,
    health,
    keys,
    modules,
    policies,
    rollouts,
    telemetry,
    ui,
)
from controlplane.xds import rest_transport

DESCRIPTION = (
    "meshveil's control plane: data-protection policies, dry runs against recorded traffic, "
    "rollouts of signed filter configs to Envoy sidecars (ECDS), modules, keys, the audit log, "
    "telemetry from the sidecars with the analyst's queries, and the dashboard at /ui. "
    "Authenticate with `Authorization: Bearer TOKEN`; errors are RFC 9457 problem JSON."
)


def create_app(context: ServiceContext, *, xds_requires_mtls: bool = False) -> FastAPI:
    app = FastAPI(title="meshveil control plane", version="0.1.0", description=DESCRIPTION)
    app.state.service = context
    app.state.poll_sessions = rest_transport.PollSessions()
    app.state.xds_requires_mtls = xds_requires_mtls
    install_problem_handlers(app)
    # Routes are matched in order; telemetry ingest, hit by every sidecar's batches, first.
    for router in (
        telemetry.router,
        policies.router,
        dry_run.router,
        rollouts.router,
        modules.router,
        keys.router,
        audit_log.router,
        admin.router,
        health.router,
        rest_transport.router,
        ui.router,
    ):
        app.include_router(router)
    # Telemetry ingest skips the routing layers (routers/telemetry.py says why).
    app.add_middleware(telemetry.IngestFastPath)
    return app
