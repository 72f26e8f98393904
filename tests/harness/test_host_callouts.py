"""HTTP and gRPC callouts answered by fake upstreams: Envoy's tokens, delivery to the root
context, timeouts, resets, connection failures, and unary versus streaming gRPC."""

from __future__ import annotations

from typing import Any

from harness.host import CalloutFailure, FakeUpstream, FilterChain, GrpcReply, HttpReply, Phase, PluginConfig
from harness.host.types import Status
from tests.harness.host_support import (
    answers,
    called,
    exchange,
    make_host,
    only,
    probe_code,
    wasm_runtime,
)

__all__ = ["make_host", "probe_code", "wasm_runtime"]

RESPONSE_SCRIPT = "effective_caller; status; hdr_pairs 6; hdr_pairs 7; buf_get 4 0 4294967295; continue 0"
CALL = "http_call auth 250 - :method POST :path /check :authority auth.local x-user alice; pause"


def _run(
    make_host: Any, probe_code: bytes, upstream: FakeUpstream, request_script: str = CALL
) -> tuple[Any, Any]:
    host = make_host(upstreams={"auth": upstream})
    configuration = f"http_call_response: {RESPONSE_SCRIPT}".encode()
    plugin = host.load_plugin(PluginConfig(name="probe", module=probe_code, configuration=configuration))
    outcome = FilterChain(host, [plugin]).run(exchange({"request_headers": request_script}))
    return host, outcome


def test_http_call_answer_reaches_the_root_and_resumes_the_stream(make_host: Any, probe_code: bytes) -> None:
    upstream = FakeUpstream(HttpReply(200, [("x-verdict", "allow")], b"ok!", [("t", "1")], latency_ms=30))
    host, outcome = _run(make_host, probe_code, upstream)
    logs = outcome.logs
    assert only(logs, "request_headers", "http_call").detail == "1"  # Envoy counts HTTP tokens from 1
    assert "http_call_response 1 2 3 1" in called(logs)  # token, headers, body size, trailers
    assert answers(logs, "http_call_response") == [
        "OK 2",  # effective context: the stream that made the call
        "OK 0",  # no failure status
        "OK 2 :status=200|x-verdict=allow",
        "OK 1 t=1",
        "OK 3 ok!",
        "OK",
    ]
    assert outcome.request_to_upstream is not None  # continue 0 from the root resumed the stream
    received = upstream.received[0]
    assert received.headers == [
        (":method", "POST"),
        (":path", "/check"),
        (":authority", "auth.local"),
        ("x-user", "alice"),
    ]  # no content-length: Envoy adds it only for a body
    assert host.clock.monotonic_ms == 30  # the stream waited for the answer in virtual time
    callout = outcome.observation("probe", Phase.REQUEST).callouts[0]
    assert (callout.upstream, callout.result, callout.response_status) == ("auth", "response", 200)


def test_http_call_timeout_answers_504(make_host: Any, probe_code: bytes) -> None:
    host, outcome = _run(make_host, probe_code, FakeUpstream(CalloutFailure.HANG))
    logs = outcome.logs
    assert "http_call_response 1 2 24 0" in called(logs)
    assert answers(logs, "http_call_response", "hdr_pairs")[0] == "OK 2 :status=504|content-type=text/plain"
    assert answers(logs, "http_call_response", "buf_get") == ["OK 24 upstream\\x20request\\x20timeout"]
    assert host.clock.monotonic_ms == 250


def test_http_call_reset_reports_broken_connection(make_host: Any, probe_code: bytes) -> None:
    _, outcome = _run(make_host, probe_code, FakeUpstream(CalloutFailure.RESET))
    logs = outcome.logs
    assert "http_call_response 1 0 0 0" in called(logs)
    assert only(logs, "http_call_response", "status").detail == f"{int(Status.BROKEN_CONNECTION)} reset"
    # No answer exists after a reset.
    assert answers(logs, "http_call_response", "buf_get") == ["NOT_FOUND"]


def test_connection_failure_is_the_routers_503(make_host: Any, probe_code: bytes) -> None:
    _, outcome = _run(make_host, probe_code, FakeUpstream(CalloutFailure.CONNECTION_FAILURE))
    assert answers(outcome.logs, "http_call_response", "hdr_pairs")[0].startswith("OK 2 :status=503")


def test_http_call_arguments_envoy_refuses(make_host: Any, probe_code: bytes) -> None:
    script = (
        "http_call nowhere 100 - :method GET :path / :authority x; "
        "http_call auth 100 - :method GET :authority x; "
        "http_call auth 2147483648 - :method GET :path / :authority x"
    )
    _, outcome = _run(make_host, probe_code, FakeUpstream(), script)
    assert answers(outcome.logs, "request_headers") == ["BAD_ARGUMENT", "BAD_ARGUMENT", "BAD_ARGUMENT"]


