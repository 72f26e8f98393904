"""`meshveil validate`: check modules before a host loads them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controlplane.cli.errors import EXIT_FINDINGS, CliError
from controlplane.cli.parser import defer

if TYPE_CHECKING:
    from controlplane.modules.validate import ModuleReport
    from controlplane.trust.admission import AdmissionRequest


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "validate",
        help="check that modules are sound proxy-Wasm 0.2.1 modules within their capabilities",
        description="Check each module's format, ABI, imports, declared capabilities and memory limits.",
    )
    defer(parser, _add_arguments)
    parser.set_defaults(handler=run)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    from controlplane.modules.validate import DEFAULT_MAX_MEMORY_BYTES  # noqa: PLC0415

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
    trust = parser.add_argument_group("trust", "also check signature, claims and issuer policy")
    trust.add_argument(
        "--trust-root", type=Path, default=None, metavar="keys.pub", help="trusted issuer keys"
    )
    trust.add_argument("--policy", type=Path, default=None, metavar="POLICY.json", help="trust policy file")
    trust.add_argument("--environment", default=None, help="environment of the policy (e.g. prod)")
    trust.add_argument("--signature", type=Path, default=None, metavar="FILE.sig", help="detached signature")
    trust.add_argument(
        "--now", type=int, default=None, metavar="SECONDS", help="check time (default: the clock)"
    )


def run(arguments: argparse.Namespace) -> int:
    from controlplane.modules.capabilities import CapabilityManifest, ManifestError  # noqa: PLC0415
    from controlplane.modules.validate import ValidationOptions, validate_file  # noqa: PLC0415

    manifest = None
    if arguments.capabilities is not None:
        try:
            manifest = CapabilityManifest.from_file(arguments.capabilities)
        except ManifestError as error:
            raise CliError(str(error)) from error
    missing = [str(path) for path in arguments.modules if not path.is_file()]
    if missing:
        raise CliError(f"no such file: {', '.join(missing)}")
    options = ValidationOptions(
        max_memory_bytes=arguments.max_memory, manifest_override=manifest, trust=_trust_request(arguments)
    )
    reports = [validate_file(path, options) for path in arguments.modules]
    if arguments.json:
        print(json.dumps({"modules": [report.to_json() for report in reports]}, indent=2))
    else:
        for report in reports:
            _print_report(report)
    return 0 if all(report.ok for report in reports) else EXIT_FINDINGS


def _trust_request(arguments: argparse.Namespace) -> AdmissionRequest | None:
    from controlplane.trust.admission import AdmissionRequest  # noqa: PLC0415
    from controlplane.trust.durations import now_or  # noqa: PLC0415
    from controlplane.trust.errors import TrustError  # noqa: PLC0415
    from controlplane.trust.policy import TrustPolicy  # noqa: PLC0415
    from controlplane.trust.trust_root import TrustRoot  # noqa: PLC0415

    if arguments.trust_root is None:
        if arguments.policy or arguments.environment or arguments.signature:
            raise CliError("--policy, --environment and --signature need --trust-root")
        return None
    if (arguments.policy is None) != (arguments.environment is None):
        raise CliError("--policy and --environment go together")
    if arguments.signature is not None and len(arguments.modules) != 1:
        raise CliError("--signature applies to one module; validate one module at a time")
    try:
        trust = TrustRoot.load(arguments.trust_root).current
        policy = (
            TrustPolicy.load(arguments.policy).environment(arguments.environment)
            if arguments.policy
            else None
        )
        if policy is not None:
            policy.allowed_issuer_ids(trust)  # a name the trust root does not know fails once, up front
        detached = arguments.signature.read_bytes() if arguments.signature else None
    except OSError as error:
        raise CliError(f"{error.filename}: {error.strerror}") from error
    except TrustError as error:
        raise CliError(str(error)) from error
    return AdmissionRequest(trust, now_or(arguments.now), policy, detached)


def _print_report(report: ModuleReport) -> None:
    for finding in report.findings:
        print(f"{report.path}: {finding.severity.value}: {finding.message} [{finding.code}]")
    if report.ok:
        version = report.abi_version.value if report.abi_version else "?"
        print(f"{report.path}: valid (proxy-Wasm ABI {version}, {len(report.imports)} imports, all declared)")
    else:
        errors = sum(1 for finding in report.findings if finding.severity.value == "error")
        print(f"{report.path}: INVALID ({errors} error{'s' if errors != 1 else ''})")
