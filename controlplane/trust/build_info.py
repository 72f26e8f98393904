"""What `meshveil build` records about a module in its `meshveil.build` custom section:
its name, its build id (the identity compiled into the module, which config envelopes
name), and whether it verifies its configs against a compiled trust root.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controlplane.modules.wasm_binary import WasmModule
from controlplane.trust.encoding import canonical_json, require, require_keys, strict_json_object
from controlplane.trust.errors import TrustError

BUILD_SECTION = "meshveil.build"


@dataclass(frozen=True)
class BuildInfo:
    module: str
    build_id: str
    """Hex SHA-256 of the module as compiled (see `controlplane/trust/anchors.py`)."""
    trust_version: int | None
    """Version of the trust state compiled in; None when the module verifies no configs."""

    @property
    def verifies_configs(self) -> bool:
        return self.trust_version is not None

    def to_json(self) -> bytes:
        document: dict[str, Any] = {
            "module": self.module,
            "build_id": self.build_id,
            "trust_version": self.trust_version,
        }
        return canonical_json(document)

    @classmethod
    def from_json(cls, raw: bytes, source: str) -> BuildInfo:
        document = strict_json_object(raw, source)
        require_keys(document, {"module", "build_id", "trust_version"}, source)
        trust_version = document.get("trust_version")
        if trust_version is not None and (
            not isinstance(trust_version, int) or isinstance(trust_version, bool)
        ):
            raise TrustError(f"{source}: 'trust_version' must be an integer or null")
        return cls(
            require(document, "module", str, source),
            require(document, "build_id", str, source),
            trust_version,
        )


def read_build_info(module: WasmModule) -> BuildInfo | None:
    sections = module.custom_sections.get(BUILD_SECTION, [])
    if not sections:
        return None
    if len(sections) > 1:
        raise TrustError(f"the module has {len(sections)} {BUILD_SECTION} sections")
    return BuildInfo.from_json(sections[0], f"section {BUILD_SECTION}")
