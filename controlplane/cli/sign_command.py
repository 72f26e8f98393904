"""`meshveil sign` (modules) and `meshveil sign-config` (filter configs)."""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controlplane.cli.errors import CliError
from controlplane.cli.parser import defer

if TYPE_CHECKING:
    from controlplane.trust.claims import ModuleClaims
    from controlplane.trust.config_statement import Workload

# The trust library (cryptography) is imported where it is used, so other commands do not
# load it.


def register(subparsers: Any) -> None:
    _register_sign(subparsers)
    _register_sign_config(subparsers)


def _register_sign(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sign",
        help="sign a module and grant its capability claims",
        description=(
            "Sign a module in the WebAssembly tool-conventions signature format (the one wasmsign2 "
            "implements), with claims naming its issuer, hash, granted capabilities and validity. A module "
            "that has claims is co-signed unless --new-claims is given."
        ),
    )
    parser.add_argument("module", type=Path, metavar="FILE.wasm")
    parser.add_argument(
        "--key", type=Path, required=True, metavar="NAME.key", help="private key to sign with"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write the module (default: in place)"
    )
    parser.add_argument(
        "--detach", type=Path, default=None, metavar="FILE.sig", help="write the signature here"
    )
    parser.add_argument(
        "--signature", type=Path, default=None, metavar="FILE.sig", help="detached signature to add to"
    )
    parser.add_argument(
        "--new-claims", action="store_true", help="replace existing claims (drops old signatures)"
    )
    parser.add_argument("--version", default="0.0.0", help="module version named in the claims")
    parser.add_argument("--subject", default=None, help="module name (default: the one it was built as)")
    parser.add_argument("--valid-for", default="90d", help="how long the claims hold (default 90d)")
    parser.add_argument("--not-before", type=int, default=None, metavar="SECONDS", help="start of validity")
    parser.add_argument(
        "--grant",
        default=None,
        metavar="NAMES",
        help="comma-separated host functions (default: the manifest's)",
    )
    parser.add_argument(
        "--now", type=int, default=None, metavar="SECONDS", help="issue time (default: the clock)"
    )
    parser.set_defaults(handler=_sign)


def _register_sign_config(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sign-config",
        help="sign a filter config as a DSSE envelope for one module and its targets",
        description=(
            "Wrap a filter's config in a DSSE envelope naming its version, validity, module and targets, "
            "signed by enough keys of the trust root; writes the bytes to hand the plugin as configuration."
        ),
    )
    defer(parser, _add_sign_config_arguments)
    parser.set_defaults(handler=_sign_config)


def _add_sign_config_arguments(parser: argparse.ArgumentParser) -> None:
    from controlplane.trust.trust_root import DEFAULT_TRUST_ROOT_NAME  # noqa: PLC0415

    parser.add_argument("config", type=Path, metavar="CONFIG", help="the filter's own config (any bytes)")
    parser.add_argument(
        "--module", type=Path, required=True, metavar="FILE.wasm", help="the module it is for"
    )
    parser.add_argument(
        "--key", type=Path, action="append", required=True, metavar="NAME.key", help="repeat for k of n"
    )
    parser.add_argument("--trust-root", type=Path, default=Path(DEFAULT_TRUST_ROOT_NAME), metavar="keys.pub")
    parser.add_argument("--plugin", required=True, help="the Wasm plugin's name in Envoy")
    parser.add_argument("--version", type=int, required=True, help="config version, increasing per plugin")
    parser.add_argument(
        "--node", action="append", default=[], metavar="NODE_ID", help="target node id (repeat)"
    )
    parser.add_argument(
        "--workload",
        action="append",
        default=[],
        metavar="NAMESPACE/NAME",
        help="target workload, NAME may be *",
    )
    parser.add_argument("--valid-for", default="1d", help="how long the config holds (default 1d)")
    parser.add_argument(
        "--now", type=int, default=None, metavar="SECONDS", help="issue time (default: the clock)"
    )
    parser.add_argument("--out", type=Path, required=True, help="file to write the signed bundle to")


