"""`meshveil build`: compile the filter modules."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from controlplane.cli.errors import CliError
from controlplane.cli.parser import defer

DEFAULT_OUT_DIR = Path("build") / "filters"


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "build",
        help="compile the filter modules to wasm32",
        description="Compile meshveil's proxy-Wasm modules with the pinned Zig and write them to a folder.",
    )
    defer(parser, _add_arguments)
    parser.set_defaults(handler=run)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    from controlplane.modules.build import OPTIMIZE_MODES  # noqa: PLC0415

    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT_DIR, help=f"output folder (default {DEFAULT_OUT_DIR})"
    )
    parser.add_argument(
        "--filters", type=Path, default=None, help="the filters/ source folder (default: meshveil's)"
    )
    parser.add_argument(
        "--optimize", choices=OPTIMIZE_MODES, default="ReleaseFast", help="Zig optimisation mode"
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="Zig cache folder (default ~/.cache/meshveil/zig)"
    )
    parser.add_argument(
        "--keep-names",
        action="store_true",
        help="keep function names in release modules, for profiling (docs/profiling.md); larger modules",
    )
    parser.add_argument(
        "--trust-root",
        type=Path,
        default=None,
        metavar="keys.pub",
        help="compile this trust root into the filters so they verify signed configs (default: none)",
    )


def run(arguments: argparse.Namespace) -> int:
    from controlplane.modules.build import BuildError, build_modules  # noqa: PLC0415
    from controlplane.modules.capabilities import ManifestError  # noqa: PLC0415
    from controlplane.modules.sources import default_filters_dir  # noqa: PLC0415
    from controlplane.modules.toolchain import ToolchainError  # noqa: PLC0415
    from controlplane.trust.errors import TrustError  # noqa: PLC0415
    from controlplane.trust.trust_root import TrustRoot  # noqa: PLC0415

    filters_dir = arguments.filters or default_filters_dir()
    try:
        trust_root = TrustRoot.load(arguments.trust_root) if arguments.trust_root else None
        built = build_modules(
            arguments.out,
            filters_dir,
            optimize=arguments.optimize,
            cache_dir=arguments.cache_dir,
            trust_root=trust_root,
            keep_names=arguments.keep_names,
        )
    except BuildError as error:
        if error.detail:
            print(error.detail, file=sys.stderr)
        raise CliError(str(error)) from error
    except (ManifestError, ToolchainError, TrustError) as error:
        raise CliError(str(error)) from error
    for module in built:
        kind = "testdata" if module.testdata else "filter"
        print(f"{module.name:<16} {kind:<8} {module.size:>8} bytes  sha256:{module.sha256}  {module.path}")
    print(f"built {len(built)} modules into {arguments.out.resolve()}")
    if trust_root is None:
        print("config verification: OFF (no --trust-root); the filters take any configuration")
    else:
        print(f"config verification: on, trust version {trust_root.current.version} compiled in")
    return 0
