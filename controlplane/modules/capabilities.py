"""Capability manifests: the proxy-Wasm functions a module declares it needs.

A manifest lives beside each filter's source (`filters/<filter>/capabilities.json`) and
travels inside the built module as the custom section `meshveil.capabilities`, so a
module carries its own declaration. Names are the ones Envoy's
`capability_restriction_config` uses: host function names (`proxy_log`), bare WASI names
(`fd_write`) and callback names (`proxy_on_request_headers`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.abi.catalog import CALLBACKS, HOST_FUNCTIONS, WASI_FUNCTIONS

CAPABILITIES_SECTION = "meshveil.capabilities"
KNOWN_CAPABILITIES = frozenset(HOST_FUNCTIONS) | frozenset(WASI_FUNCTIONS) | frozenset(CALLBACKS)


class ManifestError(ValueError):
    """A manifest that cannot be used; the message names the source and the problem."""


@dataclass(frozen=True)
class CapabilityManifest:
    module: str
    capabilities: frozenset[str]

    @classmethod
    def from_json(cls, raw: bytes, source: str) -> CapabilityManifest:
        try:
            document = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ManifestError(f"{source}: not valid JSON: {error}") from error
        if not isinstance(document, dict):
            raise ManifestError(f"{source}: expected a JSON object")
        module = document.get("module")
        if not isinstance(module, str) or not module:
            raise ManifestError(f"{source}: 'module' must be a non-empty string")
        capabilities = document.get("capabilities")
        if not isinstance(capabilities, list) or not all(isinstance(item, str) for item in capabilities):
            raise ManifestError(f"{source}: 'capabilities' must be a list of function names")
        unknown = sorted(set(capabilities) - KNOWN_CAPABILITIES)
        if unknown:
            raise ManifestError(f"{source}: unknown capabilities: {', '.join(unknown)}")
        return cls(module, frozenset(capabilities))

    @classmethod
    def from_file(cls, path: Path) -> CapabilityManifest:
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise ManifestError(f"{path}: cannot read: {error.strerror}") from error
        return cls.from_json(raw, str(path))

    def to_json(self) -> bytes:
        """Canonical form (sorted, compact), so embedding it keeps builds reproducible."""
        document = {"module": self.module, "capabilities": sorted(self.capabilities)}
        return json.dumps(document, separators=(",", ":"), sort_keys=True).encode("utf-8")