def _sign(arguments: argparse.Namespace) -> int:
    from controlplane.trust.durations import now_or, parse_duration  # noqa: PLC0415
    from controlplane.trust.errors import TrustError  # noqa: PLC0415
    from controlplane.trust.keys import load_signer  # noqa: PLC0415
    from controlplane.trust.module_signing import ClaimRequest, sign_with_claims  # noqa: PLC0415

    source: Path = arguments.module
    try:
        data = source.read_bytes()
        detached = arguments.signature.read_bytes() if arguments.signature else None
        signer = load_signer(arguments.key)
        has_claims = _has_claims(data)
        request = None
        if arguments.new_claims or not has_claims:
            grant = (
                frozenset(name.strip() for name in arguments.grant.split(",")) if arguments.grant else None
            )
            request = ClaimRequest(
                now=now_or(arguments.now),
                valid_for_seconds=parse_duration(arguments.valid_for),
                not_before=arguments.not_before,
                version=arguments.version,
                subject=arguments.subject,
                capabilities=grant,
            )
        result = sign_with_claims(
            data, signer, request=request, detached=detached, detach=arguments.detach is not None
        )
    except OSError as error:
        raise CliError(f"{error.filename}: {error.strerror}") from error
    except TrustError as error:
        raise CliError(f"{source}: {error}") from error
    destination = arguments.out or source
    _write(destination, result.signed.module)
    if arguments.detach is not None:
        _write(arguments.detach, result.signed.signature)
    action = "granted claims and signed" if result.new_claims else "co-signed"
    print(f"{destination}: {action} with key {signer.public_key.name} ({signer.public_key.key_id})")
    _print_claims(result.claims)
    if arguments.detach is not None:
        print(f"  detached signature: {arguments.detach}")
    return 0


def _has_claims(data: bytes) -> bool:
    from controlplane.modules.wasm_binary import WasmFormatError, parse  # noqa: PLC0415
    from controlplane.trust.claims import read_claims  # noqa: PLC0415
    from controlplane.trust.errors import TrustError  # noqa: PLC0415
    from controlplane.trust.module_signature import split_signature  # noqa: PLC0415

    try:
        return read_claims(parse(split_signature(data).unsigned)) is not None
    except WasmFormatError as error:
        raise TrustError(f"not a WebAssembly module: {error}") from error


def _print_claims(claims: ModuleClaims) -> None:
    expires = datetime.datetime.fromtimestamp(claims.expires, tz=datetime.UTC).isoformat()
    print(f"  subject {claims.subject} version {claims.version}, issuer {claims.issuer}")
    print(f"  module hash sha256:{claims.module_hash}")
    print(f"  grants {', '.join(claims.capabilities) or 'nothing'}")
    print(f"  valid until {expires}")


def _sign_config(arguments: argparse.Namespace) -> int:
    from controlplane.modules.wasm_binary import WasmFormatError, parse  # noqa: PLC0415
    from controlplane.trust.build_info import read_build_info  # noqa: PLC0415
    from controlplane.trust.claims import module_hash  # noqa: PLC0415
    from controlplane.trust.config_statement import (  # noqa: PLC0415
        Bundle,
        ConfigStatement,
        ModuleIdentity,
        Targets,
        sign_config,
    )
    from controlplane.trust.durations import now_or, parse_duration  # noqa: PLC0415
    from controlplane.trust.errors import TrustError  # noqa: PLC0415
    from controlplane.trust.keys import load_signer  # noqa: PLC0415
    from controlplane.trust.module_signature import split_signature  # noqa: PLC0415
    from controlplane.trust.trust_root import TrustRoot  # noqa: PLC0415

    try:
        module_bytes = arguments.module.read_bytes()
        inner = arguments.config.read_bytes()
        root = TrustRoot.load(arguments.trust_root)
        build = read_build_info(parse(split_signature(module_bytes).unsigned))
        if build is None or build.trust_version is None:
            raise TrustError(f"{arguments.module} was built without --trust-root; it verifies no configs")
        signers = [load_signer(path) for path in arguments.key]
        now = now_or(arguments.now)
        statement = ConfigStatement(
            plugin=arguments.plugin,
            version=arguments.version,
            issued_at=now,
            expires=now + parse_duration(arguments.valid_for),
            module=ModuleIdentity(build.module, build.build_id, module_hash(module_bytes)),
            targets=Targets(tuple(arguments.node), tuple(_workload(item) for item in arguments.workload)),
            key_ids=tuple(signer.public_key.key_id for signer in signers),
            config=inner,
        )
        bundle = sign_config(statement, signers, root.statements_after(build.trust_version))
        # Refuse to write what the filters would refuse: keys below the current threshold.
        root.current.verified_signers(Bundle.from_bytes(bundle).config, "the config")
    except OSError as error:
        raise CliError(f"{error.filename}: {error.strerror}") from error
    except WasmFormatError as error:
        raise CliError(f"{arguments.module}: not a WebAssembly module: {error}") from error
    except TrustError as error:
        raise CliError(str(error)) from error
    _write(arguments.out, bundle)
    print(f"{arguments.out}: config version {statement.version} for {build.module} plugin {statement.plugin}")
    print(f"  {len(bundle)} bytes, {len(signers)} signature(s), expires at {statement.expires}")
    return 0


def _workload(text: str) -> Workload:
    from controlplane.trust.config_statement import Workload  # noqa: PLC0415
    from controlplane.trust.errors import TrustError  # noqa: PLC0415

    namespace, separator, name = text.partition("/")
    if not separator or not namespace or not name:
        raise TrustError(f"workload {text!r} must be NAMESPACE/NAME (NAME may be *)")
    return Workload(namespace, name)


def _write(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".partial")
    temporary.write_bytes(data)
    temporary.replace(path)
