"""Which reader a traffic file needs, and one entry point that reads any of them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from harness.traffic.capture import Capture
from harness.traffic.errors import TrafficError
from harness.traffic.grpc_capture import read_grpc
from harness.traffic.har import read_har
from harness.traffic.jsonl import read_jsonl
from harness.traffic.protobuf_schema import MessageSchemas

FORMATS = ("har", "jsonl", "grpc")
_SNIFF_BYTES = 64 * 1024


def read_traffic(path: Path, traffic_format: str = "auto", schemas: MessageSchemas | None = None) -> Capture:
    """Read `path` as HAR, JSON lines of exchanges or gRPC calls ("auto": tell by name and content)."""
    chosen = detect_format(path) if traffic_format == "auto" else traffic_format
    readers: dict[str, Callable[[], Capture]] = {
        "har": lambda: read_har(path),
        "jsonl": lambda: read_jsonl(path),
        "grpc": lambda: read_grpc(path, schemas),
    }
    if chosen not in readers:
        raise TrafficError(str(path), "", f"unknown format {chosen!r} (choose {', '.join(FORMATS)})")
    return readers[chosen]()


def detect_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".har"):
        return "har"
    if name.endswith((".grpc.jsonl", ".grpc.ndjson")):
        return "grpc"
    return _sniff(path)


def _sniff(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as error:
        raise TrafficError(str(path), "", f"cannot read: {error.strerror or error}") from error
    first_line = next((line for line in head.splitlines() if line.strip()), b"")
    try:
        record = json.loads(first_line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        record = None
    if isinstance(record, dict):
        if "log" in record:
            return "har"
        if "service" in record:
            return "grpc"
        if "request" in record:
            return "jsonl"
    # A pretty-printed HAR starts with a brace on a line of its own.
    if head.lstrip().startswith(b"{") and b'"log"' in head:
        return "har"
    raise TrafficError(
        str(path), "", "cannot tell whether this is HAR, JSON lines or gRPC; name it with --format"
    )
