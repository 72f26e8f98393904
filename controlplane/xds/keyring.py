"""Config signing keys: private halves in the keys folder, which one signs in the database.

Replicas share the keys folder (a Kubernetes Secret or volume) and the database; a
rotation writes the new key file and then, in one transaction, marks it active, audits
it and bumps the config generation so every config is re-signed and re-pushed.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

from controlplane.storage import audit, generation, signing_keys
from controlplane.storage.database import Database
from controlplane.trust.errors import TrustError
from controlplane.trust.keys import PRIVATE_SUFFIX, FileSigner, PublicKey, generate_key_files, load_signer


class KeyRing:
    def __init__(self, keys_dir: Path, database: Database) -> None:
        self._keys_dir = keys_dir
        self._database = database
        self._signers: dict[str, FileSigner] = {}

    def ensure_active(self, actor: audit.Actor) -> PublicKey:
        """The active key. On a fresh database it adopts the one private key already in the
        keys folder (replicas sharing a mounted Secret agree on it), or creates one."""
        with self._database.read() as session:
            row = signing_keys.active(session)
            if row is not None:
                return PublicKey(row.name, row.public_key)
        existing = sorted(self._keys_dir.glob(f"*{PRIVATE_SUFFIX}")) if self._keys_dir.is_dir() else []
        if len(existing) > 1:
            names = ", ".join(path.name for path in existing)
            raise TrustError(
                f"{self._keys_dir} holds several private keys ({names}) and the database names none "
                "active; keep only the one to sign with"
            )
        if existing:
            return self._activate(load_signer(existing[0]).public_key, actor, adopted=True)
        return self.rotate(actor)

    def rotate(self, actor: audit.Actor) -> PublicKey:
        name = f"config-{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"
        return self._activate(generate_key_files(self._keys_dir, name).public_key, actor, adopted=False)

    def _activate(self, key: PublicKey, actor: audit.Actor, *, adopted: bool) -> PublicKey:
        with self._database.write() as session:
            previous = signing_keys.active(session)
            if adopted and previous is not None:
                # Another replica adopted a key first; its choice stands.
                return PublicKey(previous.name, previous.public_key)
            signing_keys.activate(session, key.key_id, key.name, key.raw)
            audit.record(
                session,
                actor,
                "key.rotate",
                "signing-key",
                key.key_id,
                tenant=None,
                before=previous.public_key if previous else None,
                after=key.raw,
                detail={"name": key.name, "previous": previous.key_id if previous else None},
            )
            generation.bump(session)
        return key

    def signer(self, key: PublicKey) -> FileSigner:
        """The private key for `key`, from the keys folder; refuses a file holding another key."""
        cached = self._signers.get(key.key_id)
        if cached is not None:
            return cached
        path = self._keys_dir / f"{key.name}{PRIVATE_SUFFIX}"
        if not path.exists():
            raise TrustError(f"the active signing key {key.key_id} ({key.name}) is not in {self._keys_dir}")
        signer = load_signer(path)
        if signer.public_key.raw != key.raw:
            raise TrustError(f"{path} does not hold the active signing key {key.key_id}")
        self._signers[key.key_id] = signer
        return signer
