"""The collector a running control plane uses, made from the service configuration."""

from __future__ import annotations

from controlplane.config import ServiceConfig
from controlplane.storage.database import Database
from controlplane.telemetry.ingest import Collector
from controlplane.telemetry.otlp import OtlpExporter
from controlplane.telemetry.settings import TelemetrySettings


def collector_for(config: ServiceConfig, database: Database) -> Collector:
    settings = TelemetrySettings(
        retention_days=config.telemetry_retention_days, otlp_endpoint=config.otlp_endpoint
    )
    sink = None
    if settings.otlp_endpoint:
        sink = OtlpExporter(
            settings.otlp_endpoint,
            settings.otlp_timeout_seconds,
            {"service.instance.id": config.replica_id},
        )
    return Collector(database, settings, sink)
