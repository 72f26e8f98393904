"""HTTP and gRPC callouts from modules, answered by the host's fake upstreams on the
virtual clock.

Semantics follow Envoy's `Context` (context.cc): callouts belong to the root context of the
caller and their answers come back to it (modules switch to a stream with
proxy_set_effective_context); HTTP call tokens count up from 1; gRPC call tokens are odd and
stream tokens even; an unknown HTTP cluster or a request without :method, :path and
:authority is BAD_ARGUMENT; a unary gRPC call that succeeds gets only
proxy_on_grpc_receive, one that fails only proxy_on_grpc_close; a reset HTTP call gets
proxy_on_http_call_response with zero headers while proxy_get_status answers
BROKEN_CONNECTION / "reset". Answers arrive after the current callback has returned, at
the upstream's latency (or the call's timeout, whichever comes first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.host.context import CalloutAnswer, Context
from harness.host.events import EventHandle
from harness.host.header_map import HeaderMap
from harness.host.outcome import CalloutRecord
from harness.host.protobuf import grpc_service_cluster
from harness.host.types import Status
from harness.host.upstreams import (
    CONNECTION_FAILURE_BODY,
    CONNECTION_FAILURE_STATUS,
    TIMEOUT_BODY,
    TIMEOUT_STATUS,
    CalloutFailure,
    CalloutRequest,
    FakeUpstream,
    GrpcReply,
    HttpReply,
)

if TYPE_CHECKING:
    from harness.host.services import HostServices

U32_MAX = 0xFFFFFFFF
INT32_MAX = 0x7FFFFFFF
GRPC_OK = 0
GRPC_INTERNAL = 13
GRPC_UNAVAILABLE = 14
BROKEN_CONNECTION = int(Status.BROKEN_CONNECTION)


@dataclass
class _Call:
    token: int
    kind: str
    upstream: FakeUpstream
    request: CalloutRequest
    record: CalloutRecord
    events: list[EventHandle] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)
    local_closed: bool = False
    answered: bool = False

    def cancel_events(self) -> None:
        for handle in self.events:
            handle.cancel()
        self.events.clear()


@dataclass
class _RootCallouts:
    next_http_token: int = 1
    next_grpc_token: int = 1
    http: dict[int, _Call] = field(default_factory=dict)
    grpc: dict[int, _Call] = field(default_factory=dict)


def _is_call_token(token: int) -> bool:
    return token % 2 == 1


class CalloutEngine:
    def __init__(self, services: HostServices) -> None:
        self._services = services
        self._roots: dict[int, _RootCallouts] = {}

    def _state(self, root: Context) -> _RootCallouts:
        key = id(root)
        state = self._roots.get(key)
        if state is None:
            state = _RootCallouts()
            self._roots[key] = state
        return state

    def forget(self, root: Context) -> None:
        state = self._roots.pop(id(root), None)
        if state is not None:
            for call in [*state.http.values(), *state.grpc.values()]:
                call.cancel_events()

    # -- HTTP ---------------------------------------------------------------

    def http_call(
        self,
        caller: Context,
        upstream_name: str,
        *,
        headers: HeaderMap,
        body: bytes,
        trailers: HeaderMap,
        timeout_ms: int,
    ) -> tuple[Status, int]:
        root = caller.root
        if timeout_ms > INT32_MAX:  # Envoy reads the timeout as a signed int
            return Status.BAD_ARGUMENT, 0
        upstream = self._services.config.upstreams.get(upstream_name)
        if upstream is None:
            return Status.BAD_ARGUMENT, 0
        if (
            headers.get(":path") is None
            or headers.get(":method") is None
            or headers.get(":authority") is None
        ):
            return Status.BAD_ARGUMENT, 0
        if body:
            headers.replace("content-length", str(len(body)))
        state = self._state(root)
        token = state.next_http_token
        while token == 0 or token in state.http:
            token = (token + 1) & U32_MAX
        state.next_http_token = (token + 1) & U32_MAX
        request = CalloutRequest(
            kind="http",
            upstream=upstream_name,
            headers=headers.to_headers(),
            body=body,
            trailers=trailers.to_headers(),
            timeout_ms=timeout_ms,
        )
        record = CalloutRecord("http", upstream_name, token, request.headers, body, timeout_ms)
        call = _Call(token, "http", upstream, request, record)
        state.http[token] = call
        self._services.recorder.callout(caller, record)
        self._schedule_http(root, call, upstream.answer(request))
        return Status.OK, token

    def _schedule_http(self, root: Context, call: _Call, answer: object) -> None:
        timeout = call.request.timeout_ms
        events = self._services.events
        if isinstance(answer, HttpReply) and not (timeout and answer.latency_ms >= timeout):
            call.events.append(
                events.schedule_ms(answer.latency_ms, lambda: self._http_answer(root, call, answer))
            )
        elif answer is CalloutFailure.RESET:
            call.events.append(events.post(lambda: self._http_reset(root, call)))
        elif answer is CalloutFailure.CONNECTION_FAILURE:
            reply = HttpReply(
                CONNECTION_FAILURE_STATUS, [("content-type", "text/plain")], CONNECTION_FAILURE_BODY
            )
            call.events.append(events.post(lambda: self._http_answer(root, call, reply)))
        elif timeout:
            reply = HttpReply(TIMEOUT_STATUS, [("content-type", "text/plain")], TIMEOUT_BODY)
            call.events.append(
                events.schedule_ms(timeout, lambda: self._http_answer(root, call, reply, result="timeout"))
            )
        elif isinstance(answer, GrpcReply):
            self._services.recorder.host_note(
                root, f"upstream {call.request.upstream!r} gave a gRPC reply to an HTTP call"
            )
            call.events.append(events.post(lambda: self._http_reset(root, call)))
        # A hanging upstream without a timeout leaves the call pending, as in Envoy.

    def _http_answer(self, root: Context, call: _Call, reply: HttpReply, result: str = "response") -> None:
        state = self._state(root)
        if state.http.pop(call.token, None) is None:
            return
        call.record.result = result
        call.record.response_status = reply.status
        headers = HeaderMap([(":status", str(reply.status)), *reply.headers])
        trailers = HeaderMap(reply.trailers)
        root.http_call_answer = CalloutAnswer(headers, reply.body, trailers)
        try:
            self._services.dispatch(
                root,
                "proxy_on_http_call_response",
                root.id,
                call.token,
                len(headers),
                len(reply.body),
                len(trailers),
            )
        finally:
            root.http_call_answer = None

    def _http_reset(self, root: Context, call: _Call) -> None:
        state = self._state(root)
        if state.http.pop(call.token, None) is None:
            return
        call.record.result = "reset"
        root.status_code, root.status_message = BROKEN_CONNECTION, b"reset"
        try:
            self._services.dispatch(root, "proxy_on_http_call_response", root.id, call.token, 0, 0, 0)
        finally:
            root.status_message = b""

    # -- gRPC ---------------------------------------------------------------

    def _resolve_grpc(self, service: bytes) -> tuple[str, FakeUpstream | None, bool]:
        """(cluster, upstream, given as a GrpcService proto)."""
        cluster = grpc_service_cluster(service)
        from_proto = cluster is not None
        if cluster is None:
            cluster = service.decode("utf-8", "replace")
        return cluster, self._services.config.upstreams.get(cluster), from_proto

    def _next_grpc_token(self, state: _RootCallouts, *, call: bool) -> int:
        token = state.next_grpc_token
        while token == 0 or _is_call_token(token) != call or token in state.grpc:
            token = (token + 1) & U32_MAX
        state.next_grpc_token = (token + 1) & U32_MAX
        return token

    def grpc_call(
        self,
        caller: Context,
        *,
        service: bytes,
        service_name: str,
        method: str,
        metadata: HeaderMap,
        message: bytes,
        timeout_ms: int,
    ) -> tuple[Status, int]:
        root = caller.root
        cluster, upstream, from_proto = self._resolve_grpc(service)
        state = self._state(root)
        if upstream is None:
            if not from_proto:
                return Status.PARSE_FAILURE, 0
            # Envoy's async client reports the missing cluster inline (deferred to after
            # this call) and the call itself fails.
            token = self._next_grpc_token(state, call=True)
            self._services.events.post(
                lambda: self._dispatch_close(root, token, GRPC_UNAVAILABLE, b"Cluster not available")
            )
            return Status.INTERNAL_FAILURE, 0
        token = self._next_grpc_token(state, call=True)
        request = CalloutRequest(
            kind="grpc",
            upstream=cluster,
            headers=metadata.to_headers(),
            body=message,
            trailers=[],
            timeout_ms=timeout_ms,
            service=service_name,
            method=method,
        )
        record = CalloutRecord(
            "grpc", cluster, token, request.headers, message, timeout_ms, service_name, method
        )
        call = _Call(token, "grpc", upstream, request, record)
        state.grpc[token] = call
        self._services.recorder.callout(caller, record)
        self._schedule_grpc(root, call, upstream.answer(request))
        return Status.OK, token

    def grpc_stream(
        self, caller: Context, service: bytes, service_name: str, method: str, metadata: HeaderMap
    ) -> tuple[Status, int]:
        root = caller.root
        cluster, upstream, from_proto = self._resolve_grpc(service)
        if upstream is None:
            return (Status.INTERNAL_FAILURE if from_proto else Status.PARSE_FAILURE), 0
        state = self._state(root)
        token = self._next_grpc_token(state, call=False)
        request = CalloutRequest(
            kind="grpc_stream",
            upstream=cluster,
            headers=metadata.to_headers(),
            body=b"",
            trailers=[],
            timeout_ms=0,
            service=service_name,
            method=method,
        )
        record = CalloutRecord("grpc_stream", cluster, token, request.headers, b"", 0, service_name, method)
        state.grpc[token] = _Call(token, "grpc_stream", upstream, request, record)
        self._services.recorder.callout(caller, record)
        return Status.OK, token

    def grpc_send(self, caller: Context, token: int, message: bytes, end_stream: bool) -> Status:
        if _is_call_token(token):
            return Status.BAD_ARGUMENT
        root = caller.root
        call = self._state(root).grpc.get(token)
        if call is None:
            return Status.NOT_FOUND
        call.sent.append(message)
        call.record.body += message
        if end_stream:
            self._half_close(root, call)
        return Status.OK

    def grpc_close(self, caller: Context, token: int) -> Status:
        root = caller.root
        state = self._state(root)
        call = state.grpc.get(token)
        if call is None:
            return Status.NOT_FOUND
        if call.kind == "grpc":
            call.cancel_events()
            call.record.result = "cancelled"
            del state.grpc[token]
            return Status.OK
        self._half_close(root, call)
        return Status.OK

    def grpc_cancel(self, caller: Context, token: int) -> Status:
        state = self._state(caller.root)
        call = state.grpc.pop(token, None)
        if call is None:
            return Status.NOT_FOUND
        call.cancel_events()
        call.record.result = "cancelled"
        return Status.OK

    def _half_close(self, root: Context, call: _Call) -> None:
        if call.local_closed:
            return
        call.local_closed = True
        request = CalloutRequest(
            kind=call.request.kind,
            upstream=call.request.upstream,
            headers=call.request.headers,
            body=b"".join(call.sent),
            trailers=[],
            timeout_ms=0,
            service=call.request.service,
            method=call.request.method,
            messages=tuple(call.sent),
        )
        self._schedule_grpc(root, call, call.upstream.answer(request))

    def _schedule_grpc(self, root: Context, call: _Call, answer: object) -> None:
        timeout = call.request.timeout_ms
        events = self._services.events
        if isinstance(answer, GrpcReply) and not (timeout and answer.latency_ms >= timeout):
            call.events.append(
                events.schedule_ms(answer.latency_ms, lambda: self._grpc_answer(root, call, answer))
            )
            return
        if isinstance(answer, HttpReply) and not (timeout and answer.latency_ms >= timeout):
            status = GRPC_OK if answer.status == 200 else _http_to_grpc_status(answer.status)
            reply = GrpcReply((answer.body,), status, "" if status == GRPC_OK else "non-200 HTTP response")
            call.events.append(
                events.schedule_ms(answer.latency_ms, lambda: self._grpc_answer(root, call, reply))
            )
            return
        if answer is CalloutFailure.RESET:
            failure = (GRPC_INTERNAL, b"", "reset", 0)
        elif answer is CalloutFailure.CONNECTION_FAILURE:
            failure = (GRPC_UNAVAILABLE, CONNECTION_FAILURE_BODY, "response", 0)
        elif timeout:
            # Envoy's router answers a timeout with 504, which gRPC reads as UNAVAILABLE.
            failure = (GRPC_UNAVAILABLE, TIMEOUT_BODY, "timeout", timeout)
        else:
            return
        code, message, result, delay = failure
        call.events.append(
            events.schedule_ms(delay, lambda: self._grpc_failed(root, call, code, message, result))
        )

    def _grpc_answer(self, root: Context, call: _Call, reply: GrpcReply) -> None:
        state = self._state(root)
        if state.grpc.get(call.token) is not call:
            return
        call.record.response_status = reply.status
        call.record.result = "response"
        if call.kind == "grpc":
            del state.grpc[call.token]
            if reply.status != GRPC_OK:
                self._dispatch_close(root, call.token, reply.status, reply.message.encode())
                return
            self._dispatch_receive(root, call.token, reply.messages[0] if reply.messages else b"")
            return
        self._dispatch_metadata(root, call.token, reply.initial_metadata, initial=True)
        for message in reply.messages:
            if state.grpc.get(call.token) is not call:
                return
            self._dispatch_receive(root, call.token, message)
        if state.grpc.get(call.token) is not call:
            return
        self._dispatch_metadata(root, call.token, reply.trailing_metadata, initial=False)
        state.grpc.pop(call.token, None)
        self._dispatch_close(root, call.token, reply.status, reply.message.encode())

    def _grpc_failed(self, root: Context, call: _Call, code: int, message: bytes, result: str) -> None:
        state = self._state(root)
        if state.grpc.pop(call.token, None) is None:
            return
        call.record.result = result
        call.record.response_status = code
        self._dispatch_close(root, call.token, code, message)

    def _dispatch_receive(self, root: Context, token: int, message: bytes) -> None:
        root.grpc_receive_buffer = message
        try:
            self._services.dispatch(root, "proxy_on_grpc_receive", root.id, token, len(message))
        finally:
            root.grpc_receive_buffer = None

    def _dispatch_metadata(
        self, root: Context, token: int, metadata: list[tuple[str, str]], *, initial: bool
    ) -> None:
        header_map = HeaderMap(metadata)
        if initial:
            root.grpc_initial_metadata = header_map
            callback = "proxy_on_grpc_receive_initial_metadata"
        else:
            root.grpc_trailing_metadata = header_map
            callback = "proxy_on_grpc_receive_trailing_metadata"
        try:
            self._services.dispatch(root, callback, root.id, token, len(header_map))
        finally:
            root.grpc_initial_metadata = root.grpc_trailing_metadata = None

    def _dispatch_close(self, root: Context, token: int, code: int, message: bytes) -> None:
        root.status_code, root.status_message = code, message
        try:
            self._services.dispatch(root, "proxy_on_grpc_close", root.id, token, code)
        finally:
            root.status_message = b""


def _http_to_grpc_status(status: int) -> int:
    """Envoy's Grpc::Utility::httpToGrpcStatus."""
    mapping = {400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 502: 14, 503: 14, 504: 14}
    return mapping.get(status, 2)
