"""How the collector keeps and forwards telemetry (from the service configuration)."""

from __future__ import annotations

from dataclasses import dataclass

DAY_SECONDS = 24 * 3600


@dataclass(frozen=True)
class TelemetrySettings:
    retention_days: float = 30.0
    """Events older than this (by their own time) are deleted, and not taken at all."""
    future_skew_seconds: int = 300
    """How far ahead of the collector's clock an event's time may be (sidecar clock skew)."""
    sweep_interval_seconds: float = 300.0
    """Retention runs at most this often, after an ingest request has been answered."""
    sweep_rows_max: int = 50_000
    """Most rows one sweep deletes, so a large backlog is removed in steps, not one long lock."""
    otlp_endpoint: str | None = None
    """Base URL of an OTLP/HTTP receiver (e.g. http://otel-collector:4318); None: no export."""
    otlp_timeout_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.retention_days <= 0:
            raise ValueError(f"retention_days must be positive, got {self.retention_days}")
        if self.sweep_rows_max <= 0:
            raise ValueError(f"sweep_rows_max must be positive, got {self.sweep_rows_max}")

    @property
    def retention_ms(self) -> int:
        return round(self.retention_days * DAY_SECONDS * 1000)
