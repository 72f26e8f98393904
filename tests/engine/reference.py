"""What the reference scanner (controlplane/compiler/scanner.py) finds, in the forms the
Wasm engine reports, so tests compare the two directly."""

from __future__ import annotations

from controlplane.compiler.scanner import scan
from controlplane.compiler.tables import MatcherTables
from controlplane.compiler.wasm_engine import PluginFinding, WasmFinding


def reference_findings(tables: MatcherTables, data: bytes) -> list[WasmFinding]:
    index = {detector.id: number for number, detector in enumerate(tables.detectors)}
    found = [WasmFinding(index[f.detector], f.pattern, f.score, f.start, f.end) for f in scan(tables, data)]
    return sorted(found, key=lambda f: (f.start, f.end, f.pattern))


def as_indexed(tables: MatcherTables, findings: list[PluginFinding]) -> list[WasmFinding]:
    index = {detector.id: number for number, detector in enumerate(tables.detectors)}
    return [WasmFinding(index[f.detector], f.pattern, f.score, f.start, f.end) for f in findings]
