"""Ed25519 keys: generation, files, key ids, and the `Signer` extension point.

A key pair lives in two files: `NAME.key` (PKCS#8 PEM, mode 0600, refused if anyone but
the owner can read it) and `NAME.pub.pem` (SubjectPublicKeyInfo PEM). A key id is the hex
of the first 16 bytes of SHA-256 over the raw 32-byte public key, so anyone holding the
public key can compute it and a filter can check it. Private key material never appears
in a repr, a log line or an error message.

`Signer` is the seam for keys that never leave hardware: a PKCS#11 or cloud-KMS signer
only has to provide `public_key` and `sign`; everything that signs takes a `Signer`.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from controlplane.trust.errors import TrustError

PRIVATE_SUFFIX = ".key"
PUBLIC_SUFFIX = ".pub.pem"
PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
KEY_ID_BYTES = 16
PRIVATE_KEY_MODE = 0o600
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def key_id_for(raw_public_key: bytes) -> str:
    if len(raw_public_key) != PUBLIC_KEY_BYTES:
        raise TrustError(f"an Ed25519 public key has {PUBLIC_KEY_BYTES} bytes, not {len(raw_public_key)}")
    return hashlib.sha256(raw_public_key).digest()[:KEY_ID_BYTES].hex()


def check_key_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise TrustError(
            f"key name {name!r} must be 1-64 letters, digits, '.', '_' or '-', starting alphanumeric"
        )
    return name


@dataclass(frozen=True)
class PublicKey:
    name: str
    raw: bytes

    def __post_init__(self) -> None:
        key_id_for(self.raw)  # validates the length

    @property
    def key_id(self) -> str:
        return key_id_for(self.raw)

    def verifies(self, signature: bytes, message: bytes) -> bool:
        if len(signature) != SIGNATURE_BYTES:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


class Signer(Protocol):
    """Anything that can sign with an Ed25519 key: a key file today, PKCS#11 or KMS tomorrow."""

    @property
    def public_key(self) -> PublicKey: ...

    def sign(self, message: bytes) -> bytes: ...


class FileSigner:
    """A signer backed by a private key file that was checked to be private."""

    __slots__ = ("_private", "_public")

    def __init__(self, private: Ed25519PrivateKey, name: str) -> None:
        self._private = private
        raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self._public = PublicKey(name, raw)

    @property
    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def __repr__(self) -> str:
        return f"FileSigner(name={self._public.name!r}, key_id={self._public.key_id!r})"


@dataclass(frozen=True)
class GeneratedKey:
    public_key: PublicKey
    private_path: Path
    public_path: Path


def generate_key_files(out_dir: Path, name: str) -> GeneratedKey:
    """Writes `NAME.key` (0600) and `NAME.pub.pem` into `out_dir`; never overwrites a key."""
    check_key_name(name)
    out_dir.mkdir(parents=True, exist_ok=True)
    private_path = out_dir / f"{name}{PRIVATE_SUFFIX}"
    public_path = out_dir / f"{name}{PUBLIC_SUFFIX}"
    for path in (private_path, public_path):
        if path.exists():
            raise TrustError(f"{path} already exists; refusing to overwrite a key")
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # O_EXCL with the mode at creation: the key is never readable by others, not even briefly.
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_KEY_MODE)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    signer = FileSigner(private, name)
    public_path.write_bytes(public_key_pem(signer.public_key))
    return GeneratedKey(signer.public_key, private_path, public_path)


def public_key_pem(key: PublicKey) -> bytes:
    return Ed25519PublicKey.from_public_bytes(key.raw).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_name_from_path(path: Path) -> str:
    for suffix in (PUBLIC_SUFFIX, PRIVATE_SUFFIX, ".pem", ".pub"):
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            return path.name[: -len(suffix)]
    return path.stem


def load_signer(path: Path) -> FileSigner:
    """Loads a private key file, refusing one that group or others may read."""
    try:
        mode = path.stat().st_mode
    except OSError as error:
        raise TrustError(f"{path}: cannot read private key: {error.strerror}") from error
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TrustError(
            f"{path}: private key is accessible by others (mode {stat.S_IMODE(mode):04o}); "
            f"run chmod 600 {path}"
        )
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        # The library's message may quote the file; say only what kind of problem it is.
        raise TrustError(f"{path}: not an unencrypted PKCS#8 PEM private key") from error
    if not isinstance(private, Ed25519PrivateKey):
        raise TrustError(f"{path}: not an Ed25519 private key")
    return FileSigner(private, key_name_from_path(path))


def load_public_key(path: Path) -> PublicKey:
    try:
        loaded = serialization.load_pem_public_key(path.read_bytes())
    except OSError as error:
        raise TrustError(f"{path}: cannot read public key: {error.strerror}") from error
    except ValueError as error:
        raise TrustError(f"{path}: not a PEM public key") from error
    if not isinstance(loaded, Ed25519PublicKey):
        raise TrustError(f"{path}: not an Ed25519 public key")
    raw = loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PublicKey(key_name_from_path(path), raw)
