"""`meshveil bench filters`: what meshveil-dlp and meshveil-mask cost per exchange.

A GET whose response is 1 KB or 64 KB of JSON (synthetic API traffic with names and
e-mail addresses) goes through the built DLP and mask modules in the harness, chained as
Envoy chains them, with a policy that scans both directions for the detectors given
(default: the built-in catalog, less what does not fit a signed config), alerts in DLP
and masks in the mask filter. Per exchange it separates the time inside the modules
(callbacks minus the Python host functions they call) from the host's, and runs the same
exchanges through two pass-through modules for the harness's own per-callback floor,
which the "net" figure leaves out. The host's cost per host call outside the host
function (wasmtime-py's and ctypes' trampolines, the harness's dispatch: in Envoy a C++
call) is calibrated the same way, with a pass-through that makes a known number of host
calls, and a second net figure leaves that out too. Also printed: each module's size and
each VM's linear memory at the end of the run, against the targets (README "Speed").
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

from controlplane.compiler.compile import CompileError
from controlplane.detectors.loader import builtin_catalog
from controlplane.policy.compile import FilterName, compile_filter_config
from controlplane.policy.filter_config import FilterConfigError
from controlplane.policy.mask_keys import EphemeralKeys
from controlplane.policy.model import Policy
from harness.bench.host_call_timer import HostCallTimer, timed_host_calls
from harness.bench.pass_through import pass_through_module
from harness.bench.registry import BenchError, BenchTarget
from harness.bench.report import BenchReport, TargetCheck
from harness.host import FilterChain, Host, HostConfig, PluginConfig, PluginLoadError
from harness.traffic.model import HttpExchange, HttpMessage
from harness.traffic.synthetic import DEFAULT_SEED, json_exchanges

DEFAULT_MODULES = Path("build/filters")
SIZES = (1024, 64 * 1024)
DISTINCT_EXCHANGES = 64
DISTINCT_LARGE_EXCHANGES = 4
"""Synthetic 64 KB bodies take long to generate; a few distinct ones are enough."""
CALIBRATION_HOST_CALLS = 32
"""Host calls the calibrating pass-through makes per exchange."""
MICRO = 1e6
MEBIBYTE = 1024 * 1024
TARGET_P50_MICROSECONDS = 20.0
TARGET_MODULE_BYTES = MEBIBYTE
TARGET_MEMORY_BYTES = 8 * MEBIBYTE
# Detectors whose keyed masks need a key: the bench masks with keys made up for the run.
KEYED_DETECTORS = frozenset({"iban-code", "us-bank-account"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--modules",
        type=Path,
        default=DEFAULT_MODULES,
        metavar="DIR",
        help=f"the built filters (default {DEFAULT_MODULES}, from `meshveil build`)",
    )
    parser.add_argument("--count", type=int, default=1000, metavar="N", help="exchanges timed per size")
    parser.add_argument("--warmup", type=int, default=100, metavar="N", help="untimed exchanges first")
    parser.add_argument(
        "--detectors",
        default="catalog",
        metavar="IDS",
        help="comma-separated detector ids, or 'catalog': the built-in ones that fit (default)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the synthetic traffic")


@dataclass
class SizeTiming:
    size: int
    module_microseconds: list[float] = field(default_factory=list)
    host_call_microseconds: list[float] = field(default_factory=list)
    harness_microseconds: list[float] = field(default_factory=list)
    floor_microseconds: list[float] = field(default_factory=list)
    """Two pass-through modules' callbacks on the same exchanges: the harness's floor."""
    host_calls: list[int] = field(default_factory=list)
    """Host calls the filters made per exchange."""
    per_call_microseconds: list[float] = field(default_factory=list)
    """Per exchange: the harness's cost of one host call outside the host function."""

    def net_microseconds(self) -> list[float]:
        return [
            module - floor
            for module, floor in zip(self.module_microseconds, self.floor_microseconds, strict=True)
        ]

    def per_call_cost(self) -> float:
        """The calibrated cost per host call (a negative median is noise: none)."""
        return max(0.0, statistics.median(self.per_call_microseconds))

    def net_of_host_calls_microseconds(self) -> list[float]:
        cost = self.per_call_cost()
        nets = self.net_microseconds()
        return [net - calls * cost for net, calls in zip(nets, self.host_calls, strict=True)]


@dataclass(frozen=True)
class Setup:
    detectors: list[str]
    modules: dict[str, Path]
    load_before: float


