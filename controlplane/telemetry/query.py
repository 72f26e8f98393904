"""What analysts ask of stored events: lists by filter (newest first, cursor paged), counts
over time buckets, top-N by a dimension, the sensitive-data flow map and the most
anomalous identities. Tenant scope is part of every filter, so no query can cross it.

The numbers every aggregate gives: `findings` (sensitive values found, the sum of finding
counts), `anomalies` (anomaly events) and `blocked` (events whose exchange a filter refused
or cut short: a DLP block, a UEBA block or throttle).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from controlplane.storage.tables import TelemetryEventRow as Events

DIMENSIONS: dict[str, InstrumentedAttribute[Any]] = {
    "detector": Events.detector,
    "service": Events.service,
    "route": Events.route,
    "identity": Events.identity,
    "action": Events.action,
    "peer": Events.peer,
    "type": Events.type,
    "tenant": Events.tenant,
    "module": Events.module,
}
"""Dimensions a top-N or a time series can be grouped by."""


@dataclass(frozen=True)
class EventFilter:
    scope: frozenset[str] | None
    """Tenants the caller may see; None: all."""
    since_ms: int | None = None
    until_ms: int | None = None
    """Exclusive."""
    types: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    routes: tuple[str, ...] = ()
    detectors: tuple[str, ...] = ()
    identities: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    peers: tuple[str, ...] = ()

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.scope is not None:
            found.append(Events.tenant.in_(sorted(self.scope)))
        if self.since_ms is not None:
            found.append(Events.time_ms >= self.since_ms)
        if self.until_ms is not None:
            found.append(Events.time_ms < self.until_ms)
        for column, values in (
            (Events.type, self.types),
            (Events.tenant, self.tenants),
            (Events.service, self.services),
            (Events.route, self.routes),
            (Events.detector, self.detectors),
            (Events.identity, self.identities),
            (Events.action, self.actions),
            (Events.peer, self.peers),
        ):
            if values:
                found.append(column.in_(values))
        return found


@dataclass(frozen=True)
class Tally:
    findings: int
    anomalies: int
    blocked: int


@dataclass(frozen=True)
class Bucket:
    start_ms: int
    key: str | None
    tally: Tally


@dataclass(frozen=True)
class TopEntry:
    keys: tuple[str | None, ...]
    tally: Tally
    max_score: float | None
    last_ms: int


@dataclass(frozen=True)
class Flow:
    """Sensitive data (or anomalous behaviour) moving from `source` to `destination`."""

    source: str
    destination: str
    detector: str | None
    tally: Tally


@dataclass(frozen=True)
class IdentitySummary:
    identity: str
    kind: str | None
    anomalies: int
    max_score: float
    last_ms: int
    services: tuple[str, ...]
    worst: Events
    """The identity's highest-scoring anomaly: its reasons hold features against baseline."""


_FINDINGS = func.coalesce(func.sum(case((Events.type == "finding", Events.findings), else_=0)), 0)
_ANOMALIES = func.coalesce(func.sum(case((Events.type == "anomaly", 1), else_=0)), 0)
_BLOCKED = func.coalesce(func.sum(case((and_(Events.part == 0, Events.enforced), 1), else_=0)), 0)


def _tally(findings: Any, anomalies: Any, blocked: Any) -> Tally:
    return Tally(int(findings or 0), int(anomalies or 0), int(blocked or 0))


def _where(query: Select[Any], event_filter: EventFilter) -> Select[Any]:
    conditions = event_filter.conditions()
    return query.where(*conditions) if conditions else query


def list_events(
    session: Session, event_filter: EventFilter, limit: int, before: tuple[int, int] | None = None
) -> list[Events]:
    """Newest first; `before` is the (time_ms, id) of the last event of the previous page."""
    query = _where(select(Events), event_filter)
    if before is not None:
        time_ms, row_id = before
        query = query.where(
            or_(Events.time_ms < time_ms, and_(Events.time_ms == time_ms, Events.id < row_id))
        )
    return list(session.scalars(query.order_by(Events.time_ms.desc(), Events.id.desc()).limit(limit)))


def get_event(session: Session, event_ref: int, scope: frozenset[str] | None) -> Events | None:
    row = session.get(Events, event_ref)
    if row is None or (scope is not None and row.tenant not in scope):
        return None
    return row


def event_parts(session: Session, row: Events) -> list[Events]:
    """Every stored row of the event `row` belongs to (the findings of one message)."""
    query = select(Events).where(Events.node_ref == row.node_ref, Events.event_id == row.event_id)
    return list(session.scalars(query.order_by(Events.part)))


def totals(session: Session, event_filter: EventFilter) -> Tally:
    found = session.execute(_where(select(_FINDINGS, _ANOMALIES, _BLOCKED), event_filter)).one()
    return _tally(*found)


