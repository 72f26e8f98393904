"""`meshveil detectors list|show|test|import|compile`: the detector catalog and its compiler."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controlplane.cli.errors import CliError
from controlplane.cli.parser import defer

if TYPE_CHECKING:
    from controlplane.detectors.model import Detector

# The compiler, the detector loader and wasmtime are imported where they are used, so other
# commands do not load them.


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "detectors",
        help="list, inspect, try and compile sensitive-data detectors",
        description="The detector catalog (built-in plus --file definitions) and its compiled tables.",
    )
    defer(parser, _add_actions)


def _add_actions(parser: argparse.ArgumentParser) -> None:
    from controlplane.compiler.compile import CompileOptions  # noqa: PLC0415
    from controlplane.compiler.wasm_engine import add_module_arguments  # noqa: PLC0415

    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="one line per detector")
    _add_sources(listing)
    listing.set_defaults(handler=run_list)

    show = actions.add_parser("show", help="one detector in full")
    show.add_argument("detector_id", metavar="ID")
    _add_sources(show)
    show.set_defaults(handler=run_show)

    test = actions.add_parser("test", help="what the compiled engine finds in a text")
    test.add_argument("text", metavar="TEXT", help="the text to scan ('-' reads standard input)")
    test.add_argument(
        "--only", action="append", default=[], metavar="ID", help="scan with these detectors only"
    )
    test.add_argument(
        "--reference",
        action="store_true",
        help="use the Python reference scanner instead of the Zig engine in the Wasm module",
    )
    add_module_arguments(test)
    _add_sources(test)
    test.set_defaults(handler=run_test)

    importing = actions.add_parser("import", help="turn a Presidio recognizer YAML into meshveil detectors")
    importing.add_argument("recognizers", type=Path, metavar="RECOGNIZERS_YAML")
    importing.add_argument("--out", type=Path, help="write the detectors as catalog YAML here")
    importing.set_defaults(handler=run_import)

    compiling = actions.add_parser("compile", help="compile the detector set and report table sizes")
    compiling.add_argument(
        "--only", action="append", default=[], metavar="ID", help="compile these detectors only"
    )
    compiling.add_argument(
        "--max-bytes", type=int, default=CompileOptions().max_table_bytes, help="size bound"
    )
    compiling.add_argument("--state-budget", type=int, default=CompileOptions().state_budget)
    compiling.add_argument("--out", type=Path, help="write the encoded tables here")
    _add_sources(compiling)
    compiling.set_defaults(handler=run_compile)


def _add_sources(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--file", action="append", default=[], type=Path, metavar="YAML", help="more detector definitions"
    )


def load_detectors(arguments: argparse.Namespace) -> list[Detector]:
    from controlplane.detectors.loader import (  # noqa: PLC0415
        DefinitionError,
        builtin_catalog,
        load_file,
        unique_by_id,
    )

    try:
        detectors = builtin_catalog()
        for path in arguments.file:
            detectors.extend(load_file(path))
        detectors = unique_by_id(detectors)
    except OSError as error:
        raise CliError(f"cannot read detector definitions: {error}") from error
    except DefinitionError as error:
        raise CliError(str(error)) from error
    only = getattr(arguments, "only", [])
    if only:
        known = {detector.id for detector in detectors}
        unknown = sorted(set(only) - known)
        if unknown:
            raise CliError(f"no detector with id {', '.join(unknown)}; see 'meshveil detectors list'")
        detectors = [detector for detector in detectors if detector.id in only]
    return detectors


def run_list(arguments: argparse.Namespace) -> int:
    for detector in load_detectors(arguments):
        print(
            f"{detector.id:<28} {detector.entity:<26} {detector.category:<12} "
            f"{detector.description.split('.')[0]}"
        )
    return 0


def run_show(arguments: argparse.Namespace) -> int:
    detectors = {detector.id: detector for detector in load_detectors(arguments)}
    detector = detectors.get(arguments.detector_id)
    if detector is None:
        raise CliError(f"no detector with id {arguments.detector_id}; see 'meshveil detectors list'")
    print(f"id:          {detector.id}")
    print(f"entity:      {detector.entity} (Presidio entity name)")
    print(f"category:    {detector.category}")
    print(f"description: {detector.description}")
    print(f"threshold:   {detector.threshold}")
    validator = detector.validator
    print(
        "validator:   "
        + (
            f"{validator.name}{f' ({validator.parameter})' if validator.parameter else ''}"
            if validator
            else "-"
        )
    )
    for pattern in detector.patterns:
        needs = ", needs context" if pattern.requires_context else ""
        print(
            f"pattern:     {pattern.name} (score {pattern.score}{needs}; "
            f"flags {'|'.join(pattern.flags) or '-'})"
        )
        print(f"             {pattern.regex}")
    context = detector.context
    if context.words:
        print(f"context:     {', '.join(context.words)}")
        print(
            f"             {context.words_before} words before, {context.words_after} after, "
            f"within {context.max_bytes}"
            f" bytes; +{context.boost}, at least {context.floor}"
        )
    for exclusion in detector.exclusions:
        print(f"excludes:    {exclusion}")
    for example in detector.examples.positive:
        print(f"finds:       {example.finds!r} in {example.text!r}")
    for text in detector.examples.negative:
        print(f"ignores:     {text!r}")
    return 0


@dataclass(frozen=True)
class _Span:
    detector: str
    start: int
    end: int
    score: int


def run_test(arguments: argparse.Namespace) -> int:
    from controlplane.compiler.cache import compiled_tables  # noqa: PLC0415
    from controlplane.compiler.compile import CompileError  # noqa: PLC0415
    from controlplane.compiler.scanner import scan  # noqa: PLC0415
    from controlplane.compiler.tables import SCORE_SCALE, decode  # noqa: PLC0415

    text = sys.stdin.read() if arguments.text == "-" else arguments.text
    detectors = load_detectors(arguments)
    try:
        encoded = compiled_tables(detectors)
    except CompileError as error:
        raise CliError(str(error)) from error
    data = text.encode()
    if arguments.reference:
        engine = "Python reference scanner over the compiled tables (not the Wasm module)"
        found = [_Span(f.detector, f.start, f.end, f.score) for f in scan(decode(encoded), data)]
    else:
        engine = "Zig engine in the scan-probe module, run by the harness host"
        found = _scan_in_module(arguments, encoded, data)
    print(f"engine: {engine}")
    for finding in sorted(found, key=lambda f: (f.start, f.end, f.detector)):
        value = data[finding.start : finding.end].decode(errors="replace")
        print(
            f"{finding.detector:<28} {finding.start:>6}-{finding.end:<6} "
            f"score {finding.score / SCORE_SCALE:.2f}  {value}"
        )
    print(f"{len(found)} finding(s)")
    return 0


def _scan_in_module(arguments: argparse.Namespace, encoded: bytes, data: bytes) -> list[_Span]:
    from controlplane.compiler.wasm_engine import PluginEngine, WasmEngineError, scan_probe_module  # noqa: PLC0415

    try:
        module = scan_probe_module(arguments.modules, rebuild=arguments.rebuild)
        with PluginEngine(module, encoded) as engine:
            return [_Span(f.detector, f.start, f.end, f.score) for f in engine.scan([data])]
    except WasmEngineError as error:
        raise CliError(str(error)) from error


def run_import(arguments: argparse.Namespace) -> int:
    from controlplane.detectors.loader import builtin_catalog  # noqa: PLC0415
    from controlplane.detectors.presidio_import import (  # noqa: PLC0415
        PresidioImportError,
        detectors_to_yaml,
        import_recognizers,
    )

    try:
        text = arguments.recognizers.read_text(encoding="utf-8")
    except OSError as error:
        raise CliError(f"cannot read {arguments.recognizers}: {error}") from error
    try:
        result = import_recognizers(text, str(arguments.recognizers), builtin_catalog())
    except PresidioImportError as error:
        raise CliError(str(error)) from error
    for detector in result.detectors:
        print(f"imported {detector.id:<28} {detector.entity:<24} {len(detector.patterns)} pattern(s)")
    for name in result.predefined:
        print(f"predefined {name}: use the built-in detectors (entities map to Presidio names)")
    for note in result.notes:
        print(f"note: {note}")
    if arguments.out:
        arguments.out.write_text(detectors_to_yaml(result.detectors), encoding="utf-8")
        print(f"wrote {len(result.detectors)} detector(s) to {arguments.out}")
    return 0


def run_compile(arguments: argparse.Namespace) -> int:
    from controlplane.compiler.compile import CompileError, CompileOptions, compile_detectors  # noqa: PLC0415

    detectors = load_detectors(arguments)
    options = CompileOptions(max_table_bytes=arguments.max_bytes, state_budget=arguments.state_budget)
    try:
        compiled = compile_detectors(detectors, options)
    except CompileError as error:
        raise CliError(str(error)) from error
    tables = compiled.tables
    print(
        f"detectors {len(tables.detectors)}, patterns {len(tables.patterns)}, automata {len(tables.automata)}"
    )
    for index, report in enumerate(compiled.scan_automata):
        print(
            f"scan automaton {index}: {report.patterns} patterns, {report.states} states, "
            f"{report.classes} classes, {report.bytes} bytes, "
            + ("dense (stepped in the fused pass)" if report.dense else "sparse (shared skip pass)")
        )
    print(f"history {tables.history_bytes} bytes, lookahead {tables.lookahead_bytes} bytes")
    print(f"tables {len(compiled.encoded)} bytes (bound {options.max_table_bytes})")
    if arguments.out:
        arguments.out.write_bytes(compiled.encoded)
        print(f"wrote {arguments.out}")
    return 0
