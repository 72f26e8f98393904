"""Retention: events older than the retention are not taken and are swept away, on SQLite
and PostgreSQL, by the collector on its own clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from controlplane.storage import tenants
from controlplane.storage.database import Database, migrate, open_database
from controlplane.storage.tables import TelemetryEventRow
from controlplane.telemetry import nodes
from controlplane.telemetry.ingest import Collector
from controlplane.telemetry.settings import TelemetrySettings
from tests.storage.databases import database_url
from tests.telemetry.support import anomaly, batch, finding

DAY_MS = 24 * 3600 * 1000
NOW_MS = 1_790_000_000_000


@dataclass
class Clock:
    now_ms: int = NOW_MS

    def __call__(self) -> int:
        return self.now_ms


@dataclass
class Setup:
    database: Database
    clock: Clock
    collector: Collector
    tokens: dict[str, str]


@pytest.fixture(params=["sqlite", "postgresql"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    with database_url(request.param, tmp_path) as url:
        database = open_database(url)
        try:
            migrate(database)
            tokens = {}
            with database.write() as session:
                for tenant in ("shop", "payments"):
                    tenants.create(session, tenant, [tenant])
                    tokens[tenant] = nodes.issue(session, f"node-{tenant}", tenant, None, "test").token
            clock = Clock()
            settings = TelemetrySettings(retention_days=7, sweep_rows_max=3)
            yield Setup(database, clock, Collector(database, settings, clock_ms=clock), tokens)
        finally:
            database.dispose()


def send(setup: Setup, tenant: str, events: list[dict[str, object]]) -> dict[str, int]:
    collector = setup.collector
    sender = collector.authenticate(setup.tokens[tenant], f"node-{tenant}")
    result = collector.ingest(sender, json.dumps(batch(f"node-{tenant}", events)).encode())
    return {"accepted": result.accepted, "expired": result.expired, "rejected": len(result.rejected)}


def stored_times(setup: Setup) -> list[int]:
    with setup.database.read() as session:
        return list(session.scalars(select(TelemetryEventRow.time_ms).order_by(TelemetryEventRow.time_ms)))


def test_events_older_than_the_retention_are_not_taken(setup: Setup) -> None:
    events = [
        anomaly(at_ms=NOW_MS - 8 * DAY_MS),
        anomaly(at_ms=NOW_MS - 6 * DAY_MS),
        anomaly(at_ms=NOW_MS + 60_000),  # within the allowed clock skew
        anomaly(at_ms=NOW_MS + 600_000),  # ten minutes ahead: a broken clock
    ]
    assert send(setup, "shop", events) == {"accepted": 2, "expired": 1, "rejected": 1}
    assert stored_times(setup) == [NOW_MS - 6 * DAY_MS, NOW_MS + 60_000]


def test_the_sweep_deletes_what_aged_out_in_steps_for_every_tenant(setup: Setup) -> None:
    for day in range(6, -1, -1):
        send(setup, "shop", [anomaly(at_ms=NOW_MS - day * DAY_MS), finding(at_ms=NOW_MS - day * DAY_MS)])
    send(setup, "payments", [anomaly(at_ms=NOW_MS - 6 * DAY_MS)])
    assert len(stored_times(setup)) == 15
    # Four days later, what is older than seven days is out: three days of shop events
    # (2 rows each) and the payments one, deleted at most three rows per transaction.
    setup.clock.now_ms = NOW_MS + 4 * DAY_MS
    assert setup.collector.sweep() == 7
    assert stored_times(setup) == sorted([NOW_MS - day * DAY_MS for day in range(4) for _ in range(2)])
    assert setup.collector.sweep() == 0
    # Due at once, then not again until the interval has passed.
    setup.clock.now_ms = NOW_MS + 30 * DAY_MS
    assert setup.collector.sweep_if_due() == 8
    send(setup, "shop", [anomaly(at_ms=NOW_MS + 23 * DAY_MS)])
    setup.clock.now_ms = NOW_MS + 40 * DAY_MS
    assert setup.collector.sweep_if_due() == 0
    with setup.database.read() as session:
        assert session.scalar(select(func.count()).select_from(TelemetryEventRow)) == 1
