"""`meshveil replay`: recorded traffic through a chain of filters, with what each one did."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controlplane.cli.build_command import DEFAULT_OUT_DIR
from controlplane.cli.errors import EXIT_FINDINGS, CliError
from controlplane.cli.parser import defer

if TYPE_CHECKING:
    from harness.host.config import PluginConfig
    from harness.replay.human_report import ReportOptions
    from harness.replay.progress import ProgressBar
    from harness.replay.results import ExchangeResult
    from harness.traffic.protobuf_schema import MessageSchemas

# The harness (wasmtime, traffic readers) is imported where it is used, so other commands
# do not load it.

MAX_WORKERS = 256
DEFAULT_MODULES_DIR = DEFAULT_OUT_DIR
EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE: what a shell reports for a writer whose reader went away."""


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "replay",
        help="run recorded traffic (HAR, JSON lines, gRPC) through a chain of filters",
        description=(
            "Play each recorded exchange through the plugins in order, as Envoy's filter chain "
            "would (request path forward, response path in reverse), and report what each filter "
            "did: callbacks, header and body diffs, local replies, logs, metrics and callouts. "
            "Exit status 1 when an exchange could not be replayed or a filter failed."
        ),
    )
    defer(parser, _add_arguments)
    parser.set_defaults(handler=run)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    from harness.traffic import FORMATS  # noqa: PLC0415

    parser.add_argument("traffic", type=Path, metavar="TRAFFIC", help="a .har, .jsonl or .grpc.jsonl file")
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="SPEC",
        help="a module path, or name=…,module=…,config=@FILE,root_id=…,vm_id=…,failure=fail_open; "
        "repeat in chain order",
    )
    parser.add_argument(
        "--policy",
        type=Path,
        metavar="POLICY.yaml",
        help="build the chain from a policy: its filters, in chain order, with configs compiled "
        "from it (instead of --plugin)",
    )
    parser.add_argument(
        "--modules",
        type=Path,
        default=DEFAULT_MODULES_DIR,
        metavar="DIR",
        help=f"with --policy: where the built filters are (default {DEFAULT_MODULES_DIR})",
    )
    parser.add_argument(
        "--keys",
        type=Path,
        metavar="FILE",
        help="with --policy: YAML mapping key names to hex keys (default: fresh keys for this run)",
    )
    parser.add_argument(
        "--format", choices=("auto", *FORMATS), default="auto", help="traffic format (default: auto)"
    )
    parser.add_argument(
        "--descriptor-set",
        type=Path,
        metavar="FILE.pb",
        help="protobuf descriptor set to encode and show gRPC messages",
    )
    parser.add_argument(
        "--workers", type=int, default=1, metavar="N", help="VMs per plugin, exchanges dealt round-robin"
    )
    parser.add_argument(
        "--clock",
        choices=("recorded", "fixed"),
        default="recorded",
        help="recorded: the virtual clock follows the capture's timestamps (default); fixed: it does not",
    )
    parser.add_argument(
        "--chunk-size", type=int, metavar="BYTES", help="re-cut every body into chunks of this size"
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print one machine-readable JSON document")
    output.add_argument("--quiet", "-q", action="store_true", help="print the summary only")
    parser.add_argument("--only-changed", action="store_true", help="leave out exchanges no filter changed")


def run(arguments: argparse.Namespace) -> int:
    from harness.replay.human_report import ReportOptions, summary_lines  # noqa: PLC0415
    from harness.replay.json_report import replay_document  # noqa: PLC0415
    from harness.replay.progress import ProgressBar  # noqa: PLC0415
    from harness.replay.runner import ReplayError, ReplayOptions, replay  # noqa: PLC0415
    from harness.traffic import TrafficError, read_traffic  # noqa: PLC0415

    _check_numbers(arguments)
    chain = _chain(arguments)
    schemas = _schemas(arguments.descriptor_set)
    try:
        capture = read_traffic(arguments.traffic, arguments.format, schemas)
    except TrafficError as error:
        raise CliError(str(error)) from error
    progress = ProgressBar(len(capture.exchanges))
    streamed = not arguments.json and not arguments.quiet
    printer = _ExchangePrinter(
        ReportOptions(only_changed=arguments.only_changed, schemas=schemas), progress, streamed
    )
    options = ReplayOptions(
        workers=arguments.workers,
        chunk_size=arguments.chunk_size,
        recorded_time=arguments.clock == "recorded",
        keep_results=arguments.json,
    )
    try:
        outcome = replay(capture, chain, options, printer)
        progress.finish()
        if arguments.json:
            print(json.dumps(replay_document(outcome), indent=2))
        else:
            print("\n".join(summary_lines(outcome)))
    except ReplayError as error:
        raise CliError(str(error)) from error
    except BrokenPipeError:
        # The reader went away (`| head`): stop, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    finally:
        progress.finish()
    return 0 if outcome.summary.ok else EXIT_FINDINGS


class _ExchangePrinter:
    """Prints each exchange as it finishes (so long replays show results early) and moves
    the progress bar on."""

    def __init__(self, options: ReportOptions, progress: ProgressBar, streamed: bool) -> None:
        self.options = options
        self.progress = progress
        self.streamed = streamed
        self.done = 0

    def __call__(self, result: ExchangeResult) -> None:
        from harness.replay.human_report import exchange_lines  # noqa: PLC0415 - loaded by `run`

        self.done += 1
        if self.streamed:
            lines = exchange_lines(result, self.options)
            if lines:
                self.progress.finish()
                print("\n".join(lines))
        self.progress.update(self.done)


def _check_numbers(arguments: argparse.Namespace) -> None:
    if not 1 <= arguments.workers <= MAX_WORKERS:
        raise CliError(f"--workers must be between 1 and {MAX_WORKERS}, got {arguments.workers}")
    if arguments.chunk_size is not None and arguments.chunk_size <= 0:
        raise CliError(f"--chunk-size must be a positive number of bytes, got {arguments.chunk_size}")


def _chain(arguments: argparse.Namespace) -> list[PluginConfig]:
    from harness.replay.plugin_specs import PluginSpecError, parse_plugin_specs  # noqa: PLC0415
    from harness.replay.policy_chain import PolicyChainError, chain_from_policy, describe  # noqa: PLC0415

    if arguments.policy is not None:
        if arguments.plugin:
            raise CliError("give either --policy or --plugin, not both")
        try:
            chain = chain_from_policy(arguments.policy, arguments.modules, arguments.keys)
        except PolicyChainError as error:
            raise CliError(str(error)) from error
        print(describe(chain), file=sys.stderr)
        return chain.plugins
    if not arguments.plugin:
        raise CliError("name at least one filter with --plugin MODULE.wasm")
    try:
        return parse_plugin_specs(arguments.plugin)
    except PluginSpecError as error:
        raise CliError(str(error)) from error


def _schemas(path: Path | None) -> MessageSchemas | None:
    if path is None:
        return None
    from harness.traffic.protobuf_schema import MessageSchemas, SchemaError  # noqa: PLC0415

    try:
        return MessageSchemas.from_file(path)
    except SchemaError as error:
        raise CliError(str(error)) from error
