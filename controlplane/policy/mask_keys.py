"""Where the keys a policy names by `key_ref` come from when its filter configs are compiled.

A policy never holds a key: hash tokens, format-preserving replacement and finding
fingerprints name one (`key_ref`), and compiling looks it up in a `KeySource`. The keys
then ride in the signed filter config, which is why configs travel only over mTLS xDS.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Protocol

KEY_BYTES_MIN = 16
"""The filters refuse shorter keys (filters/masking/token.zig, format_preserving.zig)."""
KEY_BYTES_MAX = 64


class KeySource(Protocol):
    def key(self, name: str) -> bytes | None:
        """The key named `name`, or None when this source does not have it."""
        ...


class MappedKeys:
    """Keys given by name (a deployment's key file, or tests)."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        for name, value in keys.items():
            if not KEY_BYTES_MIN <= len(value) <= KEY_BYTES_MAX:
                raise ValueError(
                    f"key {name!r} has {len(value)} bytes; keys must have {KEY_BYTES_MIN} to {KEY_BYTES_MAX}"
                )
        self._keys = dict(keys)

    def key(self, name: str) -> bytes | None:
        return self._keys.get(name)


class EphemeralKeys:
    """A fresh random key per name, kept for this object's life: for trying a policy on
    recorded traffic, where tokens must join within the run but must not be reusable."""

    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}

    def key(self, name: str) -> bytes | None:
        if name not in self._keys:
            self._keys[name] = secrets.token_bytes(32)
        return self._keys[name]

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._keys))


class NoKeys:
    """No key is available: actions that need one are compiled as redaction instead."""

    def key(self, name: str) -> bytes | None:
        del name
        return None
