"""The built-in catalog, compiled once per session (and cached on disk between sessions)."""

from __future__ import annotations

import pytest

from controlplane.compiler.cache import compiled_tables
from controlplane.compiler.tables import MatcherTables, decode
from controlplane.detectors.loader import builtin_catalog
from controlplane.detectors.model import Detector


@pytest.fixture(scope="session")
def catalog() -> list[Detector]:
    return builtin_catalog()


@pytest.fixture(scope="session")
def catalog_tables(catalog: list[Detector]) -> MatcherTables:
    return decode(compiled_tables(catalog))
