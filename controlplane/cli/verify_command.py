"""`meshveil verify`: would this module be admitted, would a filter take this config?

For a module: its signature (embedded or `--signature`), claims, issuer, validity and
capabilities, against a trust root and optionally an environment's policy. With
`--config`: the signed bundle, checked exactly as the module will check it inside Envoy.
Exit 0 when admitted, 1 when refused (the line says why), 2 when it could not check.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controlplane.cli.errors import EXIT_FINDINGS, CliError
from controlplane.cli.parser import defer

if TYPE_CHECKING:
    from controlplane.trust.errors import RefusedError
    from controlplane.trust.trust_root import TrustRoot

# The trust library (cryptography) is imported where it is used, so other commands do not
# load it.


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "verify",
        help="check a module's signature and claims, or a signed config, against a trust root",
        description="Check what a host would admit: a signed module and its claims, or a signed config.",
    )
    defer(parser, _add_arguments)
    parser.set_defaults(handler=run)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    from controlplane.trust.trust_root import DEFAULT_TRUST_ROOT_NAME  # noqa: PLC0415

    parser.add_argument("module", type=Path, metavar="FILE.wasm")
    parser.add_argument("--trust-root", type=Path, default=Path(DEFAULT_TRUST_ROOT_NAME), metavar="keys.pub")
    parser.add_argument("--signature", type=Path, default=None, metavar="FILE.sig", help="detached signature")
    parser.add_argument("--policy", type=Path, default=None, metavar="POLICY.json", help="trust policy file")
    parser.add_argument("--environment", default=None, help="environment of the policy to apply (e.g. prod)")
    parser.add_argument(
        "--now", type=int, default=None, metavar="SECONDS", help="check time (default: the clock)"
    )
    parser.add_argument("--json", action="store_true", help="print a machine-readable result")
    config = parser.add_argument_group("config", "check a signed config for this module instead")
    config.add_argument("--config", type=Path, default=None, metavar="BUNDLE", help="signed config bundle")
    config.add_argument("--plugin", default=None, help="plugin name as the host reports it")
    config.add_argument("--node", default="", metavar="NODE_ID", help="the sidecar's node id")
    config.add_argument("--namespace", default="", help="the workload's namespace")
    config.add_argument("--workload", default="", help="the workload's name")
    config.add_argument("--running-version", type=int, default=None, help="version the filter runs now")


def run(arguments: argparse.Namespace) -> int:
    from controlplane.trust.errors import TrustError  # noqa: PLC0415
    from controlplane.trust.trust_root import TrustRoot  # noqa: PLC0415

    try:
        root = TrustRoot.load(arguments.trust_root)
        data = arguments.module.read_bytes()
        if arguments.config is not None:
            return _verify_config(arguments, root, data)
        return _verify_module(arguments, root, data)
    except OSError as error:
        raise CliError(f"{error.filename}: {error.strerror}") from error
    except TrustError as error:
        raise CliError(str(error)) from error


def _verify_module(arguments: argparse.Namespace, root: TrustRoot, data: bytes) -> int:
    from controlplane.trust.admission import AdmissionRequest, admit_module  # noqa: PLC0415
    from controlplane.trust.capability_restriction import capability_restriction_config  # noqa: PLC0415
    from controlplane.trust.durations import now_or  # noqa: PLC0415
    from controlplane.trust.errors import RefusedError  # noqa: PLC0415
    from controlplane.trust.policy import TrustPolicy  # noqa: PLC0415

    if (arguments.policy is None) != (arguments.environment is None):
        raise CliError("--policy and --environment go together")
    policy = (
        TrustPolicy.load(arguments.policy).environment(arguments.environment) if arguments.policy else None
    )
    request = AdmissionRequest(
        trust=root.current,
        now=now_or(arguments.now),
        policy=policy,
        detached_signature=arguments.signature.read_bytes() if arguments.signature else None,
    )
    try:
        admitted = admit_module(data, request)
    except RefusedError as refusal:
        return _refused(arguments, refusal)
    names = {key.key_id: key.name for key in root.current.keys}
    signers = ", ".join(f"{names.get(key_id, '?')} ({key_id})" for key_id in sorted(admitted.signers))
    if arguments.json:
        document = {
            "path": str(arguments.module),
            "admitted": True,
            "signers": sorted(admitted.signers),
            "claims": json.loads(admitted.claims.to_json()),
            "capability_restriction_config": capability_restriction_config(admitted.claims),
        }
        print(json.dumps(document, indent=2))
        return 0
    print(
        f"{arguments.module}: admitted: {admitted.claims.subject} {admitted.claims.version}, "
        f"signed by {signers}"
    )
    print(f"  grants {', '.join(admitted.claims.capabilities)}")
    return 0


def _verify_config(arguments: argparse.Namespace, root: TrustRoot, data: bytes) -> int:
    from controlplane.modules.wasm_binary import WasmFormatError, parse  # noqa: PLC0415
    from controlplane.trust.build_info import read_build_info  # noqa: PLC0415
    from controlplane.trust.config_verification import FilterFacts, verify_bundle  # noqa: PLC0415
    from controlplane.trust.durations import now_or  # noqa: PLC0415
    from controlplane.trust.errors import RefusedError  # noqa: PLC0415
    from controlplane.trust.module_signature import split_signature  # noqa: PLC0415

    try:
        build = read_build_info(parse(split_signature(data).unsigned))
    except WasmFormatError as error:
        raise CliError(f"{arguments.module}: not a WebAssembly module: {error}") from error
    if build is None or build.trust_version is None:
        raise CliError(f"{arguments.module} was built without --trust-root; it takes any config unverified")
    compiled = root.states()[build.trust_version - root.root.version]
    facts = FilterFacts(
        module_name=build.module,
        build_id=build.build_id,
        now=now_or(arguments.now),
        node_id=arguments.node,
        namespace=arguments.namespace,
        workload=arguments.workload,
        plugin_name=arguments.plugin,
    )
    try:
        verified = verify_bundle(arguments.config.read_bytes(), compiled, facts, arguments.running_version)
    except RefusedError as refusal:
        return _refused(arguments, refusal)
    statement = verified.statement
    if arguments.json:
        print(
            json.dumps(
                {"path": str(arguments.config), "accepted": True, "version": statement.version}, indent=2
            )
        )
        return 0
    print(
        f"{arguments.config}: accepted: version {statement.version} of plugin {statement.plugin} for "
        f"{build.module}, {len(verified.signers)} signature(s), trust version {verified.trust.version}"
    )
    return 0


def _refused(arguments: argparse.Namespace, refusal: RefusedError) -> int:
    subject = arguments.config if arguments.config is not None else arguments.module
    if arguments.json:
        print(
            json.dumps(
                {"path": str(subject), "admitted": False, "reason": refusal.reason, "message": str(refusal)}
            )
        )
    else:
        print(f"{subject}: REFUSED [{refusal.reason}]: {refusal}")
    return EXIT_FINDINGS
