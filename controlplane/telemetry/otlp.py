"""Forwarding stored events to an OpenTelemetry collector over OTLP/HTTP, so existing
observability stacks see them: every event as a log record (its attributes are the
stored columns, its body the validated event, which holds no raw values), and counters
`meshveil.telemetry.events` and `meshveil.telemetry.findings` by type, tenant, service,
detector and action.

Export runs on the SDK's own threads (batching log processor, periodic metric reader), so
an unreachable collector slows nothing but itself; the SDK drops what it cannot send.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from controlplane.telemetry.records import StoredRow

SCOPE = "meshveil.telemetry"
METRIC_INTERVAL_MS = 15_000
NANOS_PER_MILLI = 1_000_000
_SEVERITY = {
    "block": SeverityNumber.WARN,
    "throttle": SeverityNumber.WARN,
    "mask": SeverityNumber.INFO,
    "tag": SeverityNumber.INFO,
    "alert": SeverityNumber.INFO,
    "record": SeverityNumber.INFO,
}
# Every stored column but the ones the record carries elsewhere (time, body) or that mean
# nothing outside this database.
_ATTRIBUTES = tuple(
    name for name in StoredRow._fields if name not in {"detail", "time_ms", "received_ms", "node_ref"}
)


class OtlpExporter:
    def __init__(self, endpoint: str, timeout_seconds: float, resource_attributes: Mapping[str, str]) -> None:
        base = endpoint.rstrip("/")
        resource = Resource.create({"service.name": "meshveil-controlplane", **resource_attributes})
        self._logs = LoggerProvider(resource=resource, shutdown_on_exit=False)
        self._logs.add_log_record_processor(
            BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{base}/v1/logs", timeout=timeout_seconds))
        )
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=f"{base}/v1/metrics", timeout=timeout_seconds),
            export_interval_millis=METRIC_INTERVAL_MS,
        )
        self._metrics = MeterProvider(resource=resource, metric_readers=[reader], shutdown_on_exit=False)
        meter = self._metrics.get_meter(SCOPE)
        self._events = meter.create_counter(
            "meshveil.telemetry.events", unit="{event}", description="events stored"
        )
        self._findings = meter.create_counter(
            "meshveil.telemetry.findings", unit="{finding}", description="sensitive values found"
        )
        self._logger = self._logs.get_logger(SCOPE)

    def export(self, rows: Sequence[StoredRow]) -> None:
        for row in rows:
            values = row._asdict()
            attributes = {
                f"meshveil.{name}": values[name] for name in _ATTRIBUTES if values[name] is not None
            }
            self._logger.emit(
                timestamp=row.time_ms * NANOS_PER_MILLI,
                observed_timestamp=row.received_ms * NANOS_PER_MILLI,
                severity_number=_SEVERITY.get(row.action, SeverityNumber.INFO),
                severity_text=row.action,
                body=row.detail,
                attributes=attributes,
                event_name=f"meshveil.{row.type}",
            )
            labels = {
                "type": row.type,
                "tenant": row.tenant,
                "service": row.service,
                "detector": row.detector or "",
                "action": row.action,
            }
            if row.part == 0:
                self._events.add(1, labels)
            if row.type == "finding":
                self._findings.add(row.findings, labels)

    def flush(self, timeout_ms: int = 10_000) -> bool:
        logs = self._logs.force_flush(timeout_ms)
        metrics = self._metrics.force_flush(timeout_ms)
        return bool(logs) and bool(metrics)

    def close(self) -> None:
        self._logs.shutdown()
        self._metrics.shutdown()
