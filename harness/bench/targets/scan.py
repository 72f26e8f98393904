"""`meshveil bench scan`: the scanning engine's speed inside Wasm and its findings, next to
Presidio's pattern recognizers, Python's `re` and Hyperscan, on one generated corpus.

The issue's targets: at least 500 MB/s on clean traffic and 150 MB/s on traffic with ~1%
sensitive values, in-Wasm on one core, and under 10 µs in-module for a 1 KB JSON body at
p50. The engine is timed inside the module (an exported loop scans a buffer N times), so
no Python call overhead is counted; the baselines run on the same bytes in this process.
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections import Counter
from dataclasses import dataclass

from controlplane.compiler.cache import compiled_tables
from controlplane.compiler.compile import CompileError
from controlplane.compiler.tables import decode
from controlplane.compiler.wasm_engine import (
    DirectEngine,
    WasmEngineError,
    add_module_arguments,
    scan_probe_module,
)
from controlplane.detectors.loader import builtin_catalog
from controlplane.detectors.model import Detector
from harness.bench.json_pieces import encode_pieces, json_pieces
from harness.bench.registry import BenchError, BenchTarget
from harness.bench.report import BenchReport, TargetCheck
from harness.bench.scan_baselines import BaselineUnavailableError, Hyperscan, PresidioPatterns, PythonRe, Span
from harness.bench.scan_corpus import DEFAULT_SEED, DENSE_FRACTION, Corpus, Planted, build_corpus, json_bodies

TARGET_CLEAN_MB_S = 500.0
TARGET_DENSE_MB_S = 150.0
TARGET_BODY_P50_US = 10.0
MEGA = 1e6
MICRO = 1e6


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_module_arguments(parser)
    parser.add_argument(
        "--size", type=int, default=4 << 20, metavar="BYTES", help="corpus size (default 4 MiB)"
    )
    parser.add_argument(
        "--baseline-bytes",
        type=int,
        default=1 << 20,
        metavar="BYTES",
        help="corpus prefix Python re and Hyperscan run over (default 1 MiB)",
    )
    parser.add_argument(
        "--presidio-bytes",
        type=int,
        default=256 << 10,
        metavar="BYTES",
        help="corpus prefix Presidio runs over, for speed and findings (default 256 KiB)",
    )
    parser.add_argument(
        "--bodies", type=int, default=200, metavar="N", help="1 KB JSON bodies timed (default 200)"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, metavar="N", help="timing repeats, best kept (default 3)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the corpus")
    parser.add_argument(
        "--no-baselines", action="store_true", help="measure meshveil only (no Presidio, re or Hyperscan)"
    )


@dataclass(frozen=True)
class Speeds:
    meshveil: float
    """MB/s inside the module."""
    python_re: float | None = None
    hyperscan: float | None = None
    presidio: float | None = None


@dataclass(frozen=True)
class Accuracy:
    """Planted values found and findings that hit nothing planted, per engine."""

    planted: Counter[str]
    found: dict[str, Counter[str]]
    false_positives: dict[str, Counter[str]]
    covered: dict[str, set[str]]
    """Entities each engine has recognizers for."""
    only_found_by: dict[str, Counter[str]]


def run(arguments: argparse.Namespace) -> BenchReport:
    _check(arguments)
    load_before = os.getloadavg()[0]
    catalog = builtin_catalog()
    try:
        module = scan_probe_module(arguments.modules, rebuild=arguments.rebuild)
        tables = compiled_tables(catalog)
        engine = DirectEngine(module, tables)
    except (WasmEngineError, CompileError) as error:
        raise BenchError(str(error)) from error
    clean = build_corpus(arguments.size, seed=arguments.seed)
    dense = build_corpus(arguments.size, seed=arguments.seed + 1, density=DENSE_FRACTION)
    speeds = {
        name: _speeds(arguments, engine, catalog, corpus)
        for name, corpus in (("clean", clean), ("dense", dense))
    }
    bodies = {
        name: _body_microseconds(arguments, engine, density)
        for name, density in (("clean", 0.0), ("dense", DENSE_FRACTION))
    }
    accuracy = (
        None
        if arguments.no_baselines
        else _accuracy(engine, catalog, tables, (clean, dense), arguments.presidio_bytes)
    )
    report = BenchReport(target="scan")
    report.setup = _setup(arguments, clean, dense, tables, load_before)
    _report_speeds(report, speeds, bodies)
    if accuracy is not None:
        _report_accuracy(report, accuracy)
    report.checks = [
        TargetCheck(
            f">= {TARGET_CLEAN_MB_S:.0f} MB/s in-Wasm, clean",
            TARGET_CLEAN_MB_S,
            speeds["clean"].meshveil,
            "MB/s",
        ),
        TargetCheck(
            f">= {TARGET_DENSE_MB_S:.0f} MB/s in-Wasm, ~1% sensitive",
            TARGET_DENSE_MB_S,
            speeds["dense"].meshveil,
            "MB/s",
        ),
        TargetCheck(
            f"< {TARGET_BODY_P50_US:.0f} µs p50 for a 1 KB JSON body (as bodies/s at p50)",
            MICRO / TARGET_BODY_P50_US,
            MICRO / statistics.median(bodies["dense"].whole),
            "/s",
        ),
    ]
    return report


def _check(arguments: argparse.Namespace) -> None:
    if arguments.size < 64 << 10:
        raise BenchError(f"--size must be at least 65536 bytes, got {arguments.size}")
    for name in ("baseline_bytes", "presidio_bytes", "bodies", "repeats"):
        if getattr(arguments, name) <= 0:
            raise BenchError(f"--{name.replace('_', '-')} must be positive, got {getattr(arguments, name)}")


def _speeds(
    arguments: argparse.Namespace, engine: DirectEngine, catalog: list[Detector], corpus: Corpus
) -> Speeds:
    data = corpus.data
    address = engine.load(data)
    best = min(engine.time_scan(address, len(data), 1)[0] for _ in range(arguments.repeats))
    if arguments.no_baselines:
        return Speeds(len(data) / best / MEGA)
    prefix = data[: arguments.baseline_bytes]
    text = prefix.decode()
    few = data[: arguments.presidio_bytes].decode()
    try:
        python_re = PythonRe(catalog)
        hyperscan = Hyperscan(catalog)
        presidio = PresidioPatterns({detector.entity for detector in catalog})
    except BaselineUnavailableError as error:
        raise BenchError(f"{error}; or run with --no-baselines") from error
    return Speeds(
        meshveil=len(data) / best / MEGA,
        python_re=len(prefix) / python_re.seconds(text) / MEGA,
        hyperscan=len(prefix) / min(hyperscan.seconds(prefix) for _ in range(arguments.repeats)) / MEGA,
        presidio=len(few) / presidio.seconds(few) / MEGA,
    )


@dataclass
class BodyTimes:
    """Per 1 KB body, µs in-module: scanned whole, and value by value as the filters do."""

    whole: list[float]
    per_value: list[float]


def _body_microseconds(arguments: argparse.Namespace, engine: DirectEngine, density: float) -> BodyTimes:
    """Per body: the mean in-module time of many scans of it (a call's overhead spread thin)."""
    iterations = 200
    times = BodyTimes([], [])
    for body in json_bodies(arguments.bodies, seed=arguments.seed + 2, density=density):
        records = encode_pieces(json_pieces(body))
        for timer, data, into in (
            (engine.time_scan, body, times.whole),
            (engine.time_pieces, records, times.per_value),
        ):
            address = engine.load(data)
            seconds = min(timer(address, len(data), iterations)[0] for _ in range(arguments.repeats))
            into.append(seconds / iterations * MICRO)
    return times


def _accuracy(
    engine: DirectEngine, catalog: list[Detector], tables: bytes, corpora: tuple[Corpus, ...], limit: int
) -> Accuracy:
    """Both engines over the first `limit` bytes of each corpus, against the planted values."""
    entities = [detector.entity for detector in decode(tables).detectors]
    presidio = PresidioPatterns({detector.entity for detector in catalog})
    covered = {"meshveil": set(entities), "Presidio": presidio.entities}
    planted: Counter[str] = Counter()
    found: dict[str, Counter[str]] = {name: Counter() for name in covered}
    false_positives: dict[str, Counter[str]] = {name: Counter() for name in covered}
    only: dict[str, Counter[str]] = {name: Counter() for name in covered}
    for corpus in corpora:
        data = corpus.data[:limit]
        truth = [item for item in corpus.planted if item.end <= limit]
        spans = {
            "meshveil": [
                Span(entities[f.detector], f.start, f.end) for f in engine.scan(data, capacity=1 << 17)
            ],
            "Presidio": presidio.find(data.decode()),
        }
        planted.update(item.entity for item in truth)
        hits = {
            name: {item for item in truth if any(_hits(span, item) for span in spans[name])} for name in spans
        }
        for name, engine_spans in spans.items():
            found[name].update(item.entity for item in hits[name])
            false_positives[name].update(
                span.entity for span in engine_spans if not any(_hits(span, item) for item in truth)
            )
            other = "Presidio" if name == "meshveil" else "meshveil"
            only[name].update(item.entity for item in hits[name] - hits[other])
    return Accuracy(planted, found, false_positives, covered, only)


def _hits(span: Span, item: Planted) -> bool:
    return span.entity == item.entity and span.start < item.end and item.start < span.end


def _setup(
    arguments: argparse.Namespace, clean: Corpus, dense: Corpus, tables: bytes, load_before: float
) -> dict[str, object]:
    decoded = decode(tables)
    states = [decoded.automata[index].state_count for index in decoded.scan_automata]
    return {
        "corpus": "JSON API responses, service logs, form posts, LLM chat transcripts, "
        f"seed {arguments.seed}",
        "clean corpus": f"{len(clean.data):,} bytes, nothing planted",
        "dense corpus": f"{len(dense.data):,} bytes, {len(dense.planted)} planted values "
        f"({dense.planted_bytes / len(dense.data):.2%} of bytes)",
        "detectors": f"{len(decoded.detectors)} (built-in catalog), {len(decoded.patterns)} patterns",
        "tables": f"{len(tables):,} bytes, {len(states)} scan automata ({sum(states):,} states)",
        "meshveil": "Zig engine in the scan-probe module, timed inside wasmtime (no Python per call)",
        "baselines": "re and Hyperscan over the first "
        f"{arguments.baseline_bytes:,} bytes, Presidio over the first {arguments.presidio_bytes:,}",
        # Other processes share the cores; a loaded machine explains a slow run.
        "load average before (1 min)": f"{load_before:.2f}",
    }


def _report_speeds(report: BenchReport, speeds: dict[str, Speeds], bodies: dict[str, BodyTimes]) -> None:
    for name, measured in speeds.items():
        report.add(f"meshveil in-Wasm, {name}", measured.meshveil, "MB/s")
        for label, other in (
            ("Presidio pattern recognizers", measured.presidio),
            ("Python re, same regexes", measured.python_re),
            ("Hyperscan native, same regexes", measured.hyperscan),
        ):
            if other is not None:
                report.add(
                    f"  {label}, {name}", other, "MB/s", f"meshveil is {measured.meshveil / other:.2f}x"
                )
    for name, times in bodies.items():
        ordered = sorted(times.whole)
        report.add(f"1 KB JSON body p50, {name}", statistics.median(ordered), "µs", f"{len(ordered)} bodies")
        report.add(
            f"1 KB JSON body p99, {name}", ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)], "µs"
        )
    for name, times in bodies.items():
        # What one filter's engine spends on such a body: each key and string value
        # scanned on its own with its key as context (the rest of a filter's time is
        # walking, masking and reporting; `meshveil bench filters` measures it all).
        report.add(
            f"1 KB JSON body p50 value by value, {name}",
            statistics.median(times.per_value),
            "µs",
            "as one filter scans it",
        )


