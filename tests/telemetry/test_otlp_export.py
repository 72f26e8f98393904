"""With `otlp_endpoint` set, stored events also reach an OpenTelemetry collector over
OTLP/HTTP: as log records with the event's attributes, and as counters. The collector
here is a fake OTLP/HTTP receiver on loopback that decodes what it is sent."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.service_fixture import running_plane
from tests.telemetry.support import anomaly, batch, cards, emails, finding


@dataclass
class FakeOtlpReceiver:
    url: str
    logs: list[ExportLogsServiceRequest] = field(default_factory=list)
    metrics: list[ExportMetricsServiceRequest] = field(default_factory=list)
    content_types: set[str] = field(default_factory=set)


@pytest.fixture
def receiver() -> Iterator[FakeOtlpReceiver]:
    received = FakeOtlpReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            received.content_types.add(self.headers["content-type"])
            if self.path == "/v1/logs":
                received.logs.append(ExportLogsServiceRequest.FromString(body))
            elif self.path == "/v1/metrics":
                received.metrics.append(ExportMetricsServiceRequest.FromString(body))
            self.send_response(200 if self.path in ("/v1/logs", "/v1/metrics") else 404)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    received.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received
    finally:
        server.shutdown()
        thread.join(10)


def plain(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def test_stored_events_are_exported_as_otlp_logs_and_metrics(
    receiver: FakeOtlpReceiver, tmp_path: Path
) -> None:
    node = "sidecar~10.0.0.7~checkout-7d9f8b6c5-x2x9z.shop~shop.svc.cluster.local"
    events = [anomaly(action="block"), finding(cards(5), emails(2), action="alert")]
    with running_plane(tmp_path, otlp_endpoint=receiver.url) as plane, plane.admin() as admin:
        assert admin.post("/v1/tenants", json={"name": "shop", "namespaces": ["shop"]}).status_code == 201
        token = admin.post("/v1/telemetry/nodes", json={"node_id": node, "tenant": "shop"}).json()["token"]
        headers = {"authorization": f"Bearer {token}", "x-meshveil-node": node}
        for _ in range(2):  # the retry is not exported again
            sent = admin.post(
                "/v1/telemetry", json=batch(node, events, batch_id="0e1e000000000000-b1"), headers=headers
            )
            assert sent.status_code == 200
    # Stopping the plane flushes the exporters.
    assert receiver.content_types == {"application/x-protobuf"}
    records = [
        record
        for request in receiver.logs
        for resource_logs in request.resource_logs
        for scope_logs in resource_logs.scope_logs
        for record in scope_logs.log_records
    ]
    resources = {
        item.key: plain(item.value)
        for request in receiver.logs
        for resource_logs in request.resource_logs
        for item in resource_logs.resource.attributes
    }
    assert resources["service.name"] == "meshveil-controlplane"
    seen = []
    for record in records:
        attributes = {item.key: plain(item.value) for item in record.attributes}
        seen.append(
            (
                record.event_name,
                record.severity_text,
                attributes["meshveil.service"],
                attributes.get("meshveil.detector"),
                attributes["meshveil.findings"],
            )
        )
        assert record.time_unix_nano == attributes_time(events, attributes["meshveil.event_id"]) * 1_000_000
    assert sorted(seen) == [
        ("meshveil.anomaly", "block", "checkout", "credit_card", 146),
        ("meshveil.finding", "alert", "checkout", "credit_card", 5),
        ("meshveil.finding", "alert", "checkout", "email", 2),
    ]
    sums = {}
    for request in receiver.metrics:
        for resource_metrics in request.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    for point in metric.sum.data_points:
                        labels = {item.key: plain(item.value) for item in point.attributes}
                        sums[(metric.name, labels["type"], labels["detector"])] = point.as_int
    assert sums == {
        ("meshveil.telemetry.events", "anomaly", "credit_card"): 1,
        ("meshveil.telemetry.events", "finding", "credit_card"): 1,
        ("meshveil.telemetry.findings", "finding", "credit_card"): 5,
        ("meshveil.telemetry.findings", "finding", "email"): 2,
    }


def attributes_time(events: list[dict[str, Any]], event_id: str) -> int:
    return next(int(event["time_unix_ms"]) for event in events if event["event_id"] == event_id)
