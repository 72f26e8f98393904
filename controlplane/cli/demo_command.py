"""`meshveil demo`: the whole product in one command (see controlplane/demo/run.py)."""

from __future__ import annotations

import argparse
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from controlplane.cli.errors import CliError

DEFAULT_MODULES = Path("build/filters")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="start a control plane, replay sample traffic through the three filters, show what they did",
        description=(
            "Start the control plane on the embedded default (SQLite), replay the bundled sample traffic "
            "of a small shop through meshveil-ueba, meshveil-mask and meshveil-dlp in the harness with a "
            "sample policy, feed their telemetry to the control plane's collector, and print a summary of "
            "what was found, masked, blocked and flagged, and where the dashboard is. It exits when done; "
            "--serve keeps the control plane up to explore the dashboard."
        ),
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="an empty folder for the database and tokens, kept afterwards (default: a temporary one)",
    )
    parser.add_argument(
        "--modules",
        type=Path,
        default=DEFAULT_MODULES,
        metavar="DIR",
        help=f"the built filters (default {DEFAULT_MODULES}; built when missing)",
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port of the REST API and dashboard (default: a free one)"
    )
    parser.add_argument(
        "--serve", action="store_true", help="keep the control plane running after the summary, until Ctrl-C"
    )
    parser.set_defaults(handler=run)


def run(arguments: argparse.Namespace) -> int:
    # Imported here so `meshveil --help` does not load the web, Wasm and gRPC stacks.
    from controlplane.api.threaded import PlaneStartError  # noqa: PLC0415
    from controlplane.demo.rest_client import RestError  # noqa: PLC0415
    from controlplane.demo.run import DemoError, DemoOptions, demo  # noqa: PLC0415
    from controlplane.demo.summary import detail_lines, table_lines  # noqa: PLC0415
    from controlplane.modules.build import BuildError  # noqa: PLC0415
    from harness.replay.policy_chain import PolicyChainError  # noqa: PLC0415
    from harness.traffic import TrafficError  # noqa: PLC0415

    if not 0 <= arguments.port <= 65535:
        raise CliError(f"--port must be between 0 and 65535, got {arguments.port}")
    say = _printer()
    say("meshveil demo")
    try:
        with _data_dir(arguments.data_dir) as data_dir:
            options = DemoOptions(data_dir=data_dir, modules_dir=arguments.modules, rest_port=arguments.port)
            with demo(options, say) as result:
                say("")
                say("\n".join(table_lines(result.summary)))
                say("")
                for line in detail_lines(result.summary):
                    say(line)
                say(_telemetry_line(result.summary))
                say(f"dashboard: {result.dashboard_url}  (analyst token in {result.analyst_token_file})")
                if arguments.serve:
                    say("serving until Ctrl-C (or SIGTERM) ...")
                    _wait_for_stop()
                elif arguments.data_dir is not None:
                    say(f"the data stays in {data_dir}: `meshveil serve --data-dir {data_dir}` serves it")
                else:
                    say("the control plane stops now; `meshveil demo --serve` keeps it up for the dashboard")
    except (DemoError, RestError, PlaneStartError, PolicyChainError, TrafficError, BuildError) as error:
        raise CliError(str(error)) from error
    return 0


def _wait_for_stop() -> None:
    """Until Ctrl-C or SIGTERM; either ends the demo normally, stopping the plane."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda _signal, _frame: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _printer() -> Any:
    def say(line: str) -> None:
        print(line, flush=True)

    return say


@contextmanager
def _data_dir(chosen: Path | None) -> Iterator[Path]:
    if chosen is None:
        with tempfile.TemporaryDirectory(prefix="meshveil-demo-") as folder:
            yield Path(folder)
        return
    if chosen.exists() and (not chosen.is_dir() or any(chosen.iterdir())):
        raise CliError(
            f"--data-dir {chosen}: give an empty or new folder (the demo makes a fresh control plane)"
        )
    chosen.mkdir(parents=True, exist_ok=True)
    yield chosen


def _telemetry_line(summary: Any) -> str:
    telemetry = summary.telemetry
    line = (
        f"telemetry: meshveil-ueba sent {telemetry.anomaly_events_sent} anomaly events and meshveil-dlp "
        f"{telemetry.finding_events_sent} finding events with proxy_http_call "
        f"({telemetry.anomaly_batches_failed + telemetry.finding_batches_failed} failed attempts, "
        f"{telemetry.anomaly_events_dropped + telemetry.finding_events_dropped} dropped)"
    )
    stored = f"{telemetry.stored_findings} findings and {telemetry.stored_anomalies} anomalies"
    return f"{line}; the collector holds {stored}"
