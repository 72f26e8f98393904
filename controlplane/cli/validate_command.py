"""`meshveil validate`: check modules before a host loads them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from controlplane.cli.errors import EXIT_FINDINGS, CliError
from controlplane.modules.capabilities import CapabilityManifest, ManifestError
from controlplane.modules.validate import (
    DEFAULT_MAX_MEMORY_BYTES,
    ModuleReport,
    ValidationOptions,
    validate_file,
)


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "validate",
        help="check that modules are sound proxy-Wasm 0.2.1 modules within their capabilities",
        description="Check each module's format, ABI, imports, declared capabilities and memory limits.",
    )
    parser.add_argument("modules", nargs="+", type=Path, metavar="FILE.wasm")
    parser.add_argument("--json", action="store_true", help="print a machine-readable report")
    parser.add_argument(
        "--capabilities",
        type=Path,
        default=None,
        help="judge imports against this capabilities.json instead of the module's embedded one",
    )
    parser.add_argument(
        "--max-memory",
        type=int,
        default=DEFAULT_MAX_MEMORY_BYTES,
        metavar="BYTES",
        help=f"largest linear memory a module may declare (default {DEFAULT_MAX_MEMORY_BYTES})",
    )
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    manifest = None
    if arguments.capabilities is not None:
        try:
            manifest = CapabilityManifest.from_file(arguments.capabilities)
        except ManifestError as error:
            raise CliError(str(error)) from error
    missing = [str(path) for path in arguments.modules if not path.is_file()]
    if missing:
        raise CliError(f"no such file: {', '.join(missing)}")
    options = ValidationOptions(max_memory_bytes=arguments.max_memory, manifest_override=manifest)
    reports = [validate_file(path, options) for path in arguments.modules]
    if arguments.json:
        print(json.dumps({"modules": [report.to_json() for report in reports]}, indent=2))
    else:
        for report in reports:
            _print_report(report)
    return 0 if all(report.ok for report in reports) else EXIT_FINDINGS


def _print_report(report: ModuleReport) -> None:
    for finding in report.findings:
        print(f"{report.path}: {finding.severity.value}: {finding.message} [{finding.code}]")
    if report.ok:
        version = report.abi_version.value if report.abi_version else "?"
        print(f"{report.path}: valid (proxy-Wasm ABI {version}, {len(report.imports)} imports, all declared)")
    else:
        errors = sum(1 for finding in report.findings if finding.severity.value == "error")
        print(f"{report.path}: INVALID ({errors} error{'s' if errors != 1 else ''})")