def _report_accuracy(report: BenchReport, accuracy: Accuracy) -> None:
    for name in ("meshveil", "Presidio"):
        coverable = {
            entity: count for entity, count in accuracy.planted.items() if entity in accuracy.covered[name]
        }
        total = sum(coverable.values())
        hits = sum(accuracy.found[name][entity] for entity in coverable)
        report.add(
            f"recall, {name}",
            100.0 * hits / total if total else 0.0,
            "%",
            f"{hits}/{total} planted values of the entities it covers; "
            f"{sum(accuracy.planted.values()) - total} planted values of entities it has no recognizer for",
        )
        false = accuracy.false_positives[name]
        report.add(
            f"false positives, {name}",
            float(sum(false.values())),
            "",
            ", ".join(f"{entity} {count}" for entity, count in false.most_common(6)) or "none",
        )
        only = accuracy.only_found_by[name]
        report.add(
            f"found only by {name}",
            float(sum(only.values())),
            "",
            ", ".join(f"{entity} {count}" for entity, count in only.most_common()) or "none",
        )
    for entity, count in sorted(accuracy.planted.items()):
        cells = [
            f"{name} {accuracy.found[name][entity]}/{count}"
            if entity in accuracy.covered[name]
            else f"{name} n/a"
            for name in ("meshveil", "Presidio")
        ]
        report.add(
            f"  recall {entity}", 100.0 * accuracy.found["meshveil"][entity] / count, "%", ", ".join(cells)
        )


TARGET = BenchTarget(
    name="scan",
    help="the engine's scan speed inside Wasm next to Presidio, re and Hyperscan; recall, false positives",
    add_arguments=add_arguments,
    run=run,
)
