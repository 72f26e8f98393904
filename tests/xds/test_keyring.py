"""The config signing key a fresh installation starts with: adopted from the keys folder
when one is there (replicas sharing a mounted Secret agree on it), else generated."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.storage.audit import Actor
from controlplane.storage.database import Database, migrate, open_database
from controlplane.trust.errors import TrustError
from controlplane.trust.keys import generate_key_files
from controlplane.xds.keyring import KeyRing

ACTOR = Actor("system:test", "system")


@pytest.fixture
def database(tmp_path: Path) -> Database:
    opened = open_database(f"sqlite:///{tmp_path / 'meshveil.db'}")
    migrate(opened)
    return opened


def test_the_one_key_in_the_folder_is_adopted_by_every_replica(tmp_path: Path, database: Database) -> None:
    mounted = generate_key_files(tmp_path / "keys", "config-from-secret").public_key
    first = KeyRing(tmp_path / "keys", database).ensure_active(ACTOR)
    second = KeyRing(tmp_path / "keys", database).ensure_active(ACTOR)
    assert first.key_id == second.key_id == mounted.key_id
    assert sorted(path.name for path in (tmp_path / "keys").iterdir()) == [
        "config-from-secret.key",
        "config-from-secret.pub.pem",
    ]


def test_an_empty_folder_gets_a_new_key(tmp_path: Path, database: Database) -> None:
    key = KeyRing(tmp_path / "keys", database).ensure_active(ACTOR)
    assert (tmp_path / "keys" / f"{key.name}.key").exists()


def test_several_keys_and_none_active_is_refused(tmp_path: Path, database: Database) -> None:
    for name in ("one", "two"):
        generate_key_files(tmp_path / "keys", name)
    with pytest.raises(TrustError, match="several private keys"):
        KeyRing(tmp_path / "keys", database).ensure_active(ACTOR)
