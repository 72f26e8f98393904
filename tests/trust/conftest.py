"""Fixtures for the trust tests: keys, trust roots, small signed modules, and filters
built with a trust root (once per session, like the shared `built_modules`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from controlplane.modules.build import BuiltModule, build_modules
from controlplane.trust.keys import FileSigner, generate_key_files, load_signer
from controlplane.trust.trust_root import TrustRoot
from controlplane.trust.trust_state import TrustState
from tests.modules.wat_modules import assemble, with_log_import

NOW = 1_800_000_000
"""A fixed instant (2027-01-15) so validity windows are reproducible."""


@dataclass(frozen=True)
class KeyRing:
    folder: Path
    signers: dict[str, FileSigner]

    def __getitem__(self, name: str) -> FileSigner:
        return self.signers[name]

    def private_path(self, name: str) -> Path:
        return self.folder / f"{name}.key"

    def public_path(self, name: str) -> Path:
        return self.folder / f"{name}.pub.pem"


def make_key_ring(folder: Path, names: tuple[str, ...]) -> KeyRing:
    for name in names:
        generate_key_files(folder, name)
    return KeyRing(folder, {name: load_signer(folder / f"{name}.key") for name in names})


KEY_NAMES = ("release-1", "release-2", "release-3", "ci", "attacker")


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


@pytest.fixture
def small_module() -> bytes:
    """A tiny proxy-Wasm module importing proxy_log, with a manifest declaring it."""
    return assemble(with_log_import(), ["proxy_log"])


@pytest.fixture(scope="session")
def trusted_modules(
    tmp_path_factory: pytest.TempPathFactory, filters_dir: Path, trust_root: TrustRoot
) -> dict[str, BuiltModule]:
    """Every module built with the session trust root compiled in."""
    out_dir = tmp_path_factory.mktemp("trusted-modules")
    return {module.name: module for module in build_modules(out_dir, filters_dir, trust_root=trust_root)}
