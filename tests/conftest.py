"""Shared fixtures. Modules are built once per test session into a temporary folder, both
plain and with the session trust root compiled in (the trust, filter and UEBA tests share
those; session fixtures defined here are built once, not once per importing module)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.modules.build import BuiltModule, build_modules
from controlplane.modules.sources import default_filters_dir
from controlplane.trust.trust_root import TrustRoot
from controlplane.trust.trust_state import TrustState
from tests.trust.keys import KEY_NAMES, KeyRing, make_key_ring

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def filters_dir() -> Path:
    return default_filters_dir()


@pytest.fixture(scope="session")
def built_modules(tmp_path_factory: pytest.TempPathFactory, filters_dir: Path) -> dict[str, BuiltModule]:
    """Every module `meshveil build` produces, by name (filters and testdata)."""
    out_dir = tmp_path_factory.mktemp("modules")
    return {module.name: module for module in build_modules(out_dir, filters_dir)}


@pytest.fixture(scope="session")
def key_ring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    """Release keys 1-3 (the trust root, 2 of 3), a CI key, and a key nobody trusts."""
    return make_key_ring(tmp_path_factory.mktemp("keys"), KEY_NAMES)


@pytest.fixture(scope="session")
def trust_root(key_ring: KeyRing, tmp_path_factory: pytest.TempPathFactory) -> TrustRoot:
    keys = tuple(key_ring[name].public_key for name in ("release-1", "release-2", "release-3", "ci"))
    root = TrustRoot(TrustState(1, 2, keys))
    root.save(tmp_path_factory.mktemp("root") / "keys.pub")
    return root


@pytest.fixture(scope="session")
def trust_root_path(trust_root: TrustRoot, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("root-file") / "keys.pub"
    trust_root.save(path)
    return path


@pytest.fixture(scope="session")
def trusted_modules(
    tmp_path_factory: pytest.TempPathFactory, filters_dir: Path, trust_root: TrustRoot
) -> dict[str, BuiltModule]:
    """Every module built with the session trust root compiled in."""
    out_dir = tmp_path_factory.mktemp("trusted-modules")
    return {module.name: module for module in build_modules(out_dir, filters_dir, trust_root=trust_root)}
