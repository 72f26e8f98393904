"""Small hand-written modules for validator tests, assembled with wasmtime's wat2wasm."""

from __future__ import annotations

import wasmtime

from controlplane.modules.capabilities import CAPABILITIES_SECTION, CapabilityManifest
from controlplane.modules.wasm_binary import custom_section

MINIMAL_EXPORTS = """
  (memory (export "memory") 1 16)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) i32.const 0)
  (func (export "proxy_on_context_create") (param i32 i32))
"""


def assemble(body: str, capabilities: list[str] | None = None) -> bytes:
    """A module with `body` inside `(module …)`, with an embedded manifest when `capabilities` is given."""
    data = bytes(wasmtime.wat2wasm(f"(module {body})"))
    if capabilities is not None:
        manifest = CapabilityManifest("test-module", frozenset(capabilities))
        data += custom_section(CAPABILITIES_SECTION, manifest.to_json())
    return data


def with_log_import(extra_import: str = "") -> str:
    return (
        '(import "env" "proxy_log" (func (param i32 i32 i32) (result i32)))' + extra_import + MINIMAL_EXPORTS
    )