def timeseries(
    session: Session, event_filter: EventFilter, bucket_ms: int, group_by: str | None
) -> list[Bucket]:
    assert bucket_ms > 0
    bucket = (Events.time_ms // bucket_ms) * bucket_ms
    key = DIMENSIONS[group_by] if group_by else None
    columns = [bucket.label("bucket"), *([key] if key is not None else []), _FINDINGS, _ANOMALIES, _BLOCKED]
    query = _where(select(*columns), event_filter).group_by(bucket, *([key] if key is not None else []))
    buckets = []
    # NULLS LAST on both databases (SQLite and PostgreSQL disagree by default).
    order = [bucket, *([key.asc().nulls_last()] if key is not None else [])]
    for row in session.execute(query.order_by(*order)):
        values = tuple(row)
        label = values[1] if key is not None else None
        buckets.append(Bucket(int(values[0]), label, _tally(*values[-3:])))
    return buckets


def top(
    session: Session, event_filter: EventFilter, by: tuple[str, ...], limit: int, rank: str = "findings"
) -> list[TopEntry]:
    """The `limit` most frequent combinations of the `by` dimensions (e.g. service and route)."""
    assert by, "group by at least one dimension"
    keys = [DIMENSIONS[name] for name in by]
    measure = {"findings": _FINDINGS, "anomalies": _ANOMALIES, "blocked": _BLOCKED}[rank]
    query = _where(
        select(*keys, _FINDINGS, _ANOMALIES, _BLOCKED, func.max(Events.score), func.max(Events.time_ms)),
        event_filter,
    ).group_by(*keys)
    ties = [key.asc().nulls_last() for key in keys]
    query = query.order_by(measure.desc(), _FINDINGS.desc(), _ANOMALIES.desc(), *ties).limit(limit)
    entries = []
    for row in session.execute(query):
        values = tuple(row)
        findings, anomalies, blocked, score, last = values[len(keys) :]
        entries.append(TopEntry(values[: len(keys)], _tally(findings, anomalies, blocked), score, int(last)))
    return entries


def flows(session: Session, event_filter: EventFilter, limit: int) -> list[Flow]:
    """Response findings flow from the service to its peer, request findings the other
    way; anomalies are drawn from the peer (whose behaviour it was) to the service."""
    query = _where(
        select(
            Events.service, Events.peer, Events.direction, Events.detector, _FINDINGS, _ANOMALIES, _BLOCKED
        ),
        event_filter,
    ).group_by(Events.service, Events.peer, Events.direction, Events.detector)
    merged: dict[tuple[str, str, str | None], list[int]] = defaultdict(lambda: [0, 0, 0])
    for service, peer, direction, detector, findings, anomalies, blocked in session.execute(query):
        other = peer or "unknown peer"
        source, destination = (service, other) if direction == "response" else (other, service)
        sums = merged[(source, destination, detector)]
        for index, value in enumerate((findings, anomalies, blocked)):
            sums[index] += int(value or 0)
    ordered = sorted(merged.items(), key=lambda item: (-item[1][0], -item[1][1], item[0][0], item[0][1]))
    return [
        Flow(source, destination, detector, _tally(*sums))
        for (source, destination, detector), sums in ordered[:limit]
    ]


def anomalous_identities(session: Session, event_filter: EventFilter, limit: int) -> list[IdentitySummary]:
    anomalies = [*event_filter.conditions(), Events.type == "anomaly", Events.identity.is_not(None)]
    ranked = (
        select(
            Events.identity,
            func.count(),
            func.max(Events.score),
            func.max(Events.time_ms),
        )
        .where(*anomalies)
        .group_by(Events.identity)
        .order_by(func.max(Events.score).desc(), func.count().desc(), Events.identity)
        .limit(limit)
    )
    # The query excludes NULL identities; str() tells the type checker so.
    top_rows = [
        (str(identity), count, score, last) for identity, count, score, last in session.execute(ranked)
    ]
    if not top_rows:
        return []
    chosen = [identity for identity, *_ in top_rows]
    worst = _worst_events(session, anomalies, chosen)
    services = _services_of(session, anomalies, chosen)
    return [
        IdentitySummary(
            identity=identity,
            kind=worst[identity].identity_kind,
            anomalies=int(count),
            max_score=float(score or 0),
            last_ms=int(last),
            services=tuple(sorted(services[identity])),
            worst=worst[identity],
        )
        for identity, count, score, last in top_rows
    ]


def _worst_events(
    session: Session, anomalies: list[ColumnElement[bool]], identities: list[str]
) -> dict[str, Events]:
    order = func.row_number().over(
        partition_by=Events.identity, order_by=(Events.score.desc(), Events.time_ms.desc(), Events.id.desc())
    )
    ranked = (
        select(Events.id, order.label("position"))
        .where(*anomalies, Events.identity.in_(identities))
        .subquery()
    )
    chosen = select(Events).join(ranked, Events.id == ranked.c.id).where(ranked.c.position == 1)
    return {row.identity: row for row in session.scalars(chosen) if row.identity is not None}


def _services_of(
    session: Session, anomalies: list[ColumnElement[bool]], identities: list[str]
) -> dict[str, set[str]]:
    query = (
        select(Events.identity, Events.service).where(*anomalies, Events.identity.in_(identities)).distinct()
    )
    found: dict[str, set[str]] = defaultdict(set)
    for identity, service in session.execute(query):
        found[str(identity)].add(service)
    return found


def distinct_values(session: Session, event_filter: EventFilter, by: str, limit: int) -> list[str]:
    """Values a dimension takes (for filter pickers), most frequent first."""
    key = DIMENSIONS[by]
    query = _where(select(key, func.count()), event_filter).where(key.is_not(None)).group_by(key)
    return [value for value, _ in session.execute(query.order_by(func.count().desc(), key).limit(limit))]
