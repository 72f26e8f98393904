"""`meshveil bench filters` times both filters on 1 KB and 64 KB JSON and reports the
targets; bad options are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlplane.cli import main


def test_bench_filters_reports_times_sizes_and_memory(
    modules: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(modules["meshveil-dlp"].parent)
    arguments = [
        "--modules",
        folder,
        "--count",
        "5",
        "--warmup",
        "1",
        "--detectors",
        "credit-card,email-address",
    ]
    code = main(["bench", "filters", *arguments, "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    values = {item["name"]: item["value"] for item in report["measurements"]}
    for size in ("1 KB", "64 KB"):
        assert values[f"{size}: in-module p50"] > 0
        assert values[f"{size}: host functions p50"] > 0
        # The filters call the host (headers, body, metrics); each call's harness cost is
        # taken out of the second net figure, never added to it.
        assert values[f"{size}: host calls per exchange"] >= 4
        assert values[f"{size}: harness cost per host call"] >= 0
        assert values[f"{size}: in-module net of host calls p50"] <= values[f"{size}: in-module net p50"]
    assert 0 < values["dlp module size"] < 1024 and 0 < values["mask module size"] < 1024
    assert 0 < values["dlp VM linear memory"] < 64
    checks = {check["description"] for check in report["checks"]}
    assert {"in-module net p50 for 1 KB", "dlp module size", "mask VM linear memory"} <= checks


def test_bench_filters_with_an_unknown_detector_is_a_one_line_error(
    modules: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(modules["meshveil-dlp"].parent)
    code = main(["bench", "filters", "--modules", folder, "--detectors", "credit-card,no-such"])
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "unknown detector ids no-such" in error[0]
