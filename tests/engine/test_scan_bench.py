"""`meshveil bench scan` on a small corpus, engine only: every figure is there and sane."""

from __future__ import annotations

import json

import pytest

from controlplane.cli import main
from controlplane.compiler.wasm_engine import SCAN_PROBE
from controlplane.modules.build import BuiltModule


def test_bench_scan_reports_whole_and_value_by_value_bodies(
    built_modules: dict[str, BuiltModule], capsys: pytest.CaptureFixture[str]
) -> None:
    modules = built_modules[SCAN_PROBE].path.parent.parent
    arguments = ["--size", "65536", "--bodies", "4", "--repeats", "1", "--no-baselines", "--json"]
    code = main(["bench", "scan", "--modules", str(modules), *arguments])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    figures = {item["name"]: item["value"] for item in report["measurements"]}
    for name in ("clean", "dense"):
        assert figures[f"meshveil in-Wasm, {name}"] > 0
        whole = figures[f"1 KB JSON body p50, {name}"]
        by_value = figures[f"1 KB JSON body p50 value by value, {name}"]
        assert whole > 0 and by_value > 0
