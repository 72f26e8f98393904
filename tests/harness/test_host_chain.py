"""The filter chain plays exchanges as Envoy's HTTP filter manager does: request forward,
response in reverse, pause and buffering, local replies, resets, stalls and limits."""

from __future__ import annotations

from typing import Any

import pytest

from harness.host import FailureKind, FilterChain, FilterStatus, HostError, Phase, PluginConfig
from harness.host.chain import FrameKind, _StreamRun
from harness.host.outcome import HOST_SENDER
from tests.harness.host_support import called, exchange, make_host, probe_code, wasm_runtime

__all__ = ["make_host", "probe_code", "wasm_runtime"]


def _chain(
    make_host: Any, probe_code: bytes, names: tuple[str, ...] = ("a", "b", "c"), **host_settings: Any
) -> Any:
    host = make_host(**host_settings)
    # Each filter gets its own vm_id so their scripts and VMs stay apart.
    plugins = [host.load_plugin(PluginConfig(name=name, module=probe_code, vm_id=name)) for name in names]
    return host, FilterChain(host, plugins)


def _calls(outcome: Any, name: str) -> list[str]:
    return called(record for observation in outcome.observations(name) for record in observation.logs)


def _completion(outcome: Any, name: str) -> list[str]:
    """The callbacks the host made at the end of the stream (whatever the module did with them)."""
    observation = outcome.observation(name, Phase.COMPLETION)
    return [record.callback for record in observation.callbacks] if observation is not None else []


END = ["proxy_on_log", "proxy_on_done", "proxy_on_delete"]


def test_request_forward_and_response_in_reverse(make_host: Any, probe_code: bytes) -> None:
    host, chain = _chain(make_host, probe_code)
    chain.run(exchange(method="POST", body=[b"x"]))
    order = [
        (record.plugin, record.message.split(" ")[1]) for record in host.logs if " called" in record.message
    ]
    stream = [item for item in order if item[1] in ("request_headers", "response_headers")]
    assert stream == [
        ("a", "request_headers"),
        ("b", "request_headers"),
        ("c", "request_headers"),
        ("c", "response_headers"),
        ("b", "response_headers"),
        ("a", "response_headers"),
    ]
    logs = [plugin for plugin, phase in order if phase == "log"]
    assert logs == ["a", "b", "c"]


def test_pause_on_body_buffers_until_the_end_of_stream(make_host: Any, probe_code: bytes) -> None:
    _host, chain = _chain(make_host, probe_code, ("a", "b"))
    scripts = {"request_body": "pause"}
    outcome = chain.run(exchange(scripts, method="POST", body=[b"abc", b"de", b"f"]))
    # Paused, the filter is called again with everything buffered so far.
    assert _calls(outcome, "a")[1:4] == ["request_body 3 0", "request_body 5 0", "request_body 6 1"]
    # The filter kept pausing at the end of stream: nothing resumed it, the stream stalled.
    assert outcome.request_to_upstream is None
    assert outcome.local_reply is not None
    assert (outcome.local_reply.status, outcome.local_reply.sent_by) == (408, HOST_SENDER)
    stalled = [failure for failure in outcome.failures if failure.kind is FailureKind.STALLED]
    assert len(stalled) == 1 and stalled[0].consequence == "local_reply_408"


def test_buffered_body_is_released_whole_on_continue(make_host: Any, probe_code: bytes) -> None:
    host = make_host()
    plugin = host.load_plugin(PluginConfig(name="a", module=probe_code))
    script = "buf_status 0"  # continue on every chunk but the first two pause
    chain = FilterChain(host, [plugin])
    outcome = chain.run(exchange({"request_body": script}, method="POST", body=[b"one", b"two", b"three"]))
    assert outcome.request_to_upstream is not None
    assert outcome.request_to_upstream.body_chunks == [b"one", b"two", b"three"]
    paused = chain.run(exchange({"request_body": "pause; continue 0"}, method="POST", body=[b"one", b"two"]))
    assert paused.request_to_upstream is not None
    assert paused.request_to_upstream.body == b"onetwo"


def test_pause_on_headers_holds_the_body_until_continue(make_host: Any, probe_code: bytes) -> None:
    _host, chain = _chain(make_host, probe_code, ("a", "b"))
    # a pauses on headers and nothing resumes it: b must see nothing of the request.
    outcome = chain.run(exchange({"request_headers": "pause"}, method="POST", body=[b"held"]))
    # Nothing resumed a: Envoy's idle timeout answers 408, back through a only.
    assert _calls(outcome, "a") == [
        "request_headers 5 0",
        "response_headers 3 0",
        "response_body 14 1",
        "log",
        "done",
    ]
    assert outcome.observation("b", Phase.REQUEST) is None  # b never saw the request
    passed = outcome.observation("b", Phase.RESPONSE)
    assert passed is not None and passed.callbacks == []  # the 408 passed b without a callback
    assert passed.headers_before == passed.headers_after
    assert _completion(outcome, "b") == END  # but its context is created for the access log
    assert outcome.local_reply is not None and outcome.local_reply.status == 408
    request = outcome.observation("a", Phase.REQUEST)
    assert (
        request is not None and request.callbacks[0].status is FilterStatus.STOP_ALL_ITERATION_AND_WATERMARK
    )


