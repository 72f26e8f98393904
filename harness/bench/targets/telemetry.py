"""`meshveil bench telemetry`: how many events per second the collector takes into SQLite
on one core. The issue's target: at least 10,000 events/s.

Three paths, each into a fresh SQLite file, the same synthetic batches (half anomaly
events, half finding events of two findings), printed side by side:

- REST: `POST /v1/telemetry` over loopback HTTP/1.1 (keep-alive) to a control plane
  running in this process (`meshveil serve`'s `ControlPlane`), as a sidecar sends them:
  HTTP, node authentication, validation, storage, the answer.
- collector: `Collector.ingest` called directly: JSON parsing, validation and storage.
- storage only: the validated rows inserted (the bulk INSERT that skips duplicates).

Then every batch of the REST run is sent again, as a filter retrying after a lost answer
would, to show what recognising duplicates costs. The process is pinned to one CPU for
the whole run, so the plane's threads and the client share it. The client writes each
request's prepared bytes to the socket and reads the answer by its Content-Length (Envoy
does this in C++, so a Python HTTP library would bill the plane for the sender's work);
its CPU time is measured on its own and reported apart from the plane's.

Batches hold the policy's default `telemetry.delivery.batch_events` (what the filters send
unless a policy says otherwise) unless --batch-events is given.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controlplane.api.threaded import plane_in_thread
from controlplane.config import load_config
from controlplane.policy.behaviour import EventDelivery
from controlplane.storage import tenants
from controlplane.storage.database import Database, migrate, open_database
from controlplane.telemetry import nodes, store
from controlplane.telemetry.ingest import Collector, Sender
from controlplane.telemetry.records import Origin, StoredRow, anomaly_rows, finding_rows
from controlplane.telemetry.settings import TelemetrySettings
from controlplane.telemetry.wire import AnomalyEvent, BatchEnvelope, FindingEvent
from harness.bench.registry import BenchError, BenchTarget
from harness.bench.report import BenchReport, TargetCheck
from harness.bench.telemetry_batches import SyntheticBatch, synthetic_batches

TARGET_EVENTS_PER_SECOND = 10_000.0
NODE = "sidecar~10.0.0.7~checkout-7d9f8b6c5-x2x9z.shop~shop.svc.cluster.local"
TENANT = "shop"
MICRO = 1e6
DEFAULT_BATCH_EVENTS = EventDelivery().batch_events
RESPONSE_BYTES_MAX = 1 << 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--events", type=int, default=40_000, metavar="N", help="events per path (default 40000)"
    )
    parser.add_argument(
        "--batch-events",
        type=int,
        default=DEFAULT_BATCH_EVENTS,
        metavar="N",
        help=f"events per batch (default {DEFAULT_BATCH_EVENTS}: telemetry.delivery.batch_events' default)",
    )
    parser.add_argument(
        "--all-cores", action="store_true", help="do not pin the process to one CPU (default: pinned)"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic events")


@dataclass
class PathTiming:
    events: int = 0
    batches: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    """CPU time of this whole process (every thread) while the path ran."""
    client_cpu_seconds: float = 0.0
    """The part of it the sending thread spent (for REST: the client, not the plane)."""

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def events_per_cpu_second(self) -> float:
        return self.events / self.cpu_seconds if self.cpu_seconds > 0 else 0.0

    @property
    def events_per_plane_cpu_second(self) -> float:
        plane = self.cpu_seconds - self.client_cpu_seconds
        return self.events / plane if plane > 0 else 0.0

    @property
    def micros_per_batch(self) -> float:
        return self.seconds / self.batches * MICRO if self.batches else 0.0


@dataclass(frozen=True)
class Timings:
    rest: PathTiming
    retried: PathTiming
    collector: PathTiming
    storage: PathTiming


def run(arguments: argparse.Namespace) -> BenchReport:
    if arguments.events <= 0 or not 1 <= arguments.batch_events <= 1024:
        raise BenchError("--events must be positive and --batch-events between 1 and 1024")
    count = max(1, arguments.events // arguments.batch_events)
    batches = synthetic_batches(
        NODE,
        batches=count,
        events_per_batch=arguments.batch_events,
        now_ms=time.time_ns() // 1_000_000,
        seed=arguments.seed,
    )
    load_before = os.getloadavg()[0]
    with (
        _cores(one=not arguments.all_cores) as cpus,
        tempfile.TemporaryDirectory(prefix="meshveil-bench-") as tmp,
    ):
        folder = Path(tmp)
        rest, retried = _rest_path(folder / "rest", batches)
        collector = _collector_path(folder / "collector", batches)
        storage = _storage_path(folder / "storage", batches)
    return _report(arguments, batches, cpus, load_before, Timings(rest, retried, collector, storage))


@contextmanager
def _cores(*, one: bool) -> Iterator[str]:
    """Pins this process (and the threads it starts) to its first allowed CPU."""
    allowed = os.sched_getaffinity(0)
    if not one:
        yield f"{len(allowed)} allowed"
        return
    chosen = min(allowed)
    os.sched_setaffinity(0, {chosen})
    try:
        yield f"1 (CPU {chosen})"
    finally:
        os.sched_setaffinity(0, allowed)


def _fresh_database(folder: Path) -> tuple[Database, str]:
    """A migrated SQLite database with the bench's tenant and node; answers the node's token."""
    database = open_database(f"sqlite:///{folder / 'meshveil.db'}")
    migrate(database)
    with database.write() as session:
        tenants.create(session, TENANT, [TENANT])
        issued = nodes.issue(session, NODE, TENANT, None, "bench")
    return database, issued.token


def _timed(batches: list[SyntheticBatch], send: Callable[[SyntheticBatch], None]) -> PathTiming:
    timing = PathTiming()
    started = time.perf_counter()
    cpu_started = time.process_time()
    client_started = time.thread_time()
    for batch in batches:
        send(batch)
        timing.events += batch.events
        timing.batches += 1
    timing.seconds = time.perf_counter() - started
    timing.cpu_seconds = time.process_time() - cpu_started
    timing.client_cpu_seconds = time.thread_time() - client_started
    return timing


def _collector_path(folder: Path, batches: list[SyntheticBatch]) -> PathTiming:
    database, token = _fresh_database(folder)
    collector = Collector(database, TelemetrySettings())
    sender = collector.authenticate(token, NODE)

    def send(batch: SyntheticBatch) -> None:
        result = collector.ingest(sender, batch.body)
        if result.accepted != batch.events:
            raise BenchError(f"the collector took {result.accepted} of {batch.events} events of a batch")

    try:
        return _timed(batches, send)
    finally:
        database.dispose()


def _storage_path(folder: Path, batches: list[SyntheticBatch]) -> PathTiming:
    database, token = _fresh_database(folder)
    with database.read() as session:
        row = nodes.authenticate(session, token)
        assert row is not None
        sender = Sender(row.id, row.node_id, row.tenant, row.service)
    prepared = {id(batch): _rows(batch, sender) for batch in batches}

    writer = database.engine.execution_options(meshveil_write=True)

    def send(batch: SyntheticBatch) -> None:
        with writer.begin() as connection:
            store.insert_new(connection, prepared[id(batch)])

    try:
        return _timed(batches, send)
    finally:
        database.dispose()


def _rows(batch: SyntheticBatch, sender: Sender) -> list[StoredRow]:
    envelope = BatchEnvelope.model_validate(json.loads(batch.body))
    origin = Origin(sender.node_ref, sender.tenant, sender.service, time.time_ns() // 1_000_000)
    rows: list[StoredRow] = []
    for raw in envelope.events:
        if raw["type"] == "anomaly":
            rows.extend(anomaly_rows(AnomalyEvent.model_validate(raw), origin))
        else:
            rows.extend(finding_rows(FindingEvent.model_validate(raw), origin)[0])
    return rows


def _rest_path(folder: Path, batches: list[SyntheticBatch]) -> tuple[PathTiming, PathTiming]:
    config = load_config(
        environ={},
        overrides={"data_dir": folder, "rest_port": 0, "xds_port": 0, "log_level": "warning"},
    )
    with plane_in_thread(config) as plane, _Client(plane.rest_port) as client:
        admin_token = (folder / "admin-token").read_text().strip()
        admin = {"authorization": f"Bearer {admin_token}", "content-type": "application/json"}
        _call(client, "/v1/tenants", {"name": TENANT, "namespaces": [TENANT]}, admin, 201)
        created = _call(client, "/v1/telemetry/nodes", {"node_id": NODE, "tenant": TENANT}, admin, 201)
        headers = {
            "authorization": f"Bearer {created['token']}",
            "x-meshveil-node": NODE,
            "content-type": "application/json",
        }
        requests = {id(batch): _request("/v1/telemetry", headers, batch.body) for batch in batches}
        first = _timed(batches, lambda batch: _post_batch(client, requests[id(batch)], batch, "accepted"))
        again = _timed(batches, lambda batch: _post_batch(client, requests[id(batch)], batch, "duplicate"))
        return first, again


class _Client:
    """HTTP/1.1 over one keep-alive connection: prepared request bytes out, an answer read
    by its Content-Length back (the plane always sends one)."""

    def __init__(self, port: int) -> None:
        self._socket = socket.create_connection(("127.0.0.1", port), timeout=60)
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._pending = b""

    def __enter__(self) -> _Client:
        return self

    def __exit__(self, *_: object) -> None:
        self._socket.close()

    def exchange(self, request: bytes) -> tuple[int, bytes]:
        self._socket.sendall(request)
        head = self._read_until(b"\r\n\r\n")
        status_line, _, header_block = head.partition(b"\r\n")
        length = None
        for line in header_block.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None or not 0 <= length <= RESPONSE_BYTES_MAX:
            raise BenchError(f"the plane answered without a usable Content-Length: {head[:300]!r}")
        return int(status_line.split(b" ", 2)[1]), self._read_exactly(length)

    def _read_until(self, marker: bytes) -> bytes:
        while (end := self._pending.find(marker)) < 0:
            self._receive()
        head, self._pending = self._pending[:end], self._pending[end + len(marker) :]
        return head

    def _read_exactly(self, length: int) -> bytes:
        while len(self._pending) < length:
            self._receive()
        body, self._pending = self._pending[:length], self._pending[length:]
        return body

    def _receive(self) -> None:
        chunk = self._socket.recv(65536)
        if not chunk:
            raise BenchError("the plane closed the connection")
        if len(self._pending) + len(chunk) > RESPONSE_BYTES_MAX:
            raise BenchError("the plane's answer is larger than any it should send")
        self._pending += chunk


def _request(path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "host: 127.0.0.1", f"content-length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _call(client: _Client, path: str, body: object, headers: dict[str, str], expected: int) -> dict[str, Any]:
    status, payload = client.exchange(_request(path, headers, json.dumps(body).encode()))
    if status != expected:
        raise BenchError(f"POST {path} answered {status}: {payload[:300]!r}")
    document: dict[str, Any] = json.loads(payload)
    return document


def _post_batch(client: _Client, request: bytes, batch: SyntheticBatch, counted: str) -> None:
    status, payload = client.exchange(request)
    if status != 200:
        raise BenchError(f"POST /v1/telemetry answered {status}: {payload[:300]!r}")
    if json.loads(payload)[counted] != batch.events:
        raise BenchError(f"POST /v1/telemetry did not count every event as {counted}: {payload[:300]!r}")


def _report(
    arguments: argparse.Namespace,
    batches: list[SyntheticBatch],
    cpus: str,
    load_before: float,
    timings: Timings,
) -> BenchReport:
    rest, retried, collector, storage = timings.rest, timings.retried, timings.collector, timings.storage
    report = BenchReport(target="telemetry")
    sizes = [len(batch.body) for batch in batches]
    average = sum(sizes) // len(sizes)
    report.setup = {
        "events per path": sum(batch.events for batch in batches),
        "batches": f"{len(batches)} of {arguments.batch_events} events, {average:,} bytes on average",
        # The filters batch by the policy's telemetry.delivery.batch_events.
        "events per batch": f"{arguments.batch_events} (telemetry.delivery.batch_events' default: "
        f"{DEFAULT_BATCH_EVENTS})",
        "events": "half anomaly (meshveil-ueba shape), half finding (meshveil-dlp shape, 2 findings "
        "with a location each: 2 rows), times in sending order over the last hour",
        "database": "SQLite file (WAL, synchronous=NORMAL), fresh per path",
        "CPUs": cpus,
        # Other processes share the cores; a loaded machine explains a slow run.
        "load average before (1 min)": f"{load_before:.2f}",
    }
    paths = (
        ("REST POST /v1/telemetry", rest, "loopback HTTP to the in-process plane", True),
        ("collector (parse, validate, store)", collector, "", False),
        ("storage only (bulk insert)", storage, "", False),
        ("REST, every batch sent again", retried, "all duplicates", True),
    )
    for name, timing, detail, over_http in paths:
        report.add(f"{name}, wall clock", timing.events_per_second, "events/s", detail)
        report.add(
            f"{name}, per CPU-second", timing.events_per_cpu_second, "events/s", "this process's CPU time"
        )
        if over_http:
            report.add(
                f"{name}, per plane CPU-second",
                timing.events_per_plane_cpu_second,
                "events/s",
                "the client's CPU time left out",
            )
    report.add("REST time per batch", rest.micros_per_batch, "µs")
    report.add("collector time per batch", collector.micros_per_batch, "µs")
    report.add("storage time per batch", storage.micros_per_batch, "µs")
    report.add("REST / storage-only time", rest.seconds / storage.seconds, "x")
    for name, timing in (("REST", rest), ("collector", collector)):
        report.checks.append(
            TargetCheck(
                f"{name} ingest into SQLite on one core, wall clock",
                TARGET_EVENTS_PER_SECOND,
                timing.events_per_second,
                "events/s",
            )
        )
    return report


TARGET = BenchTarget(
    name="telemetry",
    help="telemetry ingest into SQLite on one core (REST, collector, storage only) against 10,000 events/s",
    add_arguments=add_arguments,
    run=run,
)
