"""What the demo prints at the end: per service, how many exchanges went through, how many
sensitive values were found (the collector's finding events), masked (the mask filter's
counter), blocked (exchanges a filter refused or cut short) and flagged (the collector's
anomaly events); then findings by detector, the most anomalous identities, and how the
telemetry got there."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from controlplane.demo.rest_client import RestClient
from controlplane.demo.sidecars import Sidecar

MASKED_METRIC = "meshveil.mask.values.masked"


@dataclass(frozen=True)
class ServiceRow:
    service: str
    exchanges: int
    found: int
    masked: int
    blocked: int
    flagged: int


@dataclass(frozen=True)
class Telemetry:
    anomaly_events_sent: int
    anomaly_batches_failed: int
    anomaly_events_dropped: int
    finding_events_sent: int
    finding_batches_failed: int
    finding_events_dropped: int
    stored_findings: int
    stored_anomalies: int


@dataclass(frozen=True)
class DemoSummary:
    rows: list[ServiceRow]
    blocked_by: dict[str, int]
    detectors: list[tuple[str, int]]
    identities: list[dict[str, Any]]
    telemetry: Telemetry

    @property
    def total(self) -> ServiceRow:
        return ServiceRow(
            "total",
            sum(row.exchanges for row in self.rows),
            sum(row.found for row in self.rows),
            sum(row.masked for row in self.rows),
            sum(row.blocked for row in self.rows),
            sum(row.flagged for row in self.rows),
        )


def summarize(sidecars: Sequence[Sidecar], analyst: RestClient, since_iso: str) -> DemoSummary:
    window = {"since": since_iso}
    by_service = {
        entry["keys"][0]: entry
        for entry in analyst.get("/v1/telemetry/top", {**window, "by": "service", "limit": 100})["entries"]
    }
    rows = []
    blocked_by: Counter[str] = Counter()
    for sidecar in sidecars:
        refused = [
            outcome for outcome in sidecar.outcomes if outcome.local_reply is not None or outcome.stream_reset
        ]
        for outcome in refused:
            blocked_by[outcome.local_reply.sent_by if outcome.local_reply else "stream reset"] += 1
        stored = by_service.get(sidecar.spec.service, {})
        rows.append(
            ServiceRow(
                sidecar.spec.service,
                len(sidecar.outcomes),
                int(stored.get("findings", 0)),
                sidecar.host.metrics.get(MASKED_METRIC, 0),
                len(refused),
                int(stored.get("anomalies", 0)),
            )
        )
    detectors = analyst.get("/v1/telemetry/top", {**window, "by": "detector", "type": "finding", "limit": 20})
    totals = analyst.get("/v1/telemetry/summary", window)
    telemetry = Telemetry(
        anomaly_events_sent=_metric(sidecars, "meshveil.telemetry.events_sent"),
        anomaly_batches_failed=_metric(sidecars, "meshveil.telemetry.batch_failures"),
        anomaly_events_dropped=_metric(sidecars, "meshveil.telemetry.dropped"),
        finding_events_sent=_metric(sidecars, "meshveil.dlp.telemetry.events_sent"),
        finding_batches_failed=_metric(sidecars, "meshveil.dlp.telemetry.batch_failures"),
        finding_events_dropped=_metric(sidecars, "meshveil.dlp.telemetry.dropped")
        + _metric(sidecars, "meshveil.dlp.events.dropped"),
        stored_findings=int(totals["findings"]),
        stored_anomalies=int(totals["anomalies"]),
    )
    return DemoSummary(
        rows,
        dict(blocked_by),
        [(entry["keys"][0], int(entry["findings"])) for entry in detectors["entries"]],
        analyst.get("/v1/telemetry/identities", {**window, "limit": 3}),
        telemetry,
    )


def _metric(sidecars: Sequence[Sidecar], name: str) -> int:
    return sum(sidecar.host.metrics.get(name, 0) for sidecar in sidecars)


def table_lines(summary: DemoSummary) -> list[str]:
    header = ("service", "exchanges", "found", "masked", "blocked", "flagged")
    body = [*summary.rows, summary.total]
    cells = [header] + [
        (row.service, str(row.exchanges), str(row.found), str(row.masked), str(row.blocked), str(row.flagged))
        for row in body
    ]
    widths = [max(len(line[index]) for line in cells) for index in range(len(header))]
    lines = []
    for number, line in enumerate(cells):
        first = line[0].ljust(widths[0])
        rest = "  ".join(cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True))
        lines.append(f"  {first}  {rest}")
        if number == 0 or number == len(cells) - 2:
            lines.append("  " + "-" * (sum(widths) + 2 * (len(widths) - 1)))
    return lines


def detail_lines(summary: DemoSummary) -> list[str]:
    lines = []
    if summary.detectors:
        found = ", ".join(f"{detector} {count}" for detector, count in summary.detectors)
        lines.append(f"found by detector: {found}")
    if summary.blocked_by:
        refused = ", ".join(f"{count} by {name}" for name, count in sorted(summary.blocked_by.items()))
        lines.append(f"blocked: {refused}")
    for identity in summary.identities:
        name = identity["value"] or identity["identity"][:12] + "…"
        reason = next((item for item in identity["reasons"] if item["kind"] == "zscore"), None)
        why = ""
        if reason is not None:
            why = (
                f": {reason['feature']} {reason['value']:g} against a baseline of "
                f"{reason['baseline_mean']:.1f} ± {reason['baseline_stddev']:.1f}"
            )
        lines.append(
            f"flagged: {name} ({identity['kind']}), {identity['anomalies']} anomaly events, "
            f"score up to {identity['max_score']:.1f}{why}"
        )
    return lines
