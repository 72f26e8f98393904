"""The control plane's own key material for what policies name by `key_ref` (hash tokens,
format-preserving masks, fingerprints, the behaviour filter's identity key): one secret in
the keys folder, and per tenant and name a key derived from it (HMAC-SHA-256), so every
replica sharing the folder compiles the same keys, the same name gives one tenant the
same key everywhere (tokens join across services), and tenants never share a key.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from controlplane.trust.errors import TrustError

SECRET_FILE = "data-keys.secret"  # noqa: S105 - a file name
"""In the keys folder, next to the config signing keys (not a `.key` file: those are
signing keys, and the key ring adopts any it finds)."""
SECRET_BYTES = 32
_LABEL = b"meshveil.data-key.v1"


class DataKeyError(TrustError):
    """The secret cannot be read or made; the message names the file."""


class DerivedKeys:
    """A tenant's keys, derived from the control plane's secret."""

    def __init__(self, secret: bytes, tenant: str) -> None:
        if len(secret) < SECRET_BYTES:
            raise ValueError(
                f"the data-key secret has {len(secret)} bytes; at least {SECRET_BYTES} are needed"
            )
        self._secret = secret
        self._tenant = tenant.encode()

    def key(self, name: str) -> bytes | None:
        message = b"\0".join((_LABEL, self._tenant, name.encode()))
        return hmac.new(self._secret, message, hashlib.sha256).digest()


def load_or_create_secret(keys_dir: Path) -> bytes:
    """The secret in `keys_dir`, made (mode 0600) on first use; refuses one others can read.
    Made whole before it appears, so a replica starting at the same time reads it whole."""
    path = keys_dir / SECRET_FILE
    if path.exists():
        return _read(path)
    draft = keys_dir / f".{SECRET_FILE}.{secrets.token_hex(4)}"
    try:
        keys_dir.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(secrets.token_hex(SECRET_BYTES) + "\n")
                handle.flush()
                os.fsync(handle.fileno())  # on disk before it is linked: never an empty secret
            with contextlib.suppress(FileExistsError):  # another replica made it first; theirs stands
                os.link(draft, path)
        finally:
            # Also when writing failed: a partial secret must not stay behind in the folder.
            draft.unlink(missing_ok=True)
    except OSError as error:
        raise DataKeyError(f"{path}: cannot create the data-key secret ({error.strerror})") from error
    return _read(path)


def _read(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise DataKeyError(f"{path}: cannot read the data-key secret ({error})") from error
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise DataKeyError(
            f"{path}: accessible by others (mode {stat.S_IMODE(mode):04o}); run chmod 600 {path}"
        )
    try:
        secret = bytes.fromhex(text)
    except ValueError as error:
        raise DataKeyError(f"{path}: not a hex secret") from error
    if len(secret) < SECRET_BYTES:
        raise DataKeyError(f"{path}: {len(secret)} bytes; at least {SECRET_BYTES} are needed")
    return secret
