"""Events as CSV or JSON lines, streamed page by page so an export of a month costs no more
memory than a page. CSV cells that a spreadsheet would run as a formula are quoted with a
leading apostrophe (request paths and route names come from traffic)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from controlplane.storage.tables import TelemetryEventRow
from controlplane.telemetry.query import EventFilter, list_events

PAGE_ROWS = 1_000
CSV_COLUMNS = (
    "id",
    "time",
    "type",
    "tenant",
    "service",
    "peer",
    "direction",
    "route",
    "method",
    "status",
    "request_id",
    "action",
    "enforced",
    "detector",
    "findings",
    "score",
    "location_kind",
    "location",
    "masked_sample",
    "fingerprints",
    "identity_kind",
    "identity",
    "event_id",
    "part",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def iso_time(time_ms: int) -> str:
    return (
        datetime.fromtimestamp(time_ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def flat_event(row: TelemetryEventRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "time": iso_time(row.time_ms),
        "type": row.type,
        "tenant": row.tenant,
        "service": row.service,
        "peer": row.peer,
        "direction": row.direction,
        "route": row.route,
        "method": row.method,
        "status": row.status,
        "request_id": row.request_id,
        "action": row.action,
        "enforced": row.enforced,
        "detector": row.detector,
        "findings": row.findings,
        "score": row.score,
        "location_kind": row.location_kind,
        "location": row.location,
        "masked_sample": row.masked_sample,
        "fingerprints": row.fingerprints,
        "identity_kind": row.identity_kind,
        "identity": row.identity,
        "event_id": row.event_id,
        "part": row.part,
    }


def _pages(
    open_session: Callable[[], Any], event_filter: EventFilter, limit: int
) -> Iterator[TelemetryEventRow]:
    before: tuple[int, int] | None = None
    left = limit
    while left > 0:
        session: Session
        with open_session() as session:
            page = list_events(session, event_filter, min(PAGE_ROWS, left), before)
        yield from page
        if len(page) < min(PAGE_ROWS, left):
            return
        left -= len(page)
        before = (page[-1].time_ms, page[-1].id)


def csv_lines(open_session: Callable[[], Any], event_filter: EventFilter, limit: int) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    yield _drain(buffer)
    for row in _pages(open_session, event_filter, limit):
        writer.writerow({name: _cell(value) for name, value in flat_event(row).items()})
        yield _drain(buffer)


def json_lines(open_session: Callable[[], Any], event_filter: EventFilter, limit: int) -> Iterator[str]:
    for row in _pages(open_session, event_filter, limit):
        yield json.dumps({**flat_event(row), "detail": row.detail}, separators=(",", ":")) + "\n"


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
