"""Request and response bodies of the telemetry endpoints (pydantic, so /docs shows them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from controlplane.storage.clock import as_utc
from controlplane.storage.tables import TelemetryEventRow, TelemetryNodeRow
from controlplane.telemetry.export import iso_time
from controlplane.telemetry.ingest import IngestResult
from controlplane.telemetry.query import Bucket, Flow, IdentitySummary, Tally, TopEntry


class NodeIn(BaseModel):
    model_config = {"extra": "forbid"}
    node_id: str = Field(min_length=1, max_length=256, description="the Envoy node id (`node.id`)")
    tenant: str = Field(min_length=1, max_length=63)
    service: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="the workload its events belong to (default: from an Istio node id's pod name)",
    )


class NodeOut(BaseModel):
    node_id: str
    tenant: str
    service: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    last_batch_at: datetime | None
    batches: int
    events_accepted: int
    events_duplicate: int
    events_rejected: int
    events_dropped: int = Field(description="events the node's filters reported dropping")

    @classmethod
    def of(cls, row: TelemetryNodeRow) -> NodeOut:
        return cls(
            node_id=row.node_id,
            tenant=row.tenant,
            service=row.service,
            created_at=as_utc(row.created_at),
            created_by=row.created_by,
            revoked_at=as_utc(row.revoked_at) if row.revoked_at else None,
            last_batch_at=as_utc(row.last_batch_at) if row.last_batch_at else None,
            batches=row.batches,
            events_accepted=row.events_accepted,
            events_duplicate=row.events_duplicate,
            events_rejected=row.events_rejected,
            events_dropped=row.events_dropped,
        )


class NodeCreatedOut(NodeOut):
    token: str = Field(description="the node's bearer token for POST /v1/telemetry; shown once")


class RejectedEventOut(BaseModel):
    index: int
    event_id: str | None
    reason: str


class IngestOut(BaseModel):
    batch_id: str
    accepted: int = Field(description="events stored now")
    duplicate: int = Field(description="events stored by an earlier attempt of the batch")
    expired: int = Field(description="events older than the retention, not stored")
    rejected: list[RejectedEventOut]
    samples_withheld: int = Field(description="masked samples not stored because they did not look masked")

    @classmethod
    def of(cls, result: IngestResult) -> IngestOut:
        return cls(
            batch_id=result.batch_id,
            accepted=result.accepted,
            duplicate=result.duplicate,
            expired=result.expired,
            rejected=[
                RejectedEventOut(index=item.index, event_id=item.event_id, reason=item.reason)
                for item in result.rejected
            ],
            samples_withheld=result.samples_withheld,
        )


class EventOut(BaseModel):
    id: int
    event_id: str
    part: int
    type: str
    time: str
    time_ms: int
    tenant: str
    service: str
    peer: str | None
    direction: str | None
    route: str | None
    method: str | None
    status: int | None
    request_id: str | None
    action: str
    enforced: bool
    detector: str | None
    findings: int = Field(description="values found (an anomaly: in the identity's window)")
    score: float | None
    location_kind: str | None = Field(description="body, header, query or cookie")
    location: str | None = Field(description="JSON path, header or field name of the finding")
    masked_sample: str | None = Field(description="the value as masked by the filter; never the raw value")
    fingerprints: list[str] = Field(description="keyed fingerprints of the values found there")
    identity_kind: str | None
    identity: str | None = Field(description="keyed hash of the identity")
    identity_value: str | None = Field(description="the identity itself, when the policy reveals its kind")

    @classmethod
    def of(cls, row: TelemetryEventRow) -> EventOut:
        return cls(
            id=row.id,
            event_id=row.event_id,
            part=row.part,
            type=row.type,
            time=iso_time(row.time_ms),
            time_ms=row.time_ms,
            tenant=row.tenant,
            service=row.service,
            peer=row.peer,
            direction=row.direction,
            route=row.route,
            method=row.method,
            status=row.status,
            request_id=row.request_id,
            action=row.action,
            enforced=row.enforced,
            detector=row.detector,
            findings=row.findings,
            score=row.score,
            location_kind=row.location_kind,
            location=row.location,
            masked_sample=row.masked_sample,
            fingerprints=row.fingerprints.split() if row.fingerprints else [],
            identity_kind=row.identity_kind,
            identity=row.identity,
            identity_value=_revealed(row.detail),
        )


def _revealed(detail: dict[str, Any]) -> str | None:
    entity = detail.get("entity")
    value = entity.get("value") if isinstance(entity, dict) else None
    return value if isinstance(value, str) else None


class EventPageOut(BaseModel):
    events: list[EventOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next (older) page")


class EventDetailOut(EventOut):
    node_id: str
    detail: dict[str, Any] = Field(description="the event as validated at ingest (no raw values)")
    parts: list[EventOut] = Field(description="every finding of the same event")


class TallyOut(BaseModel):
    findings: int = Field(description="sensitive values found (sum of finding counts)")
    anomalies: int = Field(description="anomaly events")
    blocked: int = Field(description="events whose exchange a filter refused or cut short")

    @classmethod
    def of(cls, tally: Tally) -> TallyOut:
        return cls(findings=tally.findings, anomalies=tally.anomalies, blocked=tally.blocked)


class BucketOut(TallyOut):
    start: str
    start_ms: int
    key: str | None

    @classmethod
    def of_bucket(cls, bucket: Bucket) -> BucketOut:
        return cls(
            start=iso_time(bucket.start_ms),
            start_ms=bucket.start_ms,
            key=bucket.key,
            **TallyOut.of(bucket.tally).model_dump(),
        )


class TimeseriesOut(BaseModel):
    bucket_seconds: int
    group_by: str | None
    buckets: list[BucketOut]


class TopEntryOut(TallyOut):
    keys: list[str | None] = Field(description="the entry's value of each `by` dimension, in order")
    max_score: float | None
    last: str

    @classmethod
    def of_entry(cls, entry: TopEntry) -> TopEntryOut:
        return cls(
            keys=list(entry.keys),
            max_score=entry.max_score,
            last=iso_time(entry.last_ms),
            **TallyOut.of(entry.tally).model_dump(),
        )


class TopOut(BaseModel):
    by: list[str]
    rank: str
    entries: list[TopEntryOut]


class FlowOut(TallyOut):
    source: str
    destination: str
    detector: str | None

    @classmethod
    def of_flow(cls, flow: Flow) -> FlowOut:
        return cls(
            source=flow.source,
            destination=flow.destination,
            detector=flow.detector,
            **TallyOut.of(flow.tally).model_dump(),
        )


class ReasonOut(BaseModel):
    kind: str
    feature: str | None
    value: float | None
    z: float | None
    baseline_mean: float | None
    baseline_stddev: float | None
    baseline_scope: str | None
    rule: str | None
    threshold: float | None


class IdentityOut(BaseModel):
    identity: str
    kind: str | None
    value: str | None = Field(description="the identity itself, only when the policy reveals its kind")
    anomalies: int
    max_score: float
    last: str
    services: list[str]
    worst_event: int = Field(description="id of the identity's highest-scoring anomaly")
    reasons: list[ReasonOut] = Field(description="that anomaly's features against the baseline")

    @classmethod
    def of(cls, summary: IdentitySummary) -> IdentityOut:
        detail = summary.worst.detail
        entity = detail.get("entity") or {}
        return cls(
            identity=summary.identity,
            kind=summary.kind,
            value=entity.get("value"),
            anomalies=summary.anomalies,
            max_score=summary.max_score,
            last=iso_time(summary.last_ms),
            services=list(summary.services),
            worst_event=summary.worst.id,
            reasons=[_reason(item) for item in detail.get("reasons", []) if isinstance(item, dict)],
        )


def _reason(item: dict[str, Any]) -> ReasonOut:
    baseline = item.get("baseline") or {}
    feature = item.get("feature") or ("hour_of_day" if item.get("kind") == "hour_of_day" else None)
    value = item.get("value", item.get("hour_utc"))
    return ReasonOut(
        kind=str(item.get("kind")),
        feature=feature,
        value=value,
        z=item.get("z"),
        baseline_mean=baseline.get("mean"),
        baseline_stddev=baseline.get("stddev"),
        baseline_scope=baseline.get("scope"),
        rule=item.get("rule"),
        threshold=item.get("threshold"),
    )
