"""`meshveil validate` accepts sound modules and refuses each kind of bad one with a named reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlplane.cli import main
from controlplane.modules.build import BuiltModule
from controlplane.modules.validate import ModuleReport, Severity, ValidationOptions, validate_bytes
from tests.modules.wat_modules import MINIMAL_EXPORTS, assemble, with_log_import


def findings_of(data: bytes, options: ValidationOptions | None = None) -> ModuleReport:
    report = ModuleReport(Path("module.wasm"))
    validate_bytes(data, options or ValidationOptions(), report)
    return report


def error_codes(report: ModuleReport) -> set[str]:
    return {finding.code for finding in report.findings if finding.severity is Severity.ERROR}


def test_minimal_declared_module_is_valid() -> None:
    report = findings_of(assemble(with_log_import(), ["proxy_log"]))
    assert report.ok, report.findings
    assert report.imports == ["env.proxy_log"]
    assert report.abi_version is not None and report.abi_version.value == "0.2.1"


def test_non_wasm_file_is_refused() -> None:
    report = findings_of(b'{"not": "wasm"}')
    assert error_codes(report) == {"not-wasm"}
    assert "magic bytes" in report.findings[0].message


def test_truncated_module_is_refused_with_the_offset() -> None:
    data = assemble(with_log_import(), ["proxy_log"])
    report = findings_of(data[: len(data) // 2])
    assert error_codes(report) == {"malformed"}
    assert "at byte" in report.findings[0].message


def test_import_outside_the_abi_is_refused() -> None:
    body = with_log_import('(import "env" "open_socket" (func (param i32) (result i32)))')
    report = findings_of(assemble(body, ["proxy_log"]))
    assert "unknown-import" in error_codes(report)
    assert any("env.open_socket" in finding.message for finding in report.findings)


def test_import_with_the_wrong_signature_is_refused() -> None:
    body = '(import "env" "proxy_log" (func (param i32 i32) (result i32)))' + MINIMAL_EXPORTS
    report = findings_of(assemble(body, ["proxy_log"]))
    assert "import-signature" in error_codes(report)


def test_undeclared_capability_is_refused() -> None:
    body = with_log_import(
        '(import "env" "proxy_http_call" (func (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))'
    )
    report = findings_of(assemble(body, ["proxy_log"]))
    assert error_codes(report) == {"undeclared-capability"}
    assert "proxy_http_call" in report.findings[-1].message


def test_module_without_any_declaration_is_refused() -> None:
    report = findings_of(assemble(with_log_import()))
    assert error_codes(report) == {"no-capabilities"}


def test_missing_abi_marker_is_refused() -> None:
    body = with_log_import().replace('(func (export "proxy_abi_version_0_2_1"))', "")
    report = findings_of(assemble(body, ["proxy_log"]))
    assert error_codes(report) == {"no-abi-marker"}


def test_wasi_imports_are_reported_as_such() -> None:
    body = with_log_import(
        '(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))'
    )
    report = findings_of(assemble(body, ["proxy_log", "fd_write"]))
    assert report.ok
    assert any(finding.code == "wasi-import" for finding in report.findings)


def test_start_function_is_refused() -> None:
    body = with_log_import() + "(func $init) (start $init)"
    report = findings_of(assemble(body, ["proxy_log"]))
    assert error_codes(report) == {"start-function"}


def test_memory_above_the_configured_maximum_is_refused() -> None:
    body = with_log_import().replace('(memory (export "memory") 1 16)', '(memory (export "memory") 1 4096)')
    report = findings_of(assemble(body, ["proxy_log"]), ValidationOptions(max_memory_bytes=16 * 65536))
    assert error_codes(report) == {"memory-too-large"}


def test_missing_allocator_is_refused() -> None:
    body = with_log_import().replace(
        '(func (export "proxy_on_memory_allocate") (param i32) (result i32) i32.const 0)', ""
    )
    report = findings_of(assemble(body, ["proxy_log"]))
    assert error_codes(report) == {"no-allocator"}


def test_callback_with_the_wrong_signature_is_refused() -> None:
    body = with_log_import().replace(
        '(func (export "proxy_on_context_create") (param i32 i32))',
        '(func (export "proxy_on_context_create") (param i32))',
    )
    report = findings_of(assemble(body, ["proxy_log"]))
    assert error_codes(report) == {"callback-signature"}


def test_built_filters_validate(
    built_modules: dict[str, BuiltModule], capsys: pytest.CaptureFixture[str]
) -> None:
    paths = [str(module.path) for module in built_modules.values()]
    assert main(["validate", *paths]) == 0
    output = capsys.readouterr().out
    assert output.count("valid (proxy-Wasm ABI 0.2.1") == len(paths)


def test_cli_exit_codes_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"\x00asm\x01\x00\x00\x00\x02\x7f")
    assert main(["validate", "--json", str(bad)]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["modules"][0]["valid"] is False
    assert document["modules"][0]["findings"][0]["code"] == "malformed"

    assert main(["validate", str(tmp_path / "missing.wasm")]) == 2
    error_lines = capsys.readouterr().err.strip().splitlines()
    assert error_lines == [f"meshveil: error: no such file: {tmp_path / 'missing.wasm'}"]


def test_capabilities_override_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = tmp_path / "m.wasm"
    module.write_bytes(assemble(with_log_import()))
    manifest = tmp_path / "caps.json"
    manifest.write_text(json.dumps({"module": "m", "capabilities": ["proxy_log"]}))
    assert main(["validate", "--capabilities", str(manifest), str(module)]) == 0
    manifest.write_text(json.dumps({"module": "m", "capabilities": ["proxy_teleport"]}))
    assert main(["validate", "--capabilities", str(manifest), str(module)]) == 2
    assert "unknown capabilities: proxy_teleport" in capsys.readouterr().err
