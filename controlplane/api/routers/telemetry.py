"""/v1/telemetry: ingest from sidecars (per-node credentials), node credentials, and the
analyst's queries, aggregates and exports (permission telemetry.read, tenant-scoped)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.exc import IntegrityError
from starlette.background import BackgroundTask
from starlette.types import ASGIApp, Receive, Scope, Send

from controlplane.api.context import ServiceContext
from controlplane.api.problems import Problem, problem_response
from controlplane.api.security import ensure_scoped, ensure_visible, require, service
from controlplane.api.telemetry_schemas import (
    BucketOut,
    EventDetailOut,
    EventOut,
    EventPageOut,
    FlowOut,
    IdentityOut,
    IngestOut,
    NodeCreatedOut,
    NodeIn,
    NodeOut,
    TallyOut,
    TimeseriesOut,
    TopEntryOut,
    TopOut,
)
from controlplane.auth.principal import Principal
from controlplane.auth.roles import Permission
from controlplane.storage import audit, generation, tenants
from controlplane.storage.tables import TelemetryNodeRow
from controlplane.telemetry import export, nodes, query
from controlplane.telemetry.ingest import IngestError
from controlplane.telemetry.peer import XfccError, peer_of
from controlplane.telemetry.query import DIMENSIONS, EventFilter
from controlplane.telemetry.wire import BatchEnvelope

INGEST_PATH = "/v1/telemetry"
router = APIRouter(prefix=INGEST_PATH, tags=["telemetry"])


Context = Annotated[ServiceContext, Depends(service)]
Analyst = Annotated[Principal, Depends(require(Permission.TELEMETRY_READ))]
NodeAdmin = Annotated[Principal, Depends(require(Permission.TOKEN_MANAGE))]

BATCH_BYTES_MAX = 1024 * 1024
BUCKETS_MAX = 10_000
EXPORT_ROWS_MAX = 1_000_000
Dimension = Literal["detector", "service", "route", "identity", "action", "peer", "type", "tenant", "module"]
assert set(Dimension.__args__) == set(DIMENSIONS)  # type: ignore[attr-defined]


# The sidecars' hot path: the handler takes the raw request and answers with ready JSON
# bytes, because FastAPI's per-request header parameters, dependencies and response-model
# validation cost more CPU than parsing and storing the batch. The schema below documents
# what FastAPI would otherwise infer.
_INGEST_OPENAPI: dict[str, Any] = {
    "parameters": [
        {
            "name": "authorization",
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": "`Bearer TOKEN`: the node's telemetry credential",
        },
        {
            "name": "x-meshveil-node",
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": "the Envoy node id the credential was issued to",
        },
        {
            "name": "x-forwarded-client-cert",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "set by a mesh proxy in front of the plane: the mTLS peer, checked "
            "against the node",
        },
    ],
    "requestBody": {
        "required": True,
        # The envelope; each event's fields are described in docs/telemetry.md.
        "content": {"application/json": {"schema": BatchEnvelope.model_json_schema()}},
    },
}


@router.post(
    "",
    response_model=IngestOut,
    summary="Ingest a batch of events from a sidecar",
    openapi_extra=_INGEST_OPENAPI,
)
async def ingest(request: Request) -> Response:
    """The contract is docs/telemetry.md. 2xx: taken (events already stored are not stored
    again); 4xx: refused for good; 5xx: retry the same bytes later."""
    context: ServiceContext = request.app.state.service
    collector = context.collector
    headers = request.headers
    token = _bearer(headers.get("authorization"))
    node = headers.get("x-meshveil-node")
    try:
        peer = peer_of(headers.get("x-forwarded-client-cert"))
    except XfccError as error:
        raise Problem(400, str(error)) from error
    # The collector blocks on the database: off the event loop, which also serves xDS.
    try:
        sender = collector.authenticate_cached(token, node, peer)
        if sender is None:
            sender = await collector.run(collector.authenticate, token, node, peer)
    except IngestError as error:
        raise _problem(error) from error
    content_type = headers.get("content-type")
    if content_type is None or content_type.split(";")[0].strip().lower() != "application/json":
        raise Problem(415, "send the batch as application/json")
    body = await _bounded_body(request)
    try:
        result = await collector.run(collector.ingest, sender, body)
    except IngestError as error:
        raise _problem(error) from error
    sweep = BackgroundTask(collector.run, collector.sweep_if_due) if collector.sweep_due() else None
    return Response(IngestOut.of(result).model_dump_json(), media_type="application/json", background=sweep)


class IngestFastPath:
    """ASGI middleware that serves `POST /v1/telemetry` straight to `ingest`, past FastAPI's
    routing, exception and exit-stack layers, which cost a sidecar's batch about as much
    CPU as validating it. Everything else, and the route's OpenAPI entry, stay with
    FastAPI; unexpected errors still reach the server-error middleware outside this one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != INGEST_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        try:
            response = await ingest(Request(scope, receive))
        except Problem as problem:
            response = problem_response(problem, INGEST_PATH)
        await response(scope, receive, send)


