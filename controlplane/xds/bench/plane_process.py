"""`meshveil serve` in a child process on loopback, as an operator would start it.

A separate process keeps the control plane's event loop and interpreter lock apart from
the simulated sidecars, as they would be in a cluster. Ports are chosen by the service
(port 0) and read from the lines it prints when it is up.
"""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from harness.bench.registry import BenchError

_REST_LINE = re.compile(r"REST (https?://[^\s]+) ")
_ECDS_LINE = re.compile(r"ECDS gRPC ([^\s]+)$")
_ENTRY = "from controlplane.cli import main; raise SystemExit(main())"
STOP_GRACE_SECONDS = 10.0


@dataclass(frozen=True)
class PlaneProcess:
    pid: int
    rest_url: str
    xds_target: str
    admin_token: str


@contextmanager
def serve_process(
    data_dir: Path, trust_root: Path, *, poll_interval: float, startup_timeout: float
) -> Iterator[PlaneProcess]:
    argv = [
        sys.executable,
        "-c",
        _ENTRY,
        "serve",
        "--data-dir",
        str(data_dir),
        "--rest-port",
        "0",
        "--xds-port",
        "0",
        "--trust-root",
        str(trust_root),
        "--poll-interval",
        str(poll_interval),
        "--log-level",
        "warning",
    ]
    log_path = data_dir / "serve.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            assert process.stdout is not None
            rest_url, xds_target = _wait_for_ports(process, process.stdout, startup_timeout, log_path)
            token = (data_dir / "admin-token").read_text().strip()
            yield PlaneProcess(process.pid, rest_url, xds_target, token)
        finally:
            _stop(process)


def _wait_for_ports(
    process: subprocess.Popen[str], stdout: IO[str], timeout: float, log_path: Path
) -> tuple[str, str]:
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, name="serve-stdout", daemon=True).start()
    deadline = time.monotonic() + timeout
    rest_url = xds_target = None
    while rest_url is None or xds_target is None:
        remaining = deadline - time.monotonic()
        try:
            line = lines.get(timeout=max(remaining, 0.01))
        except queue.Empty:
            line = ""
        if line is None or remaining <= 0:
            tail = log_path.read_text()[-500:].strip() if log_path.exists() else ""
            state = f"exited with {process.poll()}" if process.poll() is not None else "did not start in time"
            raise BenchError(f"meshveil serve {state}: {tail or 'no output'}")
        if rest := _REST_LINE.search(line):
            rest_url = rest.group(1)
        if ecds := _ECDS_LINE.search(line):
            xds_target = ecds.group(1)
    return rest_url, xds_target


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