def test_local_reply_during_the_request_goes_back_through_filters_that_saw_it(
    make_host: Any, probe_code: bytes
) -> None:
    _host, chain = _chain(make_host, probe_code)
    scripts = {"request_headers": "local_reply 403 -1 policy%20denied blocked x-reason pii"}
    outcome = chain.run(exchange(scripts))
    assert outcome.request_to_upstream is None
    assert outcome.local_reply is not None
    assert (outcome.local_reply.status, outcome.local_reply.sent_by, outcome.local_reply.details) == (
        403,
        "a",
        "policy_denied",
    )
    assert outcome.response_to_client.headers == [
        (":status", "403"),
        ("content-length", "7"),
        ("content-type", "text/plain"),
        ("x-reason", "pii"),
    ]
    assert outcome.response_to_client.body == b"blocked"
    # a saw its own reply on the response path; b and c never saw the request.
    assert "response_headers 4 0" in _calls(outcome, "a")
    assert _calls(outcome, "b") == []
    assert _completion(outcome, "b") == _completion(outcome, "c") == END


def test_local_reply_on_the_response_path_replaces_the_response(make_host: Any, probe_code: bytes) -> None:
    _host, chain = _chain(make_host, probe_code)
    outcome = chain.run(
        exchange({"response_headers": "local_reply 500 -1 upstream%20leak -"}, response_body=[b"ssn"])
    )
    assert outcome.request_to_upstream is not None  # the upstream did get the request
    assert outcome.response_to_client.headers == [(":status", "500")]
    assert outcome.response_to_client.body == b""
    # c answered directly; b and a never saw response headers (Envoy's direct local reply).
    assert all(not entry.startswith("response_") for entry in _calls(outcome, "b"))


def test_local_reply_after_headers_reached_the_client_resets(make_host: Any, probe_code: bytes) -> None:
    _host, chain = _chain(make_host, probe_code, ("a",))
    outcome = chain.run(exchange({"response_body": "local_reply 500 -1 late -"}, response_body=[b"partial"]))
    assert outcome.stream_reset
    assert outcome.response_to_client.header(":status") == "200"
    assert outcome.response_to_client.body == b""


def test_close_stream_resets(make_host: Any, probe_code: bytes) -> None:
    _host, chain = _chain(make_host, probe_code, ("a", "b"))
    outcome = chain.run(exchange({"request_headers": "close 0"}))
    assert outcome.stream_reset
    assert outcome.request_to_upstream is None
    assert outcome.response_to_client.headers == []
    assert _calls(outcome, "b") == []
    assert _completion(outcome, "b") == END


def test_buffer_limit_answers_413(make_host: Any, probe_code: bytes) -> None:
    _host, chain = _chain(make_host, probe_code, ("a",), buffer_limit_bytes=8)
    outcome = chain.run(exchange({"request_body": "pause"}, method="POST", body=[b"12345", b"67890"]))
    assert outcome.local_reply is not None
    assert (outcome.local_reply.status, outcome.local_reply.details) == (413, "request_payload_too_large")
    assert [failure.kind for failure in outcome.failures] == [FailureKind.BUFFER_LIMIT]


def test_grpc_requests_get_trailers_only_local_replies(make_host: Any, probe_code: bytes) -> None:
    _host, chain = _chain(make_host, probe_code, ("a",))
    scripts = {"request_headers": "local_reply 403 7 denied bad%20token%25"}
    outcome = chain.run(
        exchange(scripts, method="POST", extra_headers=[("content-type", "application/grpc")])
    )
    assert outcome.response_to_client.headers == [
        (":status", "200"),
        ("content-type", "application/grpc"),
        ("grpc-status", "7"),
        ("grpc-message", "bad token%25"),
    ]
    assert outcome.response_to_client.body == b""


def test_chain_validation(make_host: Any, probe_code: bytes) -> None:
    host, _ = _chain(make_host, probe_code, ("a",))
    other = make_host().load_plugin(PluginConfig(name="b", module=probe_code))
    with pytest.raises(HostError, match="another host"):
        FilterChain(host, [host.plugins[0], other])
    with pytest.raises(HostError, match="unique"):
        FilterChain(host, [host.plugins[0], host.plugins[0]])
    with pytest.raises(HostError, match="at least one"):
        FilterChain(host, [])


@pytest.mark.parametrize(
    ("kind", "result", "stopped", "expected"),
    [
        (FrameKind.HEADERS, 0, False, FilterStatus.CONTINUE),
        (FrameKind.HEADERS, 1, False, FilterStatus.STOP_ALL_ITERATION_AND_WATERMARK),
        (FrameKind.HEADERS, 2, False, FilterStatus.CONTINUE_AND_END_STREAM),
        (FrameKind.HEADERS, 3, False, FilterStatus.STOP_ALL_ITERATION_AND_BUFFER),
        (FrameKind.HEADERS, 77, False, FilterStatus.STOP_ALL_ITERATION_AND_WATERMARK),
        (FrameKind.HEADERS, 0, True, FilterStatus.STOP_ALL_ITERATION_AND_WATERMARK),
        (FrameKind.DATA, 1, False, FilterStatus.STOP_ITERATION_AND_BUFFER),
        (FrameKind.DATA, 3, False, FilterStatus.STOP_ITERATION_NO_BUFFER),
        (FrameKind.DATA, 9, False, FilterStatus.STOP_ITERATION_NO_BUFFER),
        (FrameKind.DATA, 0, True, FilterStatus.STOP_ITERATION_NO_BUFFER),
        (FrameKind.TRAILERS, 1, False, FilterStatus.STOP_ITERATION),
        (FrameKind.TRAILERS, 5, False, FilterStatus.STOP_ITERATION),
        (FrameKind.TRAILERS, None, False, FilterStatus.CONTINUE),
    ],
)
def test_status_conversion_matches_cpp_host(
    kind: FrameKind, result: int | None, stopped: bool, expected: FilterStatus
) -> None:
    assert _StreamRun._convert(kind, result, stopped) is expected
