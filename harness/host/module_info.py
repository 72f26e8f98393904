"""What a compiled module asks for and offers: its imports, exported callbacks and ABI version.

The ABI version comes from the `proxy_abi_version_*` marker export, as proxy-wasm-cpp-host's
`BytecodeUtil::getAbiVersion` reads it (the first marker in export order wins); a module
without one is refused, as Envoy refuses it ("Missing or unknown Proxy-Wasm ABI version").
"""

from __future__ import annotations

from dataclasses import dataclass

import wasmtime

from harness.abi.catalog import ABI_VERSION_MARKERS, AbiVersion, FunctionSignature


@dataclass(frozen=True)
class ImportSpec:
    module: str
    name: str
    signature: FunctionSignature | None
    """None for a non-function import (memory, table, global)."""

    @property
    def qualified_name(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(frozen=True)
class ModuleInfo:
    abi_version: AbiVersion | None
    imports: tuple[ImportSpec, ...]
    functions: dict[str, FunctionSignature]
    """Exported functions by name."""
    memory_export: str | None


def _valtype_name(valtype: wasmtime.ValType) -> str:
    return str(valtype)


def _signature(func_type: wasmtime.FuncType) -> FunctionSignature:
    return FunctionSignature(
        tuple(_valtype_name(param) for param in func_type.params),
        tuple(_valtype_name(result) for result in func_type.results),
    )


def inspect_module(module: wasmtime.Module) -> ModuleInfo:
    imports = tuple(
        ImportSpec(
            module=item.module,
            name=item.name or "",
            signature=_signature(item.type) if isinstance(item.type, wasmtime.FuncType) else None,
        )
        for item in module.imports
    )
    functions: dict[str, FunctionSignature] = {}
    memory_export: str | None = None
    abi_version: AbiVersion | None = None
    for export in module.exports:
        if isinstance(export.type, wasmtime.FuncType):
            functions[export.name] = _signature(export.type)
            if abi_version is None and export.name in ABI_VERSION_MARKERS:
                abi_version = ABI_VERSION_MARKERS[export.name]
        elif isinstance(export.type, wasmtime.MemoryType) and memory_export is None:
            memory_export = export.name
    return ModuleInfo(
        abi_version=abi_version, imports=imports, functions=functions, memory_export=memory_export
    )
