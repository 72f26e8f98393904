"""`meshveil bench walkers` runs the probe over every format and prints rates and ratios."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlplane.cli import main
from controlplane.modules.build import BuiltModule


def test_bench_walkers_reports_every_format(
    built_modules: dict[str, BuiltModule], capsys: pytest.CaptureFixture[str]
) -> None:
    probe = str(built_modules["walker-probe"].path)
    code = main(["bench", "walkers", "--probe", probe, "--size", "8192", "--repeats", "1", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    rates = {item["name"]: item["value"] for item in report["measurements"] if item["unit"] == "MiB/s"}
    assert {"text, masked", "json, masked", "grpc, masked", "gzip json, masked, lz77 gzip out"} <= set(rates)
    assert all(rate > 0 for rate in rates.values())
    ratios = [item for item in report["measurements"] if item["unit"] == "x"]
    assert any(item["name"] == "json, masked / text" for item in ratios)


def test_bench_walkers_without_a_probe_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["bench", "walkers", "--probe", str(tmp_path / "missing.wasm")])
    assert code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "run `meshveil build` first" in error[0]