def _bearer(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


async def _bounded_body(request: Request) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > BATCH_BYTES_MAX:
            raise Problem(413, f"a telemetry batch may be at most {BATCH_BYTES_MAX} bytes")
    return bytes(body)


def _problem(error: IngestError) -> Problem:
    challenge = {"WWW-Authenticate": 'Bearer realm="meshveil-telemetry"'} if error.status == 401 else None
    return Problem(error.status, error.detail, errors=error.problems, headers=challenge)


# --- node credentials ---------------------------------------------------------------------


@router.post(
    "/nodes",
    status_code=201,
    response_model=NodeCreatedOut,
    summary="Issue a node's credential, or a new one for a node whose credential was revoked",
)
def create_node(body: NodeIn, context: Context, principal: NodeAdmin) -> NodeCreatedOut:
    ensure_scoped(principal, body.tenant)
    with context.database.write() as session:
        if tenants.get(session, body.tenant) is None:
            raise Problem(422, f"tenant: unknown tenant {body.tenant!r}", kind="invalid-request")
        try:
            issued = nodes.issue(session, body.node_id, body.tenant, body.service, principal.actor().subject)
        except nodes.NodeConflictError as error:
            raise Problem(409, str(error), kind="conflict") from error
        except IntegrityError as error:  # another replica issued it meanwhile
            raise Problem(
                409, f"node {body.node_id!r} already has a telemetry credential", kind="conflict"
            ) from error
        if issued.rotated:
            context.collector.forget(body.node_id)
        audit.record(
            session,
            principal.actor(),
            "telemetry-node.rotate" if issued.rotated else "telemetry-node.create",
            "telemetry-node",
            body.node_id,
            tenant=body.tenant,
            detail={"service": issued.row.service, "credential": "issued"},
        )
        return NodeCreatedOut(**NodeOut.of(issued.row).model_dump(), token=issued.token)


@router.get("/nodes", response_model=list[NodeOut], summary="Nodes, with what each has sent and dropped")
def list_nodes(context: Context, principal: Analyst) -> list[NodeOut]:
    with context.database.read() as session:
        return [NodeOut.of(row) for row in nodes.list_nodes(session, principal.tenant_scope())]


@router.delete("/nodes/{node_id:path}", status_code=204, summary="Revoke a node's credential")
def revoke_node(node_id: str, context: Context, principal: NodeAdmin) -> Response:
    with context.database.write() as session:
        row = nodes.get(session, node_id)
        if row is None:
            raise Problem(404, "telemetry node not found")
        ensure_visible(principal, row.tenant, "telemetry node")
        nodes.revoke(row)
        context.collector.forget(node_id)
        audit.record(
            session, principal.actor(), "telemetry-node.revoke", "telemetry-node", node_id, tenant=row.tenant
        )
    return Response(status_code=204)


@router.post(
    "/nodes/{node_id:path}/rotate",
    response_model=NodeOut,
    summary="Rotate the credential the ECDS server derives for a node (live or revoked)",
)
def rotate_node(node_id: str, context: Context, principal: NodeAdmin) -> NodeOut:
    """The old token is refused at once; the node is served a config with its new one."""
    with context.database.write() as session:
        row = nodes.get(session, node_id)
        if row is None:
            raise Problem(404, "telemetry node not found")
        ensure_visible(principal, row.tenant, "telemetry node")
        try:
            nodes.rotate_derived(row)
        except nodes.NodeConflictError as error:
            raise Problem(409, str(error), kind="conflict") from error
        # Every replica rebuilds its snapshot, reads the new epoch and serves the new token.
        generation.bump(session)
        context.collector.forget(node_id)
        audit.record(
            session,
            principal.actor(),
            "telemetry-node.rotate",
            "telemetry-node",
            node_id,
            tenant=row.tenant,
            detail={"credential": "derived", "epoch": row.credential_epoch},
        )
        rotated = NodeOut.of(row)
    context.hub.publish()
    return rotated


# --- queries --------------------------------------------------------------------------------


def event_filter(
    *,
    principal: Analyst,
    since: Annotated[datetime | None, Query(description="events at or after (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="events before (ISO 8601)")] = None,
    type: Annotated[list[Literal["anomaly", "finding"]], Query()] = [],  # noqa: B006 - FastAPI's list query
    tenant: Annotated[list[str], Query()] = [],  # noqa: B006
    service: Annotated[list[str], Query()] = [],  # noqa: B006
    route: Annotated[list[str], Query()] = [],  # noqa: B006
    detector: Annotated[list[str], Query()] = [],  # noqa: B006
    identity: Annotated[list[str], Query(description="keyed identity hash")] = [],  # noqa: B006
    action: Annotated[list[str], Query()] = [],  # noqa: B006
    peer: Annotated[list[str], Query()] = [],  # noqa: B006
) -> EventFilter:
    """Every query's filter; repeat a parameter to match any of several values."""
    if since is not None and until is not None and since >= until:
        raise Problem(422, "since: must be before until", kind="invalid-request")
    return EventFilter(
        scope=principal.tenant_scope(),
        since_ms=_millis(since),
        until_ms=_millis(until),
        types=tuple(type),
        tenants=tuple(tenant),
        services=tuple(service),
        routes=tuple(route),
        detectors=tuple(detector),
        identities=tuple(identity),
        actions=tuple(action),
        peers=tuple(peer),
    )


Filter = Annotated[EventFilter, Depends(event_filter)]


def _millis(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise Problem(
            422, "since/until: give a time zone (e.g. 2026-01-01T00:00:00Z)", kind="invalid-request"
        )
    return round(moment.timestamp() * 1000)


@router.get("/events", response_model=EventPageOut, summary="Events matching the filters, newest first")
def list_events(
    context: Context,
    filters: Filter,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> EventPageOut:
    before = _cursor(cursor)
    with context.database.read() as session:
        rows = query.list_events(session, filters, limit, before)
    next_cursor = f"{rows[-1].time_ms}.{rows[-1].id}" if len(rows) == limit else None
    return EventPageOut(events=[EventOut.of(row) for row in rows], next_cursor=next_cursor)


def _cursor(cursor: str | None) -> tuple[int, int] | None:
    if cursor is None:
        return None
    time_part, _, id_part = cursor.partition(".")
    if not (time_part.isdigit() and id_part.isdigit()):
        raise Problem(
            422, "cursor: pass next_cursor from the previous page unchanged", kind="invalid-request"
        )
    return int(time_part), int(id_part)


@router.get(
    "/events/{event_ref}", response_model=EventDetailOut, summary="One event, with its other findings"
)
def get_event(event_ref: int, context: Context, principal: Analyst) -> EventDetailOut:
    with context.database.read() as session:
        row = query.get_event(session, event_ref, principal.tenant_scope())
        if row is None:
            raise Problem(404, "event not found")
        parts = query.event_parts(session, row)
        node = session.get(TelemetryNodeRow, row.node_ref)
        assert node is not None
        return EventDetailOut(
            **EventOut.of(row).model_dump(),
            node_id=node.node_id,
            detail=row.detail,
            parts=[EventOut.of(part) for part in parts],
        )


@router.get("/summary", response_model=TallyOut, summary="Totals over the filtered events")
def summary(context: Context, filters: Filter) -> TallyOut:
    with context.database.read() as session:
        return TallyOut.of(query.totals(session, filters))


@router.get("/timeseries", response_model=TimeseriesOut, summary="Counts per time bucket")
def timeseries(
    context: Context,
    filters: Filter,
    bucket_seconds: Annotated[int, Query(ge=1, le=31 * 24 * 3600)] = 3600,
    group_by: Annotated[Dimension | None, Query()] = None,
) -> TimeseriesOut:
    if filters.since_ms is not None and filters.until_ms is not None:
        buckets = (filters.until_ms - filters.since_ms) // (bucket_seconds * 1000)
        if buckets > BUCKETS_MAX:
            raise Problem(
                422,
                f"bucket_seconds: {buckets} buckets over this range; at most {BUCKETS_MAX}",
                kind="invalid-request",
            )
    with context.database.read() as session:
        found = query.timeseries(session, filters, bucket_seconds * 1000, group_by)
    return TimeseriesOut(
        bucket_seconds=bucket_seconds,
        group_by=group_by,
        buckets=[BucketOut.of_bucket(item) for item in found],
    )


@router.get("/top", response_model=TopOut, summary="Top values of one or more dimensions")
def top(
    context: Context,
    filters: Filter,
    by: Annotated[
        list[Dimension], Query(min_length=1, max_length=3, description="repeat: by=service&by=route")
    ],
    rank: Annotated[Literal["findings", "anomalies", "blocked"], Query()] = "findings",
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> TopOut:
    if len(set(by)) != len(by):
        raise Problem(422, "by: name each dimension once", kind="invalid-request")
    with context.database.read() as session:
        entries = query.top(session, filters, tuple(by), limit, rank)
    return TopOut(by=list(by), rank=rank, entries=[TopEntryOut.of_entry(entry) for entry in entries])


@router.get("/flows", response_model=list[FlowOut], summary="Sensitive data flow map: who sends what to whom")
def flows(
    context: Context, filters: Filter, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[FlowOut]:
    with context.database.read() as session:
        return [FlowOut.of_flow(flow) for flow in query.flows(session, filters, limit)]


@router.get("/identities", response_model=list[IdentityOut], summary="Most anomalous identities")
def identities(
    context: Context, filters: Filter, limit: Annotated[int, Query(ge=1, le=100)] = 10
) -> list[IdentityOut]:
    with context.database.read() as session:
        return [IdentityOut.of(item) for item in query.anomalous_identities(session, filters, limit)]


@router.get("/values", response_model=list[str], summary="Values a dimension takes (for filter pickers)")
def values(
    context: Context,
    filters: Filter,
    by: Annotated[Dimension, Query()],
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[str]:
    with context.database.read() as session:
        return query.distinct_values(session, filters, by, limit)


@router.get("/export", summary="Events as CSV or JSON lines", response_class=StreamingResponse)
def export_events(
    context: Context,
    filters: Filter,
    format: Annotated[Literal["csv", "jsonl"], Query()] = "csv",
    limit: Annotated[int, Query(ge=1, le=EXPORT_ROWS_MAX)] = 100_000,
) -> StreamingResponse:
    if format == "csv":
        lines = export.csv_lines(context.database.read, filters, limit)
        media_type = "text/csv; charset=utf-8"
    else:
        lines = export.json_lines(context.database.read, filters, limit)
        media_type = "application/x-ndjson"
    headers = {"Content-Disposition": f'attachment; filename="meshveil-telemetry.{format}"'}
    return StreamingResponse(lines, media_type=media_type, headers=headers)