def test_answers_go_to_whichever_stream_made_the_call(make_host: Any, probe_code: bytes) -> None:
    upstream = FakeUpstream(lambda request: HttpReply(200, body=request.body))
    host = make_host(upstreams={"echo": upstream})
    plugin = host.load_plugin(
        PluginConfig(
            name="probe",
            module=probe_code,
            configuration=f"http_call_response: {RESPONSE_SCRIPT}".encode(),
        )
    )
    chain = FilterChain(host, [plugin])
    for body in ("first", "second"):
        script = f"http_call echo 100 {body} :method POST :path /e :authority e; pause"
        outcome = chain.run(exchange({"request_headers": script}))
        assert answers(outcome.logs, "http_call_response", "buf_get") == [f"OK {len(body)} {body}"]
        assert outcome.request_to_upstream is not None


GRPC_ROOT = (
    "grpc_initial_metadata: hdr_pairs 4\n"
    "grpc_message: buf_get 5 0 4294967295\n"
    "grpc_trailing_metadata: hdr_pairs 5\n"
    "grpc_close: status"
)


def _grpc(make_host: Any, probe_code: bytes, upstream: FakeUpstream, script: str) -> tuple[Any, Any]:
    host = make_host(upstreams={"risk": upstream})
    plugin = host.load_plugin(PluginConfig(name="probe", module=probe_code, configuration=GRPC_ROOT.encode()))
    return host, FilterChain(host, [plugin]).run(exchange({"request_headers": script}))


def _grpc_events(records: Any) -> list[str]:
    return [entry for entry in called(records) if entry.startswith("grpc_")]


def test_unary_grpc_success_delivers_only_the_message(make_host: Any, probe_code: bytes) -> None:
    upstream = FakeUpstream(GrpcReply((b"\x08\x01",)))
    _, outcome = _grpc(
        make_host, probe_code, upstream, "grpc_call risk risk.v1.Risk Score 100 \\x0a\\x01a k v"
    )
    logs = outcome.logs
    token = only(logs, "request_headers", "grpc_call").detail
    assert int(token) % 2 == 1  # Envoy's gRPC call tokens are odd
    assert _grpc_events(logs) == [f"grpc_message {token} 2"]
    request = upstream.received[0]
    assert (request.service, request.method, request.headers) == ("risk.v1.Risk", "Score", [("k", "v")])


def test_unary_grpc_failure_delivers_only_the_close(make_host: Any, probe_code: bytes) -> None:
    upstream = FakeUpstream(GrpcReply(status=7, message="denied"))
    _, outcome = _grpc(make_host, probe_code, upstream, "grpc_call risk risk.v1.Risk Score 100 x")
    logs = outcome.logs
    token = only(logs, "request_headers", "grpc_call").detail
    assert _grpc_events(logs) == [f"grpc_close {token} 7"]
    assert only(logs, "grpc_close", "status").detail == "7 denied"


def test_grpc_timeout_and_unknown_cluster(make_host: Any, probe_code: bytes) -> None:
    script = "grpc_call risk s m 40 x; grpc_call nope s m 40 x"
    host, outcome = _grpc(make_host, probe_code, FakeUpstream(CalloutFailure.HANG), script)
    started, unknown = answers(outcome.logs, "request_headers")
    assert unknown == "PARSE_FAILURE"  # a plain name that is no cluster
    assert _grpc_events(outcome.logs) == []  # the stream did not wait for the call
    host.advance_time(39)
    assert _grpc_events(host.logs) == []
    host.advance_time(1)
    assert _grpc_events(host.logs) == [f"grpc_close {started.split()[1]} 14"]
    assert only(host.logs, "grpc_close", "status").detail == "14 upstream\\x20request\\x20timeout"


def test_grpc_stream_delivers_metadata_messages_trailers_and_close(make_host: Any, probe_code: bytes) -> None:
    reply = GrpcReply((b"m1", b"m22"), 0, "", [("x-init", "1")], [("x-trail", "2")])
    upstream = FakeUpstream(reply)
    script = "grpc_stream risk s Watch; grpc_send last hello 0; grpc_send last world 1; grpc_send 3 x 0"
    _, outcome = _grpc(make_host, probe_code, upstream, script)
    logs = outcome.logs
    token = answers(logs, "request_headers")[0].split()[1]
    assert int(token) % 2 == 0  # stream tokens are even
    assert answers(logs, "request_headers")[1:] == ["OK", "OK", "BAD_ARGUMENT"]  # 3 is a call token
    assert [entry.split(" ")[0] for entry in _grpc_events(logs)] == [
        "grpc_initial_metadata",
        "grpc_message",
        "grpc_message",
        "grpc_trailing_metadata",
        "grpc_close",
    ]
    assert answers(logs, "grpc_message") == ["OK 2 m1", "OK 3 m22"]
    assert answers(logs, "grpc_trailing_metadata") == ["OK 1 x-trail=2"]
    assert upstream.received[0].messages == (b"hello", b"world")


def test_grpc_cancel_and_close(make_host: Any, probe_code: bytes) -> None:
    host, outcome = _grpc(
        make_host,
        probe_code,
        FakeUpstream(GrpcReply((b"late",), latency_ms=10)),
        "grpc_call risk s m 100 x; grpc_cancel last; grpc_cancel last; grpc_close 99",
    )
    assert answers(outcome.logs, "request_headers")[1:] == ["OK", "NOT_FOUND", "NOT_FOUND"]
    host.advance_time(50)
    assert _grpc_events(host.logs) == []
    callout = outcome.observation("probe", Phase.REQUEST).callouts[0]
    assert callout.result == "cancelled"
