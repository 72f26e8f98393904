"""`meshveil bench harness`: exchanges per second through a chain of three filters, and
what the host itself costs per callback next to bare wasmtime calls into an empty one.

The issue's target: at least 1,000 exchanges/s in one process for 1 KB JSON exchanges
through a chain of three pass-through filters. By default the chain is three instances of
`pass_through.FILTER_WAT`; `--plugin` (as for `meshveil replay`) benches any other
chain, e.g. the built filters with their configurations.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

from harness.bench.empty_callback import BareModule, host_round_trip
from harness.bench.pass_through import pass_through_module
from harness.bench.registry import BenchError, BenchTarget
from harness.bench.report import BenchReport, TargetCheck
from harness.bench.timing import best_seconds_per_call
from harness.host import FilterChain, Host, HostConfig, PluginConfig, PluginLoadError
from harness.replay.plugin_specs import PluginSpecError, parse_plugin_specs
from harness.traffic.model import HttpExchange
from harness.traffic.synthetic import DEFAULT_SEED, json_exchanges

PASS_THROUGH_FILTERS = ("pass-1", "pass-2", "pass-3")
TARGET_EXCHANGES_PER_SECOND = 1_000.0
TARGET_BODY_SIZE = 1024
DISTINCT_EXCHANGES = 256
"""Generated once and cycled, so generation stays out of the timed loop."""
MICRO = 1e6


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="SPEC",
        help="bench this chain instead of three pass-through filters (same SPEC as `meshveil replay`)",
    )
    parser.add_argument(
        "--count", type=int, default=3_000, metavar="N", help="exchanges to time (default 3000)"
    )
    parser.add_argument("--seconds", type=float, metavar="S", help="time for S seconds instead of a count")
    parser.add_argument(
        "--warmup", type=int, default=100, metavar="N", help="untimed exchanges first (default 100)"
    )
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="VMs per plugin (default 1)")
    parser.add_argument(
        "--body-size",
        type=int,
        default=TARGET_BODY_SIZE,
        metavar="BYTES",
        help="JSON body size (default 1024)",
    )
    parser.add_argument(
        "--callback-calls", type=int, default=20_000, metavar="N", help="calls per empty-callback timing loop"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the synthetic traffic")


@dataclass(frozen=True)
class CallbackTiming:
    """Seconds per call into the same empty callback, three ways."""

    generic: float
    unchecked: float
    through_host: float


@dataclass
class ChainTiming:
    exchanges: int
    wall_seconds: float
    host_seconds: float
    module_seconds: float
    callbacks: int


def run(arguments: argparse.Namespace) -> BenchReport:
    _check(arguments)
    load_before = os.getloadavg()[0]
    configs = _chain(arguments.plugin)
    exchanges = json_exchanges(
        min(DISTINCT_EXCHANGES, max(arguments.count, 1)), arguments.body_size, arguments.seed
    )
    with Host(HostConfig(workers=arguments.workers)) as host:
        try:
            plugins = [host.load_plugin(config) for config in configs]
        except PluginLoadError as error:
            raise BenchError(str(error)) from error
        chain = FilterChain(host, plugins)
        workers = itertools.cycle(range(arguments.workers))
        stream = itertools.cycle(exchanges)
        for _ in range(arguments.warmup):
            chain.run(next(stream), worker=next(workers))
        timing = _time_chain(chain, stream, workers, arguments.count, arguments.seconds)
        bare = BareModule(_module_bytes(configs[0]))
        calls = CallbackTiming(
            generic=best_seconds_per_call(bare.generic_call(), arguments.callback_calls),
            unchecked=best_seconds_per_call(bare.unchecked_call(), arguments.callback_calls),
            through_host=best_seconds_per_call(host_round_trip(plugins[0]), arguments.callback_calls),
        )
    return _report(arguments, configs, timing, calls, load_before)


def _check(arguments: argparse.Namespace) -> None:
    if arguments.count <= 0 and arguments.seconds is None:
        raise BenchError(f"--count must be positive, got {arguments.count}")
    if arguments.seconds is not None and arguments.seconds <= 0:
        raise BenchError(f"--seconds must be positive, got {arguments.seconds}")
    if not 1 <= arguments.workers <= 256:
        raise BenchError(f"--workers must be between 1 and 256, got {arguments.workers}")
    if arguments.body_size < 256:
        raise BenchError(f"--body-size must be at least 256 bytes, got {arguments.body_size}")
    if arguments.warmup < 0 or arguments.callback_calls <= 0:
        raise BenchError("--warmup must not be negative and --callback-calls must be positive")


def _chain(specs: list[str]) -> list[PluginConfig]:
    if not specs:
        return [PluginConfig(name=name, module=pass_through_module()) for name in PASS_THROUGH_FILTERS]
    try:
        return parse_plugin_specs(specs)
    except PluginSpecError as error:
        raise BenchError(str(error)) from error


def _module_bytes(config: PluginConfig) -> bytes:
    return config.module if isinstance(config.module, bytes) else config.module.read_bytes()


def _time_chain(
    chain: FilterChain,
    stream: Iterator[HttpExchange],
    workers: Iterator[int],
    count: int,
    seconds: float | None,
) -> ChainTiming:
    timing = ChainTiming(exchanges=0, wall_seconds=0.0, host_seconds=0.0, module_seconds=0.0, callbacks=0)
    started = time.perf_counter()
    deadline = started + seconds if seconds is not None else None
    while (timing.exchanges < count) if deadline is None else (time.perf_counter() < deadline):
        outcome = chain.run(next(stream), worker=next(workers))
        timing.exchanges += 1
        timing.host_seconds += outcome.host_seconds
        timing.module_seconds += sum(outcome.module_seconds.values())
        timing.callbacks += sum(len(observation.callbacks) for observation in outcome.filters)
    timing.wall_seconds = time.perf_counter() - started
    return timing


def _report(
    arguments: argparse.Namespace,
    configs: list[PluginConfig],
    timing: ChainTiming,
    calls: CallbackTiming,
    load_before: float,
) -> BenchReport:
    report = BenchReport(target="harness")
    default_chain = not arguments.plugin
    report.setup = {
        "chain": " -> ".join(config.name for config in configs)
        + (" (pass-through filters)" if default_chain else ""),
        "traffic": f"POST, {arguments.body_size}-byte JSON bodies both ways, seed {arguments.seed}",
        "workers": arguments.workers,
        "exchanges timed": timing.exchanges,
        # Other processes share the cores; a loaded machine explains a slow run.
        "load average before (1 min)": f"{load_before:.2f}",
    }
    n = max(timing.exchanges, 1)
    host_only = max(timing.host_seconds - timing.module_seconds, 0.0) / n
    callbacks = timing.callbacks / n
    overhead = host_only / callbacks if callbacks else 0.0
    rate = timing.exchanges / timing.wall_seconds if timing.wall_seconds > 0 else 0.0
    report.add(
        "exchanges per second", rate, "/s", f"{timing.exchanges} exchanges in {timing.wall_seconds:.2f} s"
    )
    report.add("time per exchange", timing.wall_seconds / n * MICRO, "µs")
    report.add("  inside modules", timing.module_seconds / n * MICRO, "µs")
    report.add("  in the host", host_only * MICRO, "µs", "chain run minus module time")
    report.add("callbacks per exchange", callbacks, "", f"into the {len(configs)} modules")
    report.add("host overhead per callback", overhead * MICRO, "µs")
    report.add("empty callback, wasmtime-py call", calls.generic * MICRO, "µs", "Func.__call__, no host")
    report.add(
        "empty callback, unchecked C call", calls.unchecked * MICRO, "µs", "preallocated arguments, no host"
    )
    report.add(
        "empty callback through the host", calls.through_host * MICRO, "µs", "host dispatch round-trip"
    )
    report.add("host round-trip / unchecked call", calls.through_host / calls.unchecked, "x")
    report.add("host round-trip / wasmtime-py call", calls.through_host / calls.generic, "x")
    report.add("host overhead per callback / wasmtime-py call", overhead / calls.generic, "x")
    if default_chain and arguments.body_size == TARGET_BODY_SIZE:
        report.checks.append(
            TargetCheck(
                f">= {TARGET_EXCHANGES_PER_SECOND:,.0f} exchanges/s (1 KB JSON, 3 pass-through filters)",
                TARGET_EXCHANGES_PER_SECOND,
                rate,
                "/s",
            )
        )
    return report


TARGET = BenchTarget(
    name="harness",
    help="exchanges per second through three filters and the host's per-callback overhead",
    add_arguments=add_arguments,
    run=run,
)
