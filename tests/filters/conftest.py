"""The built filters, by module name (from the session's shared build)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.modules.build import BuiltModule


@pytest.fixture(scope="session")
def modules(built_modules: dict[str, BuiltModule]) -> dict[str, Path]:
    return {name: module.path for name, module in built_modules.items()}
