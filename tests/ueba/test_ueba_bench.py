"""`meshveil bench ueba` runs the built module next to a pass-through filter and reports
both, side by side (no timing is asserted: the machine is shared)."""

from __future__ import annotations

import json

import pytest

from controlplane.cli import main
from controlplane.modules.build import BuiltModule
from tests.ueba.ueba_support import MODULE


def test_bench_ueba_reports_both_chains_and_their_ratio(
    capsys: pytest.CaptureFixture[str], built_modules: dict[str, BuiltModule]
) -> None:
    module = str(built_modules[MODULE].path)
    options = ["--module", module, "--count", "40", "--warmup", "10", "--identities", "7", "--json"]
    assert main(["bench", "ueba", *options]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["target"] == "ueba"
    assert report["setup"]["exchanges timed"] == 40
    values = {item["name"]: item["value"] for item in report["measurements"]}
    assert values["ueba exchanges per second"] > 0 and values["pass-through exchanges per second"] > 0
    assert values["ueba time per exchange"] >= values["  inside the ueba module"] > 0
    ratio = values["ueba / pass-through time per exchange"]
    expected = values["ueba time per exchange"] / values["pass-through time per exchange"]
    assert ratio == pytest.approx(expected)
    # The steady synthetic traffic is not anomalous, and every state update landed.
    assert values["anomalies"] == 0
    assert values["state updates given up"] == 0


def test_bench_ueba_without_a_module_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "ueba", "--module", "/nonexistent/meshveil-ueba.wasm"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1
    assert "/nonexistent/meshveil-ueba.wasm" in error[0] and "meshveil build" in error[0]
