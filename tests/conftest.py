"""Shared fixtures. Modules are built once per test session into a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.modules.build import BuiltModule, build_modules
from controlplane.modules.sources import default_filters_dir

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def filters_dir() -> Path:
    return default_filters_dir()


@pytest.fixture(scope="session")
def built_modules(tmp_path_factory: pytest.TempPathFactory, filters_dir: Path) -> dict[str, BuiltModule]:
    """Every module `meshveil build` produces, by name (filters and testdata)."""
    out_dir = tmp_path_factory.mktemp("modules")
    return {module.name: module for module in build_modules(out_dir, filters_dir)}
