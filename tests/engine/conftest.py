"""The scan probe (the Zig engine in Wasm) over the built-in catalog's tables, once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane.compiler.cache import compiled_tables
from controlplane.compiler.tables import MatcherTables, decode
from controlplane.compiler.wasm_engine import SCAN_PROBE, DirectEngine, PluginEngine
from controlplane.detectors.loader import builtin_catalog
from controlplane.detectors.model import Detector
from controlplane.modules.build import BuiltModule


@pytest.fixture(scope="session")
def scan_probe(built_modules: dict[str, BuiltModule]) -> Path:
    return built_modules[SCAN_PROBE].path


@pytest.fixture(scope="session")
def catalog() -> list[Detector]:
    return builtin_catalog()


@pytest.fixture(scope="session")
def catalog_blob(catalog: list[Detector]) -> bytes:
    return compiled_tables(catalog)


@pytest.fixture(scope="session")
def catalog_tables(catalog_blob: bytes) -> MatcherTables:
    return decode(catalog_blob)


@pytest.fixture(scope="session")
def direct_engine(scan_probe: Path, catalog_blob: bytes) -> DirectEngine:
    return DirectEngine(scan_probe, catalog_blob)


@pytest.fixture(scope="session")
def plugin_engine(scan_probe: Path, catalog_blob: bytes) -> Iterator[PluginEngine]:
    with PluginEngine(scan_probe, catalog_blob) as engine:
        yield engine
