"""`read_traffic` picks the reader by file name, then by content."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.traffic import TrafficError, detect_format, read_traffic

FIXTURES = Path(__file__).parent / "fixtures" / "traffic"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("shop.har", "har"), ("payments.jsonl", "jsonl"), ("users-raw.grpc.jsonl", "grpc")],
)
def test_fixtures_are_recognised_by_name(name: str, expected: str) -> None:
    assert detect_format(FIXTURES / name) == expected


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [("shop.har", "har"), ("payments.jsonl", "jsonl"), ("users-raw.grpc.jsonl", "grpc")],
)
def test_content_decides_when_the_name_does_not(tmp_path: Path, fixture: str, expected: str) -> None:
    copy = tmp_path / "capture.txt"
    shutil.copy(FIXTURES / fixture, copy)
    assert detect_format(copy) == expected
    assert read_traffic(copy).format == expected


def test_one_line_har_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"log": {"entries": []}}))
    assert detect_format(path) == "har"


def test_unrecognisable_content_asks_for_format(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    with pytest.raises(TrafficError, match=r"name it with --format$"):
        read_traffic(path)


def test_explicit_format_overrides_detection(tmp_path: Path) -> None:
    copy = tmp_path / "calls.jsonl"
    shutil.copy(FIXTURES / "users-raw.grpc.jsonl", copy)
    # Read as plain exchanges, a gRPC call line is missing its request object.
    with pytest.raises(TrafficError, match=r"line 1: record has unknown fields"):
        read_traffic(copy, "jsonl")
    assert read_traffic(copy, "grpc").exchanges[0].exchange_id == "get-42"
