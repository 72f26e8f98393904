"""`meshveil bench telemetry` runs every path on fresh SQLite files and reports them side by
side with the 10,000 events/s target (no timing is asserted: the machine is shared). The
bench itself refuses a path that does not store every event it sent."""

from __future__ import annotations

import json

import pytest

from controlplane.cli import main
from controlplane.policy.behaviour import EventDelivery


def test_bench_telemetry_reports_every_path_and_the_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "telemetry", "--events", "96", "--batch-events", "32", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["target"] == "telemetry"
    assert report["setup"]["events per path"] == 96
    assert report["setup"]["CPUs"].startswith("1 (CPU ")
    values = {item["name"]: item["value"] for item in report["measurements"]}
    for path in (
        "REST POST /v1/telemetry",
        "collector (parse, validate, store)",
        "storage only (bulk insert)",
    ):
        assert values[f"{path}, wall clock"] > 0 and values[f"{path}, per CPU-second"] > 0
    assert values["REST / storage-only time"] == pytest.approx(
        values["REST time per batch"] / values["storage time per batch"], rel=1e-6
    )
    assert [check["required"] for check in report["checks"]] == [10_000, 10_000]
    # The client's CPU is told apart from the plane's (which then has less to account for).
    for path in ("REST POST /v1/telemetry", "REST, every batch sent again"):
        assert values[f"{path}, per plane CPU-second"] >= values[f"{path}, per CPU-second"] > 0


def test_bench_telemetry_batches_as_the_filters_do_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    default = EventDelivery().batch_events
    assert main(["bench", "telemetry", "--events", str(2 * default), "--json"]) == 0
    setup = json.loads(capsys.readouterr().out)["setup"]
    assert setup["batches"].startswith(f"2 of {default} events")
    assert setup["events per batch"] == f"{default} (telemetry.delivery.batch_events' default: {default})"


def test_bench_telemetry_refuses_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "telemetry", "--batch-events", "5000"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error == ["meshveil: error: --events must be positive and --batch-events between 1 and 1024"]
