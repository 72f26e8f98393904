"""The scan probe's value-by-value path (what `meshveil bench scan` times as the filters'
share): JSON bodies split into keys and string values, each scanned with its key as
context, through the real engine and prefilter."""

from __future__ import annotations

from controlplane.compiler.wasm_engine import DirectEngine
from harness.bench.json_pieces import encode_pieces, json_pieces


def _findings(engine: DirectEngine, body: bytes) -> int:
    records = encode_pieces(json_pieces(body))
    address = engine.load(records)
    return engine.time_pieces(address, len(records), 1)[1]


def test_pieces_follow_the_walker() -> None:
    body = b'{"user": {"ssn": "536221234", "tags": ["a", "b"], "age": 41}, "ok": true}'
    assert json_pieces(body) == [
        (b"", b"user"),
        (b"", b"ssn"),
        (b"ssn", b"536221234"),
        (b"", b"tags"),
        (b"tags", b"a"),
        (b"tags", b"b"),
        (b"", b"age"),
        (b"", b"ok"),
    ]


def test_a_key_is_the_context_of_its_value(direct_engine: DirectEngine) -> None:
    # Nine bare digits are an SSN only under a key that says so.
    assert _findings(direct_engine, b'{"ssn": "536221234"}') == 1
    assert _findings(direct_engine, b'{"id": "536221234"}') == 0


def test_values_are_scanned_apart(direct_engine: DirectEngine) -> None:
    one = b'{"email": "jane.doe@example.com"}'
    assert _findings(direct_engine, one) == 1
    # Two halves of an address in neighbouring values are not one address.
    assert _findings(direct_engine, b'{"a": "jane.doe", "b": "@example.com"}') == 0
    assert _findings(direct_engine, b'{"a": "jane.doe@example.com", "b": "ken@example.org"}') == 2


def test_long_values_go_in_pieces_of_the_walker_size() -> None:
    records = encode_pieces([(b"k", b"x" * 5000)])
    # Two records: 4096 bytes and 904, each with its key.
    assert len(records) == 2 * (4 + 1) + 5000
