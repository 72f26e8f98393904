"""proxy_get_property / proxy_set_property: Envoy's attribute paths, serialised the way
Envoy's serializeValue does (strings raw, integers 8 bytes little-endian, bools one byte,
timestamps int64 nanoseconds, maps as pairs, messages as protobuf)."""

from __future__ import annotations

import struct
from typing import Any

from harness.host import FilterChain, PluginConfig
from harness.host.clock import DEFAULT_EPOCH_NANOS
from harness.host.pairs import parse
from harness.host.properties import Int, Message, serialize_value
from harness.host.protobuf import encode_node, fields
from tests.harness.host_support import (
    exchange,
    make_host,
    only,
    probe_code,
    probe_lines,
    run_probe,
    wasm_runtime,
)

__all__ = ["make_host", "probe_code", "wasm_runtime"]


def _value(logs: Any, phase: str, index: int = 0) -> bytes:
    lines = [line for line in probe_lines(logs) if line.phase == phase and line.command == "prop_get"]
    line = lines[index]
    assert line.status == "OK", line
    assert int(line.words[0]) == len(line.value)
    return line.value


def test_request_attributes(make_host: Any, probe_code: bytes) -> None:
    paths = [
        "request path",
        "request url_path",
        "request query",
        "request method",
        "request host",
        "request scheme",
        "request useragent",
        "request headers",
        "request time",
    ]
    scripts = {"request_headers": "; ".join(f"prop_get {path}" for path in paths)}
    _, logs = run_probe(
        make_host(), probe_code, scripts, extra_headers=[("user-agent", "curl/8"), ("x-a", "1")]
    )
    values = [_value(logs, "request_headers", index) for index in range(len(paths))]
    assert values[:7] == [b"/items?id=7", b"/items", b"id=7", b"GET", b"shop.example", b"https", b"curl/8"]
    headers = dict(parse(values[7]))
    assert headers[b":path"] == b"/items?id=7"
    assert headers[b"x-a"] == b"1"
    assert struct.unpack("<q", values[8]) == (DEFAULT_EPOCH_NANOS,)


def test_typed_attributes_are_serialised_like_envoy(make_host: Any, probe_code: bytes) -> None:
    scripts = {
        "request_headers": "prop_get source port; prop_get connection mtls; prop_get connection_id",
        "log": "prop_get response code; prop_get request size; prop_get response total_size",
    }
    _, logs = run_probe(
        make_host(),
        probe_code,
        scripts,
        method="POST",
        body=[b"12345"],
        connection={"source.address": "10.1.2.3:4567", "connection.mtls": "true"},
    )
    assert struct.unpack("<q", _value(logs, "request_headers", 0)) == (4567,)
    assert _value(logs, "request_headers", 1) == b"\x01"
    assert len(_value(logs, "request_headers", 2)) == 8  # uint64
    assert struct.unpack("<q", _value(logs, "log", 0)) == (200,)
    assert struct.unpack("<q", _value(logs, "log", 1)) == (5,)
    response_total = struct.unpack("<q", _value(logs, "log", 2))[0]
    assert response_total == len(b"fine") + len(":status200content-typetext/plain")


def test_plugin_attributes_in_root_and_stream(make_host: Any, probe_code: bytes) -> None:
    host = make_host()
    configuration = (
        b"configure: prop_get plugin_name; prop_get plugin_root_id; prop_get plugin_vm_id; "
        b"prop_get request path"
    )
    plugin = host.load_plugin(
        PluginConfig(
            name="auditor", module=probe_code, root_id="audit-root", vm_id="vm-7", configuration=configuration
        )
    )
    root = [line for line in probe_lines(host.logs) if line.phase == "configure"]
    assert [line.value for line in root[:3]] == [b"auditor", b"audit-root", b"vm-7"]
    assert root[3].status == "NOT_FOUND"  # a root context has no request
    outcome = FilterChain(host, [plugin]).run(exchange({"request_headers": "prop_get plugin_root_id"}))
    assert only(outcome.logs, "request_headers", "prop_get").value == b"audit-root"


