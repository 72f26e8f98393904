"""`meshveil bench walkers`: how fast the Zig body walkers and mask operations run in
wasm32, per body format, with each format's throughput next to plain text's.

It times the walker probe (`filters/testdata/walker_probe.zig`, built by `meshveil
build`), which runs the walkers and masking with a stand-in scanner, so the figures are
walking, decoding, masking and re-encoding, not detection. Each figure is the best of
several runs over the same synthetic body, including the copy into and out of the VM.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from harness.bench.registry import BenchError, BenchTarget
from harness.bench.report import BenchReport
from harness.bench.walker_probe import DigitsAction, Format, Option, ProbeError, WalkerProbe

DEFAULT_PROBE = Path("build/filters/testdata/walker-probe.wasm")
MEBIBYTE = 1024 * 1024
WORDS = ("lorem", "ipsum", "dolor", "sit", "amet", "card", "account", "payment", "order", "note")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--probe",
        type=Path,
        default=DEFAULT_PROBE,
        metavar="PATH",
        help=f"the built walker probe (default {DEFAULT_PROBE}; `meshveil build` makes it)",
    )
    parser.add_argument(
        "--size", type=int, default=MEBIBYTE, metavar="BYTES", help="body size (default 1 MiB)"
    )
    parser.add_argument(
        "--chunk", type=int, default=16 * 1024, metavar="BYTES", help="body chunk size (default 16 KiB)"
    )
    parser.add_argument("--repeats", type=int, default=5, metavar="N", help="runs per figure (default 5)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic bodies")


@dataclass(frozen=True)
class Case:
    name: str
    body: bytes
    fmt: Format
    action: DigitsAction = DigitsAction.PARTIAL
    options: Option = Option.NONE
    decoded_size: int = 0
    """Bytes walked, for compressed bodies (throughput is per walked byte)."""

    @property
    def walked_size(self) -> int:
        return self.decoded_size or len(self.body)


def run(arguments: argparse.Namespace) -> BenchReport:
    if arguments.size < 1024 or arguments.chunk < 1 or arguments.repeats < 1:
        raise BenchError("--size must be at least 1024, --chunk and --repeats at least 1")
    if not arguments.probe.is_file():
        raise BenchError(f"no walker probe at {arguments.probe}; run `meshveil build` first or pass --probe")
    probe = WalkerProbe(str(arguments.probe))
    cases = _cases(random.Random(arguments.seed), arguments.size)  # noqa: S311 - synthetic bodies
    report = BenchReport(target="walkers")
    report.setup = {
        "probe": str(arguments.probe),
        "body size": f"{arguments.size:,} bytes (gzip and gRPC bodies: the same records)",
        "chunk size": f"{arguments.chunk:,} bytes",
        "runs per figure": f"best of {arguments.repeats}",
    }
    rates: dict[str, float] = {}
    for case in cases:
        seconds = _best_seconds(partial(_mask, probe, case, arguments.chunk), arguments.repeats)
        rates[case.name] = case.walked_size / seconds / MEBIBYTE
        detail = f"{len(case.body):,} bytes in"
        if case.decoded_size:
            detail += f", {case.decoded_size:,} decoded; MiB/s of decoded bytes"
        report.add(case.name, rates[case.name], "MiB/s", detail)
    baseline = rates["text, masked"]
    for case in cases:
        if case.name != "text, masked":
            report.add(f"{case.name} / text", rates[case.name] / baseline, "x")
    report.add(
        "masking cost on JSON", rates["json, detect only"] / rates["json, masked"], "x", "detect / mask"
    )
    return report


def _mask(probe: WalkerProbe, case: Case, chunk_len: int) -> None:
    try:
        probe.mask(case.body, case.fmt, chunk_len=chunk_len, action=case.action, options=case.options)
    except ProbeError as error:
        raise BenchError(f"the probe refused the {case.name} body: {error.name}") from error


def _best_seconds(call: Callable[[], None], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def _cases(rng: random.Random, size: int) -> list[Case]:
    records = _records(rng, size)
    json_body = json.dumps(records[: _fitting(records, size)]).encode()
    text_body = json_body.replace(b'"', b" ")
    form_body = "&".join(
        f"{key}_{index}={value}".replace(" ", "+")
        for index, record in enumerate(records)
        for key, value in record.items()
    ).encode()[:size]
    events = b"".join(
        b"data: " + json.dumps({"choices": [{"delta": {"content": record["note"]}}]}).encode() + b"\n\n"
        for record in records
    )[:size]
    events = events[: events.rfind(b"\n\n") + 2]
    cases = [
        Case("text, masked", text_body, Format.TEXT),
        Case("json, masked", json_body, Format.JSON),
        Case("json, detect only", json_body, Format.JSON, DigitsAction.NONE),
        Case("json, drop fields", json_body, Format.JSON, DigitsAction.DROP, Option.HOLD_MEMBERS),
        Case("form, masked", form_body[: form_body.rfind(b"&")], Format.FORM),
        Case("event stream, masked", events, Format.EVENT_STREAM),
        Case("grpc, masked", _grpc_body(records, size), Format.GRPC),
    ]
    compressed = gzip.compress(json_body)
    for output, options in (
        ("huffman gzip out", Option.GZIP_BODY),
        ("lz77 gzip out", Option.GZIP_BODY | Option.LZ77),
        ("decoded out", Option.GZIP_BODY | Option.DECODE_ONLY),
    ):
        cases.append(
            Case(
                f"gzip json, masked, {output}",
                compressed,
                Format.JSON,
                options=options,
                decoded_size=len(json_body),
            )
        )
    return cases


def _records(rng: random.Random, size: int) -> list[dict[str, str]]:
    records: list[dict[str, str]] = []
    total = 0
    while total < size:
        card = " ".join(f"{rng.randrange(10_000):04d}" for _ in range(4))
        note = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(5, 40)))
        record = {
            "name": f"customer {len(records)}",
            "email": f"customer{len(records)}@example.com",
            "card": card,
            "note": note,
        }
        records.append(record)
        total += sum(len(value) for value in record.values()) + 48
    return records


def _fitting(records: list[dict[str, str]], size: int) -> int:
    total = 2
    for index, record in enumerate(records):
        total += len(json.dumps(record)) + 2
        if total > size:
            return max(index, 1)
    return len(records)


def _grpc_body(records: list[dict[str, str]], size: int) -> bytes:
    """One protobuf message per record: { 1: name, 2: { 1: card, 2: email }, 3: note }."""
    frames = bytearray()
    for record in records:
        inner = _field(1, record["card"].encode()) + _field(2, record["email"].encode())
        message = _field(1, record["name"].encode()) + _field(2, inner) + _field(3, record["note"].encode())
        frame = struct.pack(">BI", 0, len(message)) + message
        if len(frames) + len(frame) > size:
            break
        frames += frame
    return bytes(frames)


def _field(number: int, value: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


TARGET = BenchTarget(
    name="walkers",
    help="MiB/s of the Zig body walkers and masking in wasm32, per format, next to plain text",
    add_arguments=add_arguments,
    run=run,
)