def run(arguments: argparse.Namespace) -> BenchReport:
    if arguments.count <= 0 or arguments.warmup < 0:
        raise BenchError("--count must be positive and --warmup must not be negative")
    modules = {
        "dlp": _module(arguments.modules, FilterName.DLP),
        "mask": _module(arguments.modules, FilterName.MASK),
    }
    detectors, dlp_config, mask_config = _configs(arguments.detectors)
    setup = Setup(detectors, modules, os.getloadavg()[0])
    with timed_host_calls() as timer, Host(HostConfig()) as host:
        try:
            mask = host.load_plugin(
                PluginConfig(name="mask", module=modules["mask"], configuration=mask_config)
            )
            dlp = host.load_plugin(PluginConfig(name="dlp", module=modules["dlp"], configuration=dlp_config))
        except PluginLoadError as error:
            raise BenchError(str(error)) from error
        # Envoy's order: requests pass mask then DLP; responses DLP then mask.
        chain = FilterChain(host, [mask, dlp])
        # The floor exports the callbacks the filters do: neither handles proxy_on_done or
        # proxy_on_log, so the host calls neither on them.
        passing = [
            host.load_plugin(
                PluginConfig(name=f"pass-{index}", module=pass_through_module(end_callbacks=False))
            )
            for index in (1, 2)
        ]
        floor = FilterChain(host, passing)
        # The floor with a known number of host calls: its excess over the floor is what
        # the harness spends on them outside the host functions.
        calling = host.load_plugin(
            PluginConfig(
                name="pass-calling",
                module=pass_through_module(end_callbacks=False, host_calls=CALIBRATION_HOST_CALLS),
            )
        )
        calibration = FilterChain(host, [calling, passing[1]])
        baselines = Baselines(floor, calibration, timer)
        timings = [_time(chain, baselines, size, arguments) for size in SIZES]
        memory = {name: plugin.instance(0).vm.memory.size for name, plugin in (("dlp", dlp), ("mask", mask))}
    return _report(arguments, setup, timings, memory)


def _module(folder: Path, name: FilterName) -> Path:
    path = folder / f"{name.value}.wasm"
    if not path.is_file():
        raise BenchError(f"no module at {path}; run `meshveil build` first or pass --modules")
    return path


def _configs(selection: str) -> tuple[list[str], bytes, bytes]:
    """The bench policy's detectors and the DLP and mask configs compiled from it."""
    catalog = [detector.id for detector in builtin_catalog()]
    if selection == "catalog":
        wanted = catalog
    else:
        wanted = [name.strip() for name in selection.split(",") if name.strip()]
    unknown = sorted(set(wanted) - set(catalog))
    if unknown:
        raise BenchError(f"--detectors: unknown detector ids {', '.join(unknown)}")
    if not wanted:
        raise BenchError("--detectors: none given")
    keys = EphemeralKeys()
    policy = _policy(wanted)
    try:
        dlp = compile_filter_config(policy, FilterName.DLP, keys)
        mask = compile_filter_config(policy, FilterName.MASK, keys)
    except (FilterConfigError, CompileError) as error:
        raise BenchError(f"{error} (choose fewer with --detectors)") from error
    return wanted, dlp, mask


def _policy(detectors: list[str]) -> Policy:
    rules = {}
    for name in detectors:
        mask = (
            {"type": "hash", "key_ref": "bench-token-key"} if name in KEYED_DETECTORS else {"type": "redact"}
        )
        rules[name] = {"action": "alert", "mask": mask}
    return Policy.model_validate(
        {
            "api_version": "meshveil.io/v1alpha1",
            "kind": "DataProtectionPolicy",
            "name": "bench",
            "tenant": "bench",
            "targets": {"workloads": [{"namespace": "bench"}]},
            "routes": [{"name": "api", "content_types": ["application/json"], "detectors": rules}],
        }
    )


@dataclass(frozen=True)
class Baselines:
    """What the filters' timings are measured against."""

    floor: FilterChain
    calibration: FilterChain
    timer: HostCallTimer


def _time(chain: FilterChain, baselines: Baselines, size: int, arguments: argparse.Namespace) -> SizeTiming:
    distinct = DISTINCT_EXCHANGES if size <= SIZES[0] else DISTINCT_LARGE_EXCHANGES
    exchanges = [_get(exchange) for exchange in json_exchanges(distinct, size, arguments.seed)]
    traffic = itertools.cycle(exchanges)
    timing = SizeTiming(size)
    for _ in range(arguments.warmup):
        _check(chain.run(next(traffic)).local_reply, size)
    timer = baselines.timer
    for _ in range(arguments.count):
        exchange = next(traffic)
        timer.reset()
        started = time.perf_counter()
        outcome = chain.run(exchange)
        wall = time.perf_counter() - started
        _check(outcome.local_reply, size)
        callbacks = sum(outcome.module_seconds.values())
        timing.module_microseconds.append((callbacks - timer.seconds) * MICRO)
        timing.host_call_microseconds.append(timer.seconds * MICRO)
        timing.host_calls.append(timer.calls)
        timing.harness_microseconds.append((wall - callbacks) * MICRO)
        floor = sum(baselines.floor.run(exchange).module_seconds.values())
        timing.floor_microseconds.append(floor * MICRO)
        timer.reset()
        calibrating = sum(baselines.calibration.run(exchange).module_seconds.values()) - timer.seconds
        timing.per_call_microseconds.append((calibrating - floor) * MICRO / CALIBRATION_HOST_CALLS)
    return timing


