"""The collector: authenticates a node, validates its batch, stores each event at most once,
keeps the node's running totals, forwards new events to OTLP, and runs retention.

A batch whose envelope is wrong is refused whole (the filter drops it at once: it would
never be taken). A bad event inside a good batch is left out and listed in the answer, so
one malformed event does not cost the rest. Events older than the retention are not
taken; events dated too far in the future are refused (a sidecar with a broken clock
must not fill tomorrow's charts).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pydantic import Field, TypeAdapter, ValidationError

from controlplane.policy.errors import FieldProblem
from controlplane.storage.clock import utc_now
from controlplane.storage.database import Database
from controlplane.storage.tokens import hash_token
from controlplane.telemetry import nodes, store
from controlplane.telemetry.peer import peer_mismatch
from controlplane.telemetry.records import Origin, StoredRow, anomaly_rows, finding_rows
from controlplane.telemetry.settings import TelemetrySettings
from controlplane.telemetry.validation import field_problems
from controlplane.telemetry.wire import EVENTS_PER_BATCH_MAX, AnomalyEvent, BatchEnvelope, Event, FindingEvent
from controlplane.xds.spiffe import SpiffeId

LOG = logging.getLogger(__name__)
_EVENT: TypeAdapter[AnomalyEvent | FindingEvent] = TypeAdapter(Event)
AUTH_CACHE_SECONDS = 1.0
"""How long a checked credential is trusted without asking the database again; a revoked
node is refused by every replica within this time (at once by the replica revoking it).
A busy node is then looked up once a second instead of once a batch."""
AUTH_CACHE_ENTRIES_MAX = 10_000
INGEST_THREADS_POSTGRES = 4
T = TypeVar("T")


class EventSink(Protocol):
    """Where new events go besides storage (the OTLP exporter)."""

    def export(self, rows: list[StoredRow]) -> None: ...

    def close(self) -> None: ...


class IngestError(Exception):
    """The request cannot be taken at all; `status` is the HTTP status to answer."""

    def __init__(self, status: int, detail: str, problems: list[FieldProblem] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.problems = problems or []


@dataclass(frozen=True)
class Sender:
    """The authenticated node, as its credential describes it."""

    node_ref: int
    node_id: str
    tenant: str
    service: str


@dataclass(frozen=True)
class RejectedEvent:
    index: int
    event_id: str | None
    reason: str


@dataclass(frozen=True)
class IngestResult:
    batch_id: str
    accepted: int
    duplicate: int
    expired: int
    rejected: list[RejectedEvent] = field(default_factory=list)
    samples_withheld: int = 0
    """Masked samples left out because they did not look masked."""


@dataclass
class _Sorted:
    rows: list[StoredRow] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    rejected: list[RejectedEvent] = field(default_factory=list)
    expired: int = 0
    samples_withheld: int = 0


class _Batch(BatchEnvelope):
    """The whole batch in one validation (the common case: every event is good)."""

    events: list[Event] = Field(min_length=1, max_length=EVENTS_PER_BATCH_MAX)  # type: ignore[assignment]


class Collector:
    def __init__(
        self,
        database: Database,
        settings: TelemetrySettings,
        sink: EventSink | None = None,
        clock_ms: Callable[[], int] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self.settings = settings
        self.sink = sink
        self._clock_ms = clock_ms or (lambda: time.time_ns() // 1_000_000)
        self._monotonic = monotonic  # times the credential cache; tests move it on
        self._sweep_lock = threading.Lock()
        self._next_sweep = 0.0
        self._auth_lock = threading.Lock()
        self._auth_cache: dict[str, tuple[Sender, float]] = {}
        # Writes skip the ORM session: a plain connection whose BEGIN is IMMEDIATE on SQLite.
        self._writer = database.engine.execution_options(meshveil_write=True)
        # Ingest runs on threads of its own: SQLite takes one writer at a time anyway, and a
        # long-lived thread costs nothing per request (a fresh one per call would).
        workers = 1 if database.dialect == "sqlite" else INGEST_THREADS_POSTGRES
        self._threads = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="meshveil-ingest")

    async def run(self, call: Callable[..., T], *arguments: Any) -> T:
        """`call(*arguments)` on an ingest thread, awaited from the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, call, *arguments)

    def now_ms(self) -> int:
        return self._clock_ms()

    def authenticate(
        self, token: str | None, node_header: str | None, peer: SpiffeId | None = None
    ) -> Sender:
        """The node the credential belongs to, checked against the node the request names
        and, behind a mesh proxy, against the mTLS peer it came from (telemetry/peer.py);
        may read the database (call it off the event loop)."""
        return self._checked(token, node_header, peer, self._credential)

    def authenticate_cached(
        self, token: str | None, node_header: str | None, peer: SpiffeId | None = None
    ) -> Sender | None:
        """As `authenticate` when the credential was checked recently, else None; never
        touches the database, so it may run on the event loop."""
        try:
            return self._checked(token, node_header, peer, self._cached_credential)
        except IngestError as error:
            if error.status == 401 and token:
                return None  # not cached: `authenticate` decides
            raise

    def _checked(
        self,
        token: str | None,
        node_header: str | None,
        peer: SpiffeId | None,
        lookup: Callable[[str], Sender | None],
    ) -> Sender:
        if not token:
            raise IngestError(401, "send the node's telemetry credential as 'Authorization: Bearer TOKEN'")
        if not node_header:
            raise IngestError(400, "the x-meshveil-node header (the Envoy node id) is missing")
        sender = lookup(token)
        if sender is None:
            raise IngestError(401, "the telemetry credential is unknown or revoked")
        if sender.node_id != node_header:
            raise IngestError(403, f"the telemetry credential does not belong to node {node_header!r}")
        mismatch = peer_mismatch(sender.node_id, peer)
        if mismatch is not None:
            raise IngestError(403, mismatch)
        return sender

    def _cached_credential(self, token: str) -> Sender | None:
        key = hash_token(token)
        with self._auth_lock:
            cached = self._auth_cache.get(key)
        return cached[0] if cached is not None and cached[1] > self._monotonic() else None

    def _credential(self, token: str) -> Sender | None:
        cached = self._cached_credential(token)
        if cached is not None:
            return cached
        key = hash_token(token)
        now = self._monotonic()
        with self.database.read() as session:
            row = nodes.authenticate(session, token)
            sender = None if row is None else Sender(row.id, row.node_id, row.tenant, row.service)
        if sender is not None:
            with self._auth_lock:
                if len(self._auth_cache) >= AUTH_CACHE_ENTRIES_MAX:
                    self._auth_cache.clear()
                self._auth_cache[key] = (sender, now + AUTH_CACHE_SECONDS)
        return sender

    def forget(self, node_id: str) -> None:
        """Drops a node's cached credential (after revoking it)."""
        with self._auth_lock:
            stale = [key for key, (sender, _) in self._auth_cache.items() if sender.node_id == node_id]
            for key in stale:
                del self._auth_cache[key]

    def ingest(self, sender: Sender, body: bytes) -> IngestResult:
        envelope, events = _parse(body)
        if envelope.node != sender.node_id:
            raise IngestError(
                422, f"node: the batch names node {envelope.node!r} but was sent as {sender.node_id!r}"
            )
        now = self.now_ms()
        origin = Origin(sender.node_ref, sender.tenant, sender.service, now, envelope.plugin)
        batch = self._sort(events, origin, now)
        with self._writer.begin() as connection:
            stored = store.insert_new(connection, batch.rows)
            accepted = sum(1 for event_id in batch.event_ids if (event_id, 0) in stored)
            duplicate = len(batch.event_ids) - accepted
            # A retried batch repeats its counts; only its first arrival reports them.
            first_arrival = duplicate == 0
            tally = nodes.BatchTally(
                accepted,
                duplicate,
                len(batch.rejected) if first_arrival else 0,
                envelope.dropped if first_arrival else 0,
            )
            nodes.record_batch(connection, sender.node_ref, tally, utc_now())
        if self.sink is not None and stored:
            self.sink.export([row for row in batch.rows if (row.event_id, row.part) in stored])
        for rejected in batch.rejected:
            LOG.warning(
                "telemetry from node %s: event %d of batch %s refused: %s",
                sender.node_id,
                rejected.index,
                envelope.batch_id,
                rejected.reason,
            )
        return IngestResult(
            envelope.batch_id, accepted, duplicate, batch.expired, batch.rejected, batch.samples_withheld
        )

    def _sort(
        self, events: list[AnomalyEvent | FindingEvent | RejectedEvent], origin: Origin, now: int
    ) -> _Sorted:
        batch = _Sorted()
        oldest = now - self.settings.retention_ms
        newest = now + self.settings.future_skew_seconds * 1000
        for index, event in enumerate(events):
            if isinstance(event, RejectedEvent):
                batch.rejected.append(event)
                continue
            if event.time_unix_ms > newest:
                ahead = (event.time_unix_ms - now) // 1000
                reason = f"events[{index}].time_unix_ms: {ahead} s ahead of the collector's clock"
                batch.rejected.append(RejectedEvent(index, event.event_id, reason))
                continue
            if event.time_unix_ms < oldest:
                batch.expired += 1
                continue
            if isinstance(event, AnomalyEvent):
                rows = anomaly_rows(event, origin)
            else:
                rows, withheld = finding_rows(event, origin)
                batch.samples_withheld += withheld
            batch.rows.extend(rows)
            batch.event_ids.append(event.event_id)
        return batch

    def sweep_due(self) -> bool:
        return time.monotonic() >= self._next_sweep

    def sweep_if_due(self) -> int:
        """Runs retention when its interval has passed (one caller at a time); answers how
        many events it deleted."""
        if not self.sweep_due() or not self._sweep_lock.acquire(blocking=False):
            return 0
        try:
            self._next_sweep = time.monotonic() + self.settings.sweep_interval_seconds
            return self.sweep()
        finally:
            self._sweep_lock.release()

    def sweep(self) -> int:
        """Deletes every event older than the retention, tenant by tenant, in transactions
        of at most `sweep_rows_max` rows (so ingest never waits long for the lock)."""
        cutoff = self.now_ms() - self.settings.retention_ms
        with self.database.read() as session:
            tenants = store.tenants_with_nodes(session.connection())
        deleted = 0
        for tenant in tenants:
            while True:
                with self.database.write() as session:
                    step = store.delete_older_than(
                        session.connection(), tenant, cutoff, self.settings.sweep_rows_max
                    )
                deleted += step
                if step < self.settings.sweep_rows_max:
                    break
        return deleted

    def close(self) -> None:
        self._threads.shutdown(wait=True)
        if self.sink is not None:
            self.sink.close()


def _parse(body: bytes) -> tuple[BatchEnvelope, list[AnomalyEvent | FindingEvent | RejectedEvent]]:
    """The envelope and each event, validated or rejected with its reason. A batch of good
    events takes one validation pass; otherwise each event is validated on its own."""
    try:
        whole = _Batch.model_validate_json(body)
        return whole, list(whole.events)
    except ValidationError:
        pass
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise IngestError(400, f"the batch is not JSON: {error}") from error
    try:
        envelope = BatchEnvelope.model_validate(document)
    except ValidationError as error:
        problems = field_problems(error)
        raise IngestError(422, "; ".join(str(problem) for problem in problems), problems) from error
    events: list[AnomalyEvent | FindingEvent | RejectedEvent] = []
    for index, raw in enumerate(envelope.events):
        try:
            events.append(_EVENT.validate_python(raw))
        except ValidationError as error:
            reason = "; ".join(str(problem) for problem in field_problems(error, ("events", index)))
            events.append(RejectedEvent(index, _event_id(raw), reason))
    return envelope, events


def _event_id(raw: dict[str, object]) -> str | None:
    event_id = raw.get("event_id")
    return event_id[:64] if isinstance(event_id, str) else None
