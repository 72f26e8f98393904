"""Module claims, in the spirit of wasmCloud's wascap: who issued the module, which module it
is, its hash, the capabilities it is granted, and when the grant is valid.

Claims travel in the custom section `meshveil.claims` (canonical JSON), placed after the
code so the module signature covers them. `module_hash` is SHA-256 over the module without
its `signature` and `meshveil.claims` sections, so it names the code and the build-time
sections, not the grant about them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from controlplane.modules.capabilities import KNOWN_CAPABILITIES
from controlplane.modules.wasm_binary import WasmModule, without_custom_sections
from controlplane.trust.encoding import canonical_json, require, require_keys, strict_json_object
from controlplane.trust.errors import TrustError
from controlplane.trust.module_signature import SIGNATURE_SECTION

CLAIMS_SECTION = "meshveil.claims"
CLAIMS_SCHEMA = "meshveil.claims/v1"


def module_hash(data: bytes) -> str:
    return hashlib.sha256(without_custom_sections(data, {SIGNATURE_SECTION, CLAIMS_SECTION})).hexdigest()


@dataclass(frozen=True)
class ModuleClaims:
    issuer: str
    """Key id of the key that issued (and signed) these claims."""
    subject: str
    """The module's name, e.g. meshveil-dlp."""
    module_hash: str
    capabilities: tuple[str, ...]
    """Host functions the module may import, by name (Envoy's capability names)."""
    callbacks: tuple[str, ...]
    """Callbacks the host may call into the module; Envoy gates these too."""
    version: str
    issued_at: int
    not_before: int
    expires: int
    claims_id: str
    """Unique per issuance, so a grant can be told apart and revoked in an audit log."""
    build_id: str = ""

    def __post_init__(self) -> None:
        unknown = sorted((set(self.capabilities) | set(self.callbacks)) - KNOWN_CAPABILITIES)
        if unknown:
            raise TrustError(f"claims name unknown capabilities: {', '.join(unknown)}")
        if self.expires <= self.not_before:
            raise TrustError("claims expire before they become valid")

    @property
    def granted(self) -> frozenset[str]:
        return frozenset(self.capabilities) | frozenset(self.callbacks)

    def to_json(self) -> bytes:
        document: dict[str, Any] = {
            "schema": CLAIMS_SCHEMA,
            "issuer": self.issuer,
            "subject": self.subject,
            "module_hash": self.module_hash,
            "capabilities": sorted(self.capabilities),
            "callbacks": sorted(self.callbacks),
            "version": self.version,
            "issued_at": self.issued_at,
            "not_before": self.not_before,
            "expires": self.expires,
            "id": self.claims_id,
            "build_id": self.build_id,
        }
        return canonical_json(document)

    @classmethod
    def from_json(cls, raw: bytes, source: str) -> ModuleClaims:
        document = strict_json_object(raw, source)
        fields = {
            "schema", "issuer", "subject", "module_hash", "capabilities", "callbacks", "version",
            "issued_at", "not_before", "expires", "id", "build_id",
        }  # fmt: skip
        require_keys(document, fields, source)
        if require(document, "schema", str, source) != CLAIMS_SCHEMA:
            raise TrustError(f"{source}: schema is not {CLAIMS_SCHEMA}")
        names = {}
        for key in ("capabilities", "callbacks"):
            values = require(document, key, list, source)
            if not all(isinstance(value, str) for value in values):
                raise TrustError(f"{source}: {key!r} must list function names")
            names[key] = tuple(values)
        return cls(
            issuer=require(document, "issuer", str, source),
            subject=require(document, "subject", str, source),
            module_hash=require(document, "module_hash", str, source),
            capabilities=names["capabilities"],
            callbacks=names["callbacks"],
            version=require(document, "version", str, source),
            issued_at=require(document, "issued_at", int, source),
            not_before=require(document, "not_before", int, source),
            expires=require(document, "expires", int, source),
            claims_id=require(document, "id", str, source),
            build_id=require(document, "build_id", str, source),
        )


def read_claims(module: WasmModule) -> ModuleClaims | None:
    sections = module.custom_sections.get(CLAIMS_SECTION, [])
    if not sections:
        return None
    if len(sections) > 1:
        raise TrustError(f"the module has {len(sections)} {CLAIMS_SECTION} sections")
    return ModuleClaims.from_json(sections[0], f"section {CLAIMS_SECTION}")
