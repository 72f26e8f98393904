"""Key rings for the trust tests, and the fixed instant their validity windows use.

Plain helpers, not fixtures: the session fixtures built from them live in
tests/conftest.py so that every test folder shares one instance of each.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from controlplane.trust.keys import FileSigner, generate_key_files, load_signer

NOW = 1_800_000_000
"""A fixed instant (2027-01-15) so validity windows are reproducible."""

KEY_NAMES = ("release-1", "release-2", "release-3", "ci", "attacker")


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
