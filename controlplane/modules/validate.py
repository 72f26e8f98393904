"""`meshveil validate`: checks a module against what a proxy-Wasm host will demand of it.

Each check yields findings with a severity; a module is valid when it has no errors.
The checks run in order of dependence: a file that is not Wasm gets that one finding,
not a cascade.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import wasmtime

from controlplane.modules.capabilities import CAPABILITIES_SECTION, CapabilityManifest, ManifestError
from controlplane.modules.wasm_binary import PAGE_SIZE, ExternalKind, WasmFormatError, WasmModule, parse
from controlplane.trust.admission import AdmissionRequest, assess_module
from harness.abi.catalog import (
    ABI_VERSION_MARKERS,
    CALLBACKS,
    HOST_FUNCTIONS,
    WASI_FUNCTIONS,
    WASI_MODULES,
    AbiVersion,
)

DEFAULT_MAX_MEMORY_BYTES = 64 * 1024 * 1024


class Severity(Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str
    message: str


@dataclass(frozen=True)
class ValidationOptions:
    max_memory_bytes: int = DEFAULT_MAX_MEMORY_BYTES
    manifest_override: CapabilityManifest | None = None
    """Judge imports against this manifest instead of the one embedded in the module."""
    trust: AdmissionRequest | None = None
    """Check signature, claims and issuer policy too; imports are then judged against the
    signed claims when the module has them, else against the manifest."""


@dataclass
class ModuleReport:
    path: Path
    abi_version: AbiVersion | None = None
    imports: list[str] = field(default_factory=list)
    capabilities: list[str] | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(finding.severity is Severity.ERROR for finding in self.findings)

    def to_json(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "valid": self.ok,
            "abi_version": self.abi_version.value if self.abi_version else None,
            "imports": self.imports,
            "capabilities": self.capabilities,
            "findings": [
                {"severity": finding.severity.value, "code": finding.code, "message": finding.message}
                for finding in self.findings
            ],
        }


def validate_file(path: Path, options: ValidationOptions) -> ModuleReport:
    report = ModuleReport(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        report.findings.append(Finding(Severity.ERROR, "unreadable", f"cannot read file: {error.strerror}"))
        return report
    validate_bytes(data, options, report)
    return report


def validate_bytes(data: bytes, options: ValidationOptions, report: ModuleReport) -> None:
    def error(code: str, message: str) -> None:
        report.findings.append(Finding(Severity.ERROR, code, message))

    try:
        module = parse(data)
    except WasmFormatError as problem:
        error("not-wasm" if problem.offset == 0 else "malformed", str(problem))
        return
    try:
        wasmtime.Module.validate(wasmtime.Engine(), data)
    except wasmtime.WasmtimeError as problem:
        error("invalid-wasm", f"not valid WebAssembly: {str(problem).splitlines()[0]}")
        return
    report.imports = [f"{item.module}.{item.name}" for item in module.imports]
    report.abi_version = _abi_version(module, report)
    report.findings.extend(_check_exports(module))
    report.findings.extend(_check_imports(module, report.abi_version))
    if not _judged_by_claims(data, options, report):
        report.findings.extend(_check_capabilities(module, options, report))
    report.findings.extend(_check_memory(module, options))
    if module.start_function is not None:
        error("start-function", "has a start function, which would run before the host can set up contexts")


def _abi_version(module: WasmModule, report: ModuleReport) -> AbiVersion | None:
    markers = [name for name in ABI_VERSION_MARKERS if module.export_named(name) is not None]
    if not markers:
        report.findings.append(
            Finding(
                Severity.ERROR,
                "no-abi-marker",
                "exports no proxy-Wasm ABI version marker (expected proxy_abi_version_0_2_1)",
            )
        )
        return None
    if len(markers) > 1:
        report.findings.append(
            Finding(
                Severity.ERROR, "several-abi-markers", f"exports several ABI markers: {', '.join(markers)}"
            )
        )
    version = ABI_VERSION_MARKERS[markers[-1]]
    if version is not AbiVersion.V0_2_1:
        report.findings.append(
            Finding(Severity.WARNING, "old-abi", f"declares proxy-Wasm ABI {version.value}, not 0.2.1")
        )
    return version


def _check_exports(module: WasmModule) -> Iterator[Finding]:
    memory = module.export_named("memory")
    if memory is None or memory.kind is not ExternalKind.MEMORY:
        yield Finding(Severity.ERROR, "no-memory-export", "does not export its linear memory as 'memory'")
    if module.export_named("proxy_on_memory_allocate") is None and module.export_named("malloc") is None:
        yield Finding(
            Severity.ERROR,
            "no-allocator",
            "exports neither proxy_on_memory_allocate nor malloc, so the host cannot return data",
        )
    for export in module.exports:
        if export.kind is not ExternalKind.FUNCTION or export.name not in CALLBACKS:
            continue
        signature = module.function_signature(export.index)
        expected = CALLBACKS[export.name]
        if signature not in expected:
            yield Finding(
                Severity.ERROR,
                "callback-signature",
                f"exports {export.name} with signature {signature}, expected {expected[0]}",
            )


def _check_imports(module: WasmModule, version: AbiVersion | None) -> Iterator[Finding]:
    for item in module.imports:
        qualified = f"{item.module}.{item.name}"
        if item.kind is not ExternalKind.FUNCTION:
            yield Finding(
                Severity.ERROR,
                "non-function-import",
                f"imports {item.kind.name.lower()} {qualified}; a proxy-Wasm host provides only functions",
            )
            continue
        if item.module in WASI_MODULES:
            expected_wasi = WASI_FUNCTIONS.get(item.name)
            if expected_wasi is None:
                yield Finding(
                    Severity.ERROR,
                    "unknown-wasi",
                    f"imports {qualified}, a WASI function Envoy does not provide",
                )
            elif item.signature != expected_wasi:
                yield Finding(
                    Severity.ERROR,
                    "import-signature",
                    f"imports {qualified} as {item.signature}, but it is {expected_wasi}",
                )
            else:
                yield Finding(Severity.INFO, "wasi-import", f"imports WASI function {qualified}")
            continue
        host_function = HOST_FUNCTIONS.get(item.name) if item.module == "env" else None
        if host_function is None:
            yield Finding(
                Severity.ERROR,
                "unknown-import",
                f"imports {qualified}, which is not a proxy-Wasm 0.2.1 host function",
            )
            continue
        if item.signature != host_function.signature:
            yield Finding(
                Severity.ERROR,
                "import-signature",
                f"imports {qualified} as {item.signature}, but ABI 0.2.1 defines {host_function.signature}",
            )
        if version is not None and version not in host_function.versions:
            yield Finding(
                Severity.ERROR,
                "import-version",
                f"imports {item.name}, which hosts do not provide to ABI {version.value} modules",
            )


def _judged_by_claims(data: bytes, options: ValidationOptions, report: ModuleReport) -> bool:
    """Adds the trust findings; true when signed claims judged the imports."""
    if options.trust is None:
        return False
    assessment = assess_module(data, options.trust)
    # Codes in validate's kebab-case; the reasons themselves are the filter's snake_case ones.
    for refusal in assessment.refusals:
        report.findings.append(Finding(Severity.ERROR, refusal.reason.replace("_", "-"), str(refusal)))
    if assessment.claims is None:
        return False
    report.capabilities = sorted(assessment.claims.capabilities)
    return True


def _check_capabilities(
    module: WasmModule, options: ValidationOptions, report: ModuleReport
) -> Iterator[Finding]:
    manifest = options.manifest_override
    if manifest is None:
        embedded = module.custom_sections.get(CAPABILITIES_SECTION, [])
        if not embedded:
            yield Finding(
                Severity.ERROR,
                "no-capabilities",
                f"declares no capabilities (no {CAPABILITIES_SECTION} section; pass --capabilities FILE)",
            )
            return
        if len(embedded) > 1:
            yield Finding(
                Severity.ERROR, "several-capabilities", f"has {len(embedded)} {CAPABILITIES_SECTION} sections"
            )
            return
        try:
            manifest = CapabilityManifest.from_json(embedded[0], f"section {CAPABILITIES_SECTION}")
        except ManifestError as problem:
            yield Finding(Severity.ERROR, "bad-capabilities", str(problem))
            return
    report.capabilities = sorted(manifest.capabilities)
    for item in module.imported_functions:
        if item.name not in manifest.capabilities:
            yield Finding(
                Severity.ERROR,
                "undeclared-capability",
                f"imports {item.module}.{item.name} but does not declare that capability",
            )


def _check_memory(module: WasmModule, options: ValidationOptions) -> Iterator[Finding]:
    export = module.export_named("memory")
    if export is None or export.kind is not ExternalKind.MEMORY:
        return
    limits = module.memory_limits(export.index)
    if limits is None:
        return
    limit_pages = options.max_memory_bytes // PAGE_SIZE
    if limits.minimum > limit_pages:
        yield Finding(
            Severity.ERROR,
            "memory-too-large",
            f"starts with {limits.minimum * PAGE_SIZE} bytes of memory, "
            f"above the {options.max_memory_bytes} allowed",
        )
    if limits.maximum is None:
        yield Finding(
            Severity.WARNING,
            "memory-unbounded",
            "declares no memory maximum; only the host's own limit bounds it",
        )
    elif limits.maximum > limit_pages:
        yield Finding(
            Severity.ERROR,
            "memory-too-large",
            f"may grow to {limits.maximum * PAGE_SIZE} bytes of memory, "
            f"above the {options.max_memory_bytes} allowed",
        )
