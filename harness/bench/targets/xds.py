"""`meshveil bench xds`: policy change over REST -> every ECDS stream ACKed, with 1,000
simulated sidecars on loopback (targets: push p99 under 2 s, REST apply p50 under 20 ms).

The measurement lives with the ECDS server (controlplane.xds.bench); this file only
registers it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.bench.registry import BenchTarget
from harness.bench.report import BenchReport


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--streams", type=int, default=1_000, metavar="N", help="simulated sidecars (default 1000)"
    )
    parser.add_argument(
        "--rounds", type=int, default=5, metavar="N", help="pushed policy changes (default 5)"
    )
    parser.add_argument(
        "--applies",
        type=int,
        default=50,
        metavar="N",
        help="timed policy applies no stream receives (default 50)",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=60.0,
        metavar="S",
        help="give up when the fleet is not connected, or a round not ACKed, within S seconds (default 60)",
    )
    parser.add_argument(
        "--poll-interval", type=float, default=0.5, metavar="S", help="the control plane's poll_interval"
    )
    parser.add_argument(
        "--modules",
        type=Path,
        default=None,
        metavar="DIR",
        help="built modules to use (default: build them now)",
    )


def run(arguments: argparse.Namespace) -> BenchReport:
    # Imported here: the control plane stack is not needed to list bench targets.
    from controlplane.xds.bench.run import XdsBenchOptions, run_xds_bench  # noqa: PLC0415

    return run_xds_bench(
        XdsBenchOptions(
            streams=arguments.streams,
            rounds=arguments.rounds,
            applies=arguments.applies,
            deadline=arguments.deadline,
            poll_interval=arguments.poll_interval,
            modules_dir=arguments.modules,
        )
    )


TARGET = BenchTarget(
    name="xds",
    help="ECDS push latency to 1,000 simulated sidecars and REST policy apply latency",
    add_arguments=add_arguments,
    run=run,
)