def test_node_is_a_protobuf_message_and_its_fields_are_readable(make_host: Any, probe_code: bytes) -> None:
    host = make_host(
        node_id="sidecar~10.0.0.9", node_cluster="checkout", node_metadata={"ISTIO_VERSION": "1.24"}
    )
    scripts = {
        "request_headers": (
            "prop_get node; prop_get node id; prop_get node metadata ISTIO_VERSION; prop_get xds cluster_name"
        )
    }
    _, logs = run_probe(host, probe_code, scripts)
    node = _value(logs, "request_headers", 0)
    assert node == encode_node("sidecar~10.0.0.9", "checkout", {"ISTIO_VERSION": "1.24"})
    assert [(number, value) for number, _, value in fields(node)][:2] == [
        (1, b"sidecar~10.0.0.9"),
        (2, b"checkout"),
    ]
    assert _value(logs, "request_headers", 1) == b"sidecar~10.0.0.9"
    assert _value(logs, "request_headers", 2) == b"1.24"
    assert _value(logs, "request_headers", 3) == b"upstream"


def test_set_property_is_visible_to_later_filters_of_the_same_stream(
    make_host: Any, probe_code: bytes
) -> None:
    host = make_host()
    first = host.load_plugin(PluginConfig(name="first", module=probe_code))
    second = host.load_plugin(PluginConfig(name="second", module=probe_code, vm_id="other"))
    scripts = {
        "request_headers": (
            "prop_get risk_score; prop_set risk_score high; prop_get risk_score; prop_get filter_state"
        )
    }
    outcome = FilterChain(host, [first, second]).run(exchange(scripts))
    first_lines = [
        line for line in probe_lines(outcome.observations("first")[0].logs) if line.command == "prop_get"
    ]
    second_lines = [
        line for line in probe_lines(outcome.observations("second")[0].logs) if line.command == "prop_get"
    ]
    assert first_lines[0].status == "NOT_FOUND"
    assert first_lines[1].value == b"high"
    assert second_lines[0].value == b"high"  # filter state belongs to the stream
    assert dict(parse(second_lines[2].value))[b"wasm.risk_score"] == b"high"
    # The next stream starts with empty filter state.
    again = FilterChain(host, [first, second]).run(exchange({"request_headers": "prop_get risk_score"}))
    assert only(again.observations("first")[0].logs, "request_headers", "prop_get").status == "NOT_FOUND"


def test_set_property_on_a_root_context_is_not_found(make_host: Any, probe_code: bytes) -> None:
    host = make_host()
    host.load_plugin(
        PluginConfig(name="probe", module=probe_code, configuration=b"configure: prop_set key value")
    )
    assert only(host.logs, "configure", "prop_set").status == "NOT_FOUND"


def test_overrides_from_config_and_connection_facts(make_host: Any, probe_code: bytes) -> None:
    host = make_host(properties={"xds.cluster_name": b"payments"})
    scripts = {
        "request_headers": "prop_get xds cluster_name; prop_get source principal; prop_get unknown_attribute"
    }
    _, logs = run_probe(host, probe_code, scripts, connection={"source.principal": "spiffe://mesh/ns/a/sa/b"})
    assert _value(logs, "request_headers", 0) == b"payments"
    assert _value(logs, "request_headers", 1) == b"spiffe://mesh/ns/a/sa/b"
    assert [line.status for line in probe_lines(logs) if line.command == "prop_get"][2] == "NOT_FOUND"


def test_serialize_value_rules() -> None:
    assert serialize_value("text") == b"text"
    assert serialize_value(Int(-2)) == struct.pack("<q", -2)
    assert serialize_value(True) == b"\x01"
    assert serialize_value(1.5) == struct.pack("<d", 1.5)
    assert parse(serialize_value({"a": "1", "b": Int(2)})) == [(b"a", b"1"), (b"b", struct.pack("<q", 2))]
    assert parse(serialize_value(["x", "y"])) == [(b"x", b""), (b"y", b"")]
    assert serialize_value(Message(fields={}, encoded=b"\x0a\x01a")) == b"\x0a\x01a"
