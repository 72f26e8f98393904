"""Header maps: the pairs format, Envoy's HeaderMap semantics, and which maps a callback may
touch (request headers only in their callback and in the access-log phase)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from harness.host.header_map import HeaderMap
from harness.host.pairs import parse, serialize
from harness.host.types import MapType
from tests.harness.host_support import answers, called, make_host, only, probe_code, run_probe, wasm_runtime

__all__ = ["make_host", "probe_code", "wasm_runtime"]

REQUEST = int(MapType.HTTP_REQUEST_HEADERS)
REQUEST_TRAILERS = int(MapType.HTTP_REQUEST_TRAILERS)
RESPONSE = int(MapType.HTTP_RESPONSE_HEADERS)


def test_pairs_match_the_spec_example() -> None:
    data = serialize([(b"a", b"1"), (b"b", b"22")])
    assert (
        data == bytes([2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0]) + b"a\x001\x00b\x0022\x00"
    )
    assert parse(data) == [(b"a", b"1"), (b"b", b"22")]


@given(st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=40)), max_size=12))
def test_pairs_round_trip(pairs: list[tuple[bytes, bytes]]) -> None:
    assert parse(serialize(pairs)) == pairs


def test_malformed_pairs_give_an_empty_map_like_cpp_host() -> None:
    assert parse(b"") == []
    assert parse(b"\x05\x00\x00\x00") == []  # a count the buffer cannot hold
    assert parse(serialize([(b"key", b"value")])[:-3]) == []  # a value running past the end


def test_header_map_keeps_pseudo_headers_first_and_lowercases() -> None:
    headers = HeaderMap([("Content-Type", "json"), (":Method", "GET")])
    headers.add(":path", "/")
    headers.add("X-A", "1")
    assert headers.to_headers() == [
        (":method", "GET"),
        (":path", "/"),
        ("content-type", "json"),
        ("x-a", "1"),
    ]
    headers.add("x-a", "2")
    assert headers.get("X-A") == "1"
    headers.replace("x-a", "3")  # every value removed, the new one appended
    assert headers.to_headers()[-1] == ("x-a", "3")
    assert [name for name, _ in headers.to_headers()].count("x-a") == 1
    assert headers.byte_size == sum(len(name) + len(value) for name, value in headers.to_headers())


def test_header_functions_on_request_headers(make_host: Any, probe_code: bytes) -> None:
    scripts = {
        "request_headers": (
            f"hdr_get {REQUEST} X-Tenant; hdr_get {REQUEST} absent; hdr_add {REQUEST} x-added one; "
            f"hdr_add {REQUEST} x-added two; hdr_replace {REQUEST} x-tenant blue; "
            f"hdr_remove {REQUEST} x-drop; "
            f"hdr_remove {REQUEST} never-there; hdr_size {REQUEST}"
        )
    }
    outcome, logs = run_probe(
        make_host(), probe_code, scripts, extra_headers=[("x-tenant", "red"), ("x-drop", "gone")]
    )
    found = answers(logs, "request_headers", "hdr_")
    assert found[:7] == ["OK red", "NOT_FOUND", "OK", "OK", "OK", "OK", "OK"]
    assert outcome.request_to_upstream is not None
    upstream = outcome.request_to_upstream.headers
    assert ("x-drop", "gone") not in upstream
    assert [value for name, value in upstream if name == "x-added"] == ["one", "two"]
    assert upstream[-1] == ("x-tenant", "blue")  # replace re-adds at the end, as Envoy's setCopy
    size = int(found[7].split(" ")[1])
    assert size == sum(len(name) + len(value) for name, value in upstream)


def test_set_pairs_replaces_the_whole_map(make_host: Any, probe_code: bytes) -> None:
    scripts = {"response_headers": f"hdr_set_pairs {RESPONSE} :status 202 X-Only yes"}
    outcome, _ = run_probe(make_host(), probe_code, scripts)
    assert outcome.response_to_client.headers == [(":status", "202"), ("x-only", "yes")]


def test_get_pairs_serialises_every_header(make_host: Any, probe_code: bytes) -> None:
    _, logs = run_probe(make_host(), probe_code, {"request_headers": f"hdr_pairs {REQUEST}"})
    line = only(logs, "request_headers", "hdr_pairs")
    count, pairs = line.words[0], line.detail.split(" ", 1)[1].split("|")
    assert int(count) == len(pairs) == 5
    assert pairs[:4] == [":method=GET", ":path=/items?id\\x3d7", ":authority=shop.example", ":scheme=https"]


def test_request_headers_are_only_reachable_in_their_callback_and_the_log(
    make_host: Any, probe_code: bytes
) -> None:
    scripts = {
        "request_headers": f"hdr_get {REQUEST} :path",
        "response_headers": f"hdr_get {REQUEST} :path; hdr_pairs {REQUEST}; hdr_add {REQUEST} a b",
        "log": f"hdr_get {REQUEST} :path; hdr_get {RESPONSE} :status; hdr_add {RESPONSE} late yes",
    }
    _, logs = run_probe(make_host(), probe_code, scripts)
    assert only(logs, "request_headers", "hdr_get").detail == "/items?id\\x3d7"
    assert answers(logs, "response_headers") == ["BAD_ARGUMENT", "BAD_ARGUMENT", "BAD_ARGUMENT"]
    # The access-log phase reads the final maps but cannot change them.
    assert answers(logs, "log") == ["OK /items?id\\x3d7", "OK 200", "BAD_ARGUMENT"]


def test_trailers_are_offered_and_counted(make_host: Any, probe_code: bytes) -> None:
    scripts = {
        "request_trailers": f"hdr_get {REQUEST_TRAILERS} grpc-status; hdr_add {REQUEST_TRAILERS} x-t 1"
    }
    outcome, logs = run_probe(
        make_host(), probe_code, scripts, method="POST", body=[b"data"], trailers=[("grpc-status", "0")]
    )
    assert "request_trailers 1" in called(logs)
    assert "request_body 4 0" in called(logs)  # trailers follow, so the body does not end the stream
    assert only(logs, "request_trailers", "hdr_get").detail == "0"
    assert outcome.request_to_upstream is not None
    assert outcome.request_to_upstream.trailers == [("grpc-status", "0"), ("x-t", "1")]
