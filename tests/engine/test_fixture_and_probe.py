"""The native tests' fixture is current, and the probe refuses bad tables with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.compiler.tables import MatcherTables
from controlplane.compiler.wasm_engine import DirectEngine, PluginEngine, WasmEngineError
from tests.engine.fixture import FIXTURE_DIR, build_fixture
from tests.engine.reference import reference_findings


def test_fixture_is_current() -> None:
    """Regenerate with `.venv/bin/python -m tests.engine.fixture` when this fails."""
    for name, content in build_fixture().files().items():
        assert (FIXTURE_DIR / name).read_bytes() == content, f"{name} is stale"


def test_plugin_refuses_damaged_tables_and_says_why(scan_probe: Path, catalog_blob: bytes) -> None:
    damaged = bytearray(catalog_blob)
    damaged[4] = 99  # format version
    with pytest.raises(WasmEngineError, match="table format version this engine does not read"):
        PluginEngine(scan_probe, bytes(damaged))
    with pytest.raises(WasmEngineError, match="refused the tables"):
        DirectEngine(scan_probe, catalog_blob[:-8])


def test_empty_body_and_no_findings(plugin_engine: PluginEngine, catalog_tables: MatcherTables) -> None:
    assert plugin_engine.scan([]) == []
    assert plugin_engine.scan([b"nothing sensitive here"]) == []
    assert reference_findings(catalog_tables, b"nothing sensitive here") == []


def test_findings_report_detector_and_entity_not_values(plugin_engine: PluginEngine) -> None:
    found = plugin_engine.scan([b"card 4111 1111 1111 1111, ssn 536-22-1234"])
    assert [(f.detector, f.entity, f.start, f.end) for f in found] == [
        ("credit-card", "CREDIT_CARD", 5, 24),
        ("us-ssn", "US_SSN", 30, 41),
    ]
