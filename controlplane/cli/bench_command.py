"""`meshveil bench TARGET`: speed measurements that print their numbers.

Targets come from `harness.bench.targets` (one file each), so a new benchmark needs no
change here.
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from typing import Any

from controlplane.cli.errors import EXIT_FINDINGS, CliError
from controlplane.cli.parser import defer
from harness.bench.registry import BenchError, BenchTarget, discover_targets


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bench",
        help="measure speed (exchanges/s, per-callback overhead, …) and print the numbers",
        description="Run one benchmark target and print what it measured, with ratios side by side.",
    )
    # Discovering the targets imports each of them (and what they measure): only for `bench`.
    defer(parser, _add_targets)


def _add_targets(parser: argparse.ArgumentParser) -> None:
    targets = parser.add_subparsers(dest="bench_target", metavar="TARGET", required=True)
    for target in discover_targets():
        target_parser = targets.add_parser(target.name, help=target.help, description=target.help)
        target.add_arguments(target_parser)
        target_parser.add_argument("--json", action="store_true", help="print a machine-readable report")
        target_parser.add_argument(
            "--check", action="store_true", help="exit with status 1 when a stated speed target is not met"
        )
        target_parser.set_defaults(handler=partial(run, target))


def run(target: BenchTarget, arguments: argparse.Namespace) -> int:
    try:
        report = target.run(arguments)
    except BenchError as error:
        raise CliError(str(error)) from error
    if arguments.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print("\n".join(report.lines()))
    if arguments.check and not all(check.met for check in report.checks):
        return EXIT_FINDINGS
    return 0