def _get(exchange: HttpExchange) -> HttpExchange:
    """The exchange as a GET without a request body: the response is what is measured."""
    headers = [
        (name, "GET" if name == ":method" else value)
        for name, value in exchange.request.headers
        if name not in ("content-type", "content-length")
    ]
    return HttpExchange(HttpMessage(headers=headers), exchange.response, exchange.exchange_id)


def _check(local_reply: object, size: int) -> None:
    if local_reply is not None:
        raise BenchError(f"the filters answered a {size}-byte exchange themselves: {local_reply}")


def _report(
    arguments: argparse.Namespace, setup: Setup, timings: list[SizeTiming], memory: dict[str, int]
) -> BenchReport:
    report = BenchReport(target="filters")
    report.setup = {
        "modules": str(arguments.modules),
        "chain": "mask, dlp (requests in that order, responses reversed)",
        "detectors": _describe_detectors(arguments.detectors, setup.detectors),
        "traffic": (
            f"GET with a synthetic JSON response, {DISTINCT_EXCHANGES} distinct 1 KB and "
            f"{DISTINCT_LARGE_EXCHANGES} distinct 64 KB exchanges, seed {arguments.seed}"
        ),
        "exchanges timed per size": arguments.count,
        # Other processes share the cores; a loaded machine explains a slow run.
        "load average before (1 min)": f"{setup.load_before:.2f}",
    }
    net_one_kib = 0.0
    for timing in timings:
        label = f"{timing.size // 1024} KB"
        net_p50 = statistics.median(timing.net_microseconds())
        if timing.size == SIZES[0]:
            net_one_kib = net_p50
        report.add(
            f"{label}: in-module p50", statistics.median(timing.module_microseconds), "µs", "dlp + mask"
        )
        report.add(f"{label}: in-module p90", _percentile(timing.module_microseconds, 0.9), "µs")
        report.add(f"{label}: pass-through floor p50", statistics.median(timing.floor_microseconds), "µs")
        report.add(f"{label}: in-module net p50", net_p50, "µs", "in-module less the floor")
        report.add(
            f"{label}: in-module net of host calls p50",
            statistics.median(timing.net_of_host_calls_microseconds()),
            "µs",
            "net, less each host call's harness cost",
        )
        report.add(f"{label}: host calls per exchange", statistics.mean(timing.host_calls), "")
        report.add(
            f"{label}: harness cost per host call",
            timing.per_call_cost(),
            "µs",
            f"outside the host function; median, calibrated with {CALIBRATION_HOST_CALLS} calls",
        )
        report.add(f"{label}: host functions p50", statistics.median(timing.host_call_microseconds), "µs")
        report.add(
            f"{label}: harness p50", statistics.median(timing.harness_microseconds), "µs", "outside callbacks"
        )
        report.add(
            f"{label}: net throughput", timing.size / (net_p50 / MICRO) / MEBIBYTE, "MiB/s", "of response"
        )
    for name, path in setup.modules.items():
        report.add(f"{name} module size", path.stat().st_size / 1024, "KiB")
    for name, size in memory.items():
        report.add(f"{name} VM linear memory", size / MEBIBYTE, "MiB", "after the run")
    report.checks.append(
        TargetCheck("in-module net p50 for 1 KB", TARGET_P50_MICROSECONDS, net_one_kib, "µs", at_most=True)
    )
    for name, path in setup.modules.items():
        size_kib = path.stat().st_size / 1024
        report.checks.append(
            TargetCheck(f"{name} module size", TARGET_MODULE_BYTES / 1024, size_kib, "KiB", at_most=True)
        )
    for name, size in memory.items():
        megabytes = size / MEBIBYTE
        report.checks.append(
            TargetCheck(
                f"{name} VM linear memory", TARGET_MEMORY_BYTES / MEBIBYTE, megabytes, "MiB", at_most=True
            )
        )
    return report


def _describe_detectors(selection: str, detectors: list[str]) -> str:
    if selection == "catalog":
        return f"all {len(detectors)} built-in"
    return f"{len(detectors)}: {', '.join(detectors)}"


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


TARGET = BenchTarget(
    name="filters",
    help="per-exchange cost of meshveil-dlp + meshveil-mask on 1 KB and 64 KB JSON, module sizes, VM memory",
    add_arguments=add_arguments,
    run=run,
)
