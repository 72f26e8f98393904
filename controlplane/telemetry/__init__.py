"""The collector side of the telemetry pipeline: node credentials, ingest (idempotent by
event id), storage with retention, queries and aggregates for analysts, CSV/JSON export and
an optional OpenTelemetry (OTLP/HTTP) export. The wire contract is docs/telemetry.md."""
