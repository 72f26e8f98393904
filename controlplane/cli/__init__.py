"""The `meshveil` command line. Each command lives in its own module with a `register` function.

Command modules import only what building the parser needs; what a command runs on
(FastAPI, SQLAlchemy, gRPC, wasmtime, the compiler) is imported inside its handler, so
`meshveil --help` and `meshveil validate` do not load every other command's stack."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from controlplane.cli import (
    bench_command,
    build_command,
    demo_command,
    detectors_command,
    keys_command,
    package_command,
    replay_command,
    serve_command,
    sign_command,
    validate_command,
    verify_command,
)
from controlplane.cli.errors import CliError
from controlplane.cli.parser import CommandParser

# Each module adds its subcommand(s); order is the order `--help` lists them.
COMMAND_MODULES = (
    demo_command,
    build_command,
    validate_command,
    sign_command,
    verify_command,
    keys_command,
    serve_command,
    package_command,
    replay_command,
    bench_command,
    detectors_command,
)


def make_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="meshveil",
        description="meshveil: in-mesh data protection with proxy-Wasm filters.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    arguments = parser.parse_args(argv)
    try:
        exit_code: int = arguments.handler(arguments)
    except CliError as error:
        print(f"meshveil: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    return exit_code
