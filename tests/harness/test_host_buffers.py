"""Buffers: proxy_get_buffer_bytes / set_buffer_bytes / get_buffer_status with the windows
and answers of cpp-host's exports.cc and Envoy's Buffer::copyFrom."""

from __future__ import annotations

from typing import Any

import pytest

from harness.host import PluginConfig
from harness.host.buffers import BodyBuffer, FixedBuffer
from harness.host.types import BufferType, Status
from tests.harness.host_support import (
    answers,
    make_host,
    only,
    probe_code,
    probe_lines,
    run_probe,
    wasm_runtime,
)

__all__ = ["make_host", "probe_code", "wasm_runtime"]

REQUEST_BODY = int(BufferType.HTTP_REQUEST_BODY)
RESPONSE_BODY = int(BufferType.HTTP_RESPONSE_BODY)
ALL = 0xFFFFFFFF


@pytest.mark.parametrize(
    ("start", "size", "value", "status", "result"),
    [
        (0, 0, b">>", Status.OK, b">>hello"),  # start=0, size=0 prepends
        (0, 5, b"bye", Status.OK, b"bye"),  # a size covering everything replaces
        (0, 99, b"bye", Status.OK, b"bye"),
        (5, 0, b"!", Status.OK, b"hello!"),  # start at the end appends
        (9, 3, b"!", Status.OK, b"hello!"),  # start past the end appends too
        (0, 2, b"x", Status.BAD_ARGUMENT, b"hello"),  # a partial window is refused
        (2, 1, b"x", Status.BAD_ARGUMENT, b"hello"),
    ],
)
def test_body_buffer_copy_from_follows_envoy(
    start: int, size: int, value: bytes, status: Status, result: bytes
) -> None:
    buffer = BodyBuffer(b"hello")
    assert buffer.copy_from(start, size, value) is status
    assert bytes(buffer.data) == result


def test_fixed_buffers_refuse_writes() -> None:
    buffer = FixedBuffer(b"config")
    assert buffer.copy_from(0, 0, b"x") is Status.BAD_ARGUMENT
    assert buffer.read(0, 3) == b"con"


def test_get_buffer_windows(make_host: Any, probe_code: bytes) -> None:
    scripts = {
        "request_body": (
            f"buf_get {REQUEST_BODY} 0 {ALL}; buf_get {REQUEST_BODY} 2 3; buf_get {REQUEST_BODY} 3 100; "
            f"buf_get {REQUEST_BODY} 11 5; buf_get {REQUEST_BODY} 99 5; buf_get {REQUEST_BODY} 4 0; "
            f"buf_status {REQUEST_BODY}"
        )
    }
    outcome, logs = run_probe(make_host(), probe_code, scripts, method="POST", body=[b"hello world"])
    assert answers(logs, "request_body") == [
        "OK 11 hello\\x20world",  # 0xFFFFFFFF reads to the end
        "OK 3 llo",
        "OK 8 lo\\x20world",  # a window past the end is cut to the buffer
        "OK 0",  # start at the end: empty, OK
        "OK 0",  # start past the end: empty, OK (current cpp-host)
        "OK 0",
        "OK 11",
    ]
    assert outcome.request_to_upstream is not None
    assert outcome.request_to_upstream.body == b"hello world"


def test_set_buffer_rewrites_what_the_upstream_receives(make_host: Any, probe_code: bytes) -> None:
    scripts = {
        "request_body": (
            f"buf_set {REQUEST_BODY} 0 0 [; buf_set {REQUEST_BODY} {ALL} 0 ]; buf_set {REQUEST_BODY} 2 1 x"
        )
    }
    outcome, logs = run_probe(make_host(), probe_code, scripts, method="POST", body=[b"abc"])
    assert answers(logs, "request_body", "buf_set") == ["OK", "OK", "BAD_ARGUMENT"]
    assert outcome.request_to_upstream is not None
    assert outcome.request_to_upstream.body == b"[abc]"
    request = outcome.observation("probe", outcome.filters[0].phase)
    assert request is not None
    assert (request.body_before, request.body_after) == (b"abc", b"[abc]")


def test_response_body_can_be_replaced(make_host: Any, probe_code: bytes) -> None:
    scripts = {"response_body": f"buf_set {RESPONSE_BODY} 0 {ALL} redacted"}
    outcome, _ = run_probe(make_host(), probe_code, scripts, response_body=[b"secret"])
    assert outcome.response_to_client.body == b"redacted"


def test_stream_buffers_outside_their_callback_read_empty(make_host: Any, probe_code: bytes) -> None:
    # Envoy answers an empty buffer, not NOT_FOUND, for a body that is not current.
    scripts = {"request_headers": f"buf_status {REQUEST_BODY}; buf_set {REQUEST_BODY} 0 0 x"}
    _, logs = run_probe(make_host(), probe_code, scripts)
    assert only(logs, "request_headers", "buf_status").detail == "0"
    assert only(logs, "request_headers", "buf_set").status == "BAD_ARGUMENT"


def test_configuration_buffers(make_host: Any, probe_code: bytes) -> None:
    host = make_host()
    vm_configuration = b"vm_start: buf_get 6 0 4294967295; buf_get 7 0 4294967295"
    configuration = b"configure: buf_get 7 0 4294967295; buf_status 6\ntick: buf_get 7 0 10"
    host.load_plugin(
        PluginConfig(
            name="probe", module=probe_code, configuration=configuration, vm_configuration=vm_configuration
        )
    )
    vm_start = [line for line in probe_lines(host.logs) if line.phase == "vm_start"]
    assert (vm_start[0].status, vm_start[0].words[0], vm_start[0].value) == (
        "OK",
        str(len(vm_configuration)),
        vm_configuration,
    )
    # The plugin configuration exists only while on_configure (and context creation) runs.
    assert vm_start[1].status == "NOT_FOUND"
    configure = [line for line in probe_lines(host.logs) if line.phase == "configure"]
    assert (configure[0].status, configure[0].value) == ("OK", configuration)
    assert (configure[1].status, configure[1].detail) == ("OK", str(len(vm_configuration)))
