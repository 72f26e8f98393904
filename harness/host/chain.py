"""FilterChain: plays recorded exchanges through plugins the way Envoy's HTTP filter manager
does, and reports what each filter saw and did.

The request flows through the filters in order and the response in reverse. Per frame:

- headers: Continue passes them on; any stop (Pause is turned into StopAllIteration, as
  cpp-host does for ABI 0.2) holds the headers and every later frame at that filter until
  it continues the stream;
- body: Continue passes the chunk (or everything the filter buffered) on; Pause
  (StopIterationAndBuffer) keeps it, and the filter is called again with the whole
  buffered body when more arrives; a buffer past the connection limit ends the stream with
  413 (request) or 500 (response), as Envoy does;
- trailers: Continue passes any buffered body and then the trailers; Pause holds them.

Continue and local replies a module asks for are carried out after its callback returns.
A local reply during the request ends it (the upstream never sees it) and travels back
through the filters that saw the request; during the response it goes straight to the
client if the response headers have not reached the client yet, else the stream is reset.

While a filter waits, the host's event loop runs: callout answers, queue notifications and
ticks arrive in virtual time. If nothing can resume the stream it has stalled: Envoy's
stream idle timeout would answer 408 (or reset a started response).

When the stream ends, every filter gets proxy_on_log, then proxy_on_done and
proxy_on_delete (Envoy calls the access log before destroying filters; a filter that never
saw the request still gets its context created for on_log).

A VM that traps or overruns its deadline applies the plugin's failure policy: FAIL_OPEN
skips the filter from then on; FAIL_CLOSED (and FAIL_RELOAD, for the stream that failed)
answers 503 with details "wasm_fail_stream"; FAIL_RELOAD gives the next stream a new VM.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING
from urllib.parse import quote

from harness.host.buffers import BodyBuffer
from harness.host.config import FailurePolicy
from harness.host.context import Context, ContextKind, LocalReplyRequest, StreamInfo
from harness.host.errors import HostError
from harness.host.header_map import HeaderMap
from harness.host.outcome import (
    HOST_SENDER,
    CallbackRecord,
    ExchangeOutcome,
    FailureKind,
    FailureRecord,
    FilterObservation,
    LocalReply,
    Phase,
    TcpOutcome,
)
from harness.host.tcp import TcpConversation, TcpRun
from harness.host.types import FilterStatus, LogLevel, StreamType
from harness.host.vm import VmFailedError
from harness.traffic.model import HttpExchange, HttpMessage

if TYPE_CHECKING:
    from harness.host.host import Host
    from harness.host.plugin import Plugin, PluginInstance

FILTERS_MAX = 64
FAIL_STREAM_DETAILS = "wasm_fail_stream"
GRPC_UNAVAILABLE = 14
STREAM_IDLE_TIMEOUT_STATUS = 408
EVENT_STEPS_MAX = 100_000
"""Bound on event-loop steps while one stream waits (a tick storm must not spin forever)."""


class Direction(Enum):
    REQUEST = "request"
    RESPONSE = "response"

    # Members compare by identity; an identity hash is far cheaper than Enum.__hash__.
    __hash__ = object.__hash__


class FrameKind(Enum):
    HEADERS = "headers"
    DATA = "data"
    TRAILERS = "trailers"

    # Members compare by identity; an identity hash is far cheaper than Enum.__hash__.
    __hash__ = object.__hash__


@dataclass
class Frame:
    kind: FrameKind
    headers: HeaderMap | None = None
    data: bytes = b""
    end_stream: bool = False


_CALLBACKS = {
    (Direction.REQUEST, FrameKind.HEADERS): "proxy_on_request_headers",
    (Direction.REQUEST, FrameKind.DATA): "proxy_on_request_body",
    (Direction.REQUEST, FrameKind.TRAILERS): "proxy_on_request_trailers",
    (Direction.RESPONSE, FrameKind.HEADERS): "proxy_on_response_headers",
    (Direction.RESPONSE, FrameKind.DATA): "proxy_on_response_body",
    (Direction.RESPONSE, FrameKind.TRAILERS): "proxy_on_response_trailers",
}


@dataclass
class _Flow:
    """One filter's iteration state in one direction."""

    stopped_at: FrameKind | None = None
    held: Frame | None = None
    """The headers or trailers frame a stopped filter will pass on when it continues."""
    pending: deque[Frame] = field(default_factory=deque)
    """Frames that reached the filter while it was stopped in headers."""
    buffer: BodyBuffer | None = None
    buffering: bool = False
    buffer_end: bool = False
    headers_in: HeaderMap | None = None
    headers_out: list[tuple[str, str]] | None = None
    headers_in_snapshot: list[tuple[str, str]] | None = None
    trailers_in_snapshot: list[tuple[str, str]] | None = None
    trailers_out: list[tuple[str, str]] | None = None
    body_in: bytearray = field(default_factory=bytearray)
    body_out: bytearray = field(default_factory=bytearray)
    saw_body: bool = False
    passed_body: bool = False
    ended_early: bool = False
    """The filter answered ContinueAndEndStream: later frames of this direction are dropped."""


class _Filter:
    def __init__(
        self, index: int, plugin: Plugin, instance: PluginInstance | None, failed_closed: bool
    ) -> None:
        self.index = index
        self.plugin = plugin
        self.name = plugin.name
        self.instance = instance
        self.context: Context | None = None
        self.failed_closed = failed_closed
        """The VM was already failed when the stream began (Envoy's empty fail-closed filter)."""
        self.skipped = instance is None and not failed_closed
        self.flows = {Direction.REQUEST: _Flow(), Direction.RESPONSE: _Flow()}
        self.observations: dict[Phase, FilterObservation] = {}

    def observation(self, phase: Phase) -> FilterObservation:
        observation = self.observations.get(phase)
        if observation is None:
            observation = FilterObservation(filter=self.name, phase=phase)
            self.observations[phase] = observation
        return observation

    @property
    def created(self) -> bool:
        return self.context is not None and self.context.created_in_vm


class _StreamEndedError(Exception):
    """Unwinds frame processing once a local reply or reset ended the stream."""


class FilterChain:
    """An ordered chain of plugins of one host, like an HTTP connection manager's filters."""

    def __init__(self, host: Host, plugins: list[Plugin]) -> None:
        if not plugins:
            raise HostError("a filter chain needs at least one plugin")
        if len(plugins) > FILTERS_MAX:
            raise HostError(f"a filter chain holds at most {FILTERS_MAX} plugins, got {len(plugins)}")
        names = [plugin.name for plugin in plugins]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise HostError(f"plugin names in a chain must be unique; repeated: {', '.join(duplicates)}")
        foreign = [plugin.name for plugin in plugins if plugin.host is not host]
        if foreign:
            raise HostError(f"plugins loaded by another host: {', '.join(foreign)}")
        self.host = host
        self.plugins = list(plugins)

    def run(self, exchange: HttpExchange, worker: int = 0) -> ExchangeOutcome:
        """Plays one exchange on `worker`'s VMs and answers what happened."""
        self._check_worker(worker)
        return _StreamRun(self, exchange, worker).play()

    def run_tcp(self, conversation: TcpConversation, worker: int = 0) -> TcpOutcome:
        """Plays one TCP connection through the plugins as network filters."""
        self._check_worker(worker)
        return TcpRun(self.host, self.plugins, conversation, worker).play()

    def _check_worker(self, worker: int) -> None:
        if not 0 <= worker < self.host.config.workers:
            raise HostError(f"worker {worker} does not exist (the host has {self.host.config.workers})")


class _StreamRun:
    def __init__(self, chain: FilterChain, exchange: HttpExchange, worker: int) -> None:
        self.chain = chain
        self.host = chain.host
        self.exchange = exchange
        self.worker = worker
        self.phase = Phase.REQUEST
        self.stream = StreamInfo(
            exchange=exchange,
            connection_id=self.host.next_connection_id(),
            start_wall_nanos=self.host.clock.wall_nanos,
            connection=dict(exchange.connection),
        )
        self.filters = [self._make_filter(index, plugin) for index, plugin in enumerate(chain.plugins)]
        self.upstream: HttpMessage | None = None
        self.upstream_complete = False
        self.client = HttpMessage(headers=[])
        self.client_headers_sent = False
        self.client_complete = False
        self.local_reply: LocalReply | None = None
        self.reset = False
        self.ended = False
        self.request_grpc = (exchange.request.header("content-type") or "").startswith("application/grpc")
        self.last_callback = ""

    def _make_filter(self, index: int, plugin: Plugin) -> _Filter:
        instance = plugin.instance(self.worker)
        if instance.failed:
            # Envoy's filter factory: fail-open plugins are left out of the chain, fail-closed
            # ones become an empty filter that fails the stream.
            if plugin.config.failure_policy is FailurePolicy.FAIL_OPEN:
                return _Filter(index, plugin, None, failed_closed=False)
            return _Filter(index, plugin, instance, failed_closed=True)
        chain_filter = _Filter(index, plugin, instance, failed_closed=False)
        chain_filter.context = instance.new_stream_context(ContextKind.HTTP, self.stream)
        return chain_filter

    # -- Playing ---------------------------------------------------------------------

    def play(self) -> ExchangeOutcome:
        started = time.perf_counter()
        self._bind(Phase.REQUEST)
        try:
            self._play_request()
            if not self.ended:
                self._bind(Phase.RESPONSE)
                self._play_response(self._recorded_response())
        except _StreamEndedError:
            pass
        self.stream.end_wall_nanos = self.host.clock.wall_nanos
        self._bind(Phase.COMPLETION)
        self._complete()
        self._bind(None)
        return self._outcome(time.perf_counter() - started)

    def _bind(self, phase: Phase | None) -> None:
        if phase is not None:
            self.phase = phase
        for chain_filter in self.filters:
            if chain_filter.instance is not None:
                chain_filter.instance.observation = None if phase is None else chain_filter.observation(phase)

    def _play_request(self) -> None:
        request = self.exchange.request
        headers = HeaderMap(request.headers)
        self.stream.request_headers = headers
        chunks = [chunk for chunk in request.body_chunks if chunk]
        trailers = request.trailers
        self._deliver(
            Direction.REQUEST,
            0,
            Frame(FrameKind.HEADERS, headers=headers, end_stream=not chunks and not trailers),
        )
        for position, chunk in enumerate(chunks):
            end = position == len(chunks) - 1 and not trailers
            self.stream.request_body_bytes += len(chunk)
            self._deliver(Direction.REQUEST, 0, Frame(FrameKind.DATA, data=chunk, end_stream=end))
        if trailers:
            self._deliver(
                Direction.REQUEST, 0, Frame(FrameKind.TRAILERS, headers=HeaderMap(trailers), end_stream=True)
            )
        self._wait_until(lambda: self.upstream_complete, Direction.REQUEST)

    def _recorded_response(self) -> list[Frame]:
        response = self.exchange.response
        headers = HeaderMap(response.headers)
        chunks = [chunk for chunk in response.body_chunks if chunk]
        trailers = response.trailers
        frames = [Frame(FrameKind.HEADERS, headers=headers, end_stream=not chunks and not trailers)]
        for position, chunk in enumerate(chunks):
            frames.append(
                Frame(FrameKind.DATA, data=chunk, end_stream=position == len(chunks) - 1 and not trailers)
            )
        if trailers:
            frames.append(Frame(FrameKind.TRAILERS, headers=HeaderMap(trailers), end_stream=True))
        self.stream.response_code_details = "via_upstream"
        return frames

    def _play_response(self, frames: list[Frame]) -> None:
        for frame in frames:
            if frame.kind is FrameKind.HEADERS:
                assert frame.headers is not None
                self.stream.response_headers = frame.headers
            elif frame.kind is FrameKind.DATA:
                self.stream.response_body_bytes += len(frame.data)
            else:
                self.stream.response_trailers = frame.headers
            self._deliver(Direction.RESPONSE, 0, frame)
        self._wait_until(lambda: self.client_complete, Direction.RESPONSE)

    def _order(self, direction: Direction) -> list[_Filter]:
        return self.filters if direction is Direction.REQUEST else self.filters[::-1]

    # -- Frame delivery ----------------------------------------------------------------

    def _deliver(self, direction: Direction, position: int, frame: Frame) -> None:
        """Hands `frame` to the filter at `position` of `direction` (or the far end)."""
        if self.ended:
            raise _StreamEndedError
        order = self._order(direction)
        if position >= len(order):
            self._arrive(direction, frame)
            return
        chain_filter = order[position]
        flow = chain_filter.flows[direction]
        if flow.ended_early:
            return
        if not self._passes_through(chain_filter, direction) and (
            flow.stopped_at is FrameKind.HEADERS
            or (flow.stopped_at is not None and frame.kind is not FrameKind.DATA)
        ):
            flow.pending.append(frame)
            return
        self._note_in(flow, frame)
        if self._passes_through(chain_filter, direction):
            self._forward(direction, position, frame)
            return
        if frame.kind is FrameKind.HEADERS:
            self._on_headers(chain_filter, direction, position, frame)
        elif frame.kind is FrameKind.DATA:
            self._on_data(chain_filter, direction, position, frame)
        else:
            self._on_trailers(chain_filter, direction, position, frame)

    def _passes_through(self, chain_filter: _Filter, direction: Direction) -> bool:
        if chain_filter.skipped:
            return True
        # Envoy's Wasm filter ignores encoder callbacks for a stream it never created.
        return direction is Direction.RESPONSE and not chain_filter.created and not chain_filter.failed_closed

    def _note_in(self, flow: _Flow, frame: Frame) -> None:
        if frame.kind is FrameKind.HEADERS:
            assert frame.headers is not None
            flow.headers_in = frame.headers
            flow.headers_in_snapshot = frame.headers.to_headers()
        elif frame.kind is FrameKind.DATA:
            flow.saw_body = True
            flow.body_in.extend(frame.data)
        else:
            assert frame.headers is not None
            flow.trailers_in_snapshot = frame.headers.to_headers()

    def _forward(self, direction: Direction, position: int, frame: Frame) -> None:
        flow = self._order(direction)[position].flows[direction]
        if frame.kind is FrameKind.HEADERS:
            assert frame.headers is not None
            flow.headers_out = frame.headers.to_headers()
        elif frame.kind is FrameKind.DATA:
            flow.passed_body = True
            flow.body_out.extend(frame.data)
        else:
            assert frame.headers is not None
            flow.trailers_out = frame.headers.to_headers()
        self._deliver(direction, position + 1, frame)

    def _arrive(self, direction: Direction, frame: Frame) -> None:
        if direction is Direction.REQUEST:
            if self.upstream is None:
                self.upstream = HttpMessage(headers=[])
            target = self.upstream
        else:
            target = self.client
            if frame.kind is FrameKind.HEADERS:
                self.client_headers_sent = True
        if frame.kind is FrameKind.HEADERS:
            assert frame.headers is not None
            target.headers = frame.headers.to_headers()
        elif frame.kind is FrameKind.DATA:
            target.body_chunks.append(frame.data)
        else:
            assert frame.headers is not None
            target.trailers = frame.headers.to_headers()
        if frame.end_stream:
            if direction is Direction.REQUEST:
                self.upstream_complete = True
            else:
                self.client_complete = True

    # -- Callbacks ------------------------------------------------------------------

    def _on_headers(self, chain_filter: _Filter, direction: Direction, position: int, frame: Frame) -> None:
        assert frame.headers is not None
        self._expose(chain_filter, direction, FrameKind.HEADERS, frame.headers)
        status = self._invoke(chain_filter, direction, frame, len(frame.headers), frame.end_stream)
        flow = chain_filter.flows[direction]
        if status.continues:
            self._expose(chain_filter, direction, FrameKind.HEADERS, None)
            self._apply_deferred()
            if status is FilterStatus.CONTINUE_AND_END_STREAM:
                flow.ended_early = True
                frame = Frame(FrameKind.HEADERS, frame.headers, end_stream=True)
            self._forward(direction, position, frame)
            return
        flow.stopped_at = FrameKind.HEADERS
        flow.held = frame
        # A continue the module asked for in this very callback resumes after the stop.
        self._apply_deferred()

    def _on_data(self, chain_filter: _Filter, direction: Direction, position: int, frame: Frame) -> None:
        flow = chain_filter.flows[direction]
        if flow.buffering and flow.buffer is not None:
            flow.buffer.data.extend(frame.data)
        else:
            flow.buffer = BodyBuffer(frame.data)
        flow.buffer_end = frame.end_stream
        buffer = flow.buffer
        self._expose(chain_filter, direction, FrameKind.DATA, buffer)
        status = self._invoke(chain_filter, direction, frame, len(buffer), frame.end_stream)
        if status.continues:
            self._expose(chain_filter, direction, FrameKind.DATA, None)
            flow.buffering = False
            flow.buffer = None
            self._apply_deferred()
            data = Frame(FrameKind.DATA, data=bytes(buffer.data), end_stream=frame.end_stream)
            self._forward(direction, position, data)
            return
        # StopIterationAndBuffer / AndWatermark keep the data; StopIterationNoBuffer drops it.
        flow.buffering = status in (
            FilterStatus.STOP_ITERATION_AND_BUFFER,
            FilterStatus.STOP_ITERATION_AND_WATERMARK,
        )
        if not flow.buffering:
            flow.buffer = None
        elif len(buffer) > self.host.config.buffer_limit_bytes:
            self._buffer_overflow(chain_filter, direction)
        if frame.end_stream:
            flow.stopped_at = FrameKind.DATA
        self._apply_deferred()

    def _on_trailers(self, chain_filter: _Filter, direction: Direction, position: int, frame: Frame) -> None:
        assert frame.headers is not None
        self._expose(chain_filter, direction, FrameKind.TRAILERS, frame.headers)
        status = self._invoke(chain_filter, direction, frame, len(frame.headers), None)
        flow = chain_filter.flows[direction]
        if status.continues:
            self._expose(chain_filter, direction, FrameKind.TRAILERS, None)
            self._apply_deferred()
            self._release_buffer(direction, position, end_stream=False)
            self._forward(direction, position, frame)
            return
        flow.stopped_at = FrameKind.TRAILERS
        flow.held = frame
        self._apply_deferred()

    @staticmethod
    def _expose(
        chain_filter: _Filter, direction: Direction, kind: FrameKind, value: HeaderMap | BodyBuffer | None
    ) -> None:
        """Makes a map or body reachable from the filter's context during its callback (or
        forgets it once the filter let it go), as Envoy's Context sets request_headers_ etc."""
        context = chain_filter.context
        http = context.http if context is not None else None
        if http is None:
            return
        request = direction is Direction.REQUEST
        if kind is FrameKind.DATA:
            assert value is None or isinstance(value, BodyBuffer)
            if request:
                http.request_body = value
            else:
                http.response_body = value
            return
        assert value is None or isinstance(value, HeaderMap)
        if kind is FrameKind.HEADERS:
            if request:
                http.request_headers = value
            else:
                http.response_headers = value
        elif request:
            http.request_trailers = value
        else:
            http.response_trailers = value

    def _release_buffer(self, direction: Direction, position: int, *, end_stream: bool) -> None:
        flow = self._order(direction)[position].flows[direction]
        buffer = flow.buffer
        flow.buffer = None
        flow.buffering = False
        if buffer is not None and (len(buffer) or end_stream):
            self._forward(
                direction, position, Frame(FrameKind.DATA, data=bytes(buffer.data), end_stream=end_stream)
            )

    def _invoke(
        self, chain_filter: _Filter, direction: Direction, frame: Frame, size: int, end_stream: bool | None
    ) -> FilterStatus:
        """Calls the frame's callback, applies the failure policy and the module's deferred
        actions, and answers the filter status as Envoy converts it."""
        callback = _CALLBACKS[(direction, frame.kind)]
        self.last_callback = callback
        observation = chain_filter.observation(self.phase)
        if chain_filter.failed_closed or (chain_filter.instance is not None and chain_filter.instance.failed):
            return self._fail_stream_again(chain_filter, direction, callback)
        context = chain_filter.context
        assert context is not None and chain_filter.instance is not None
        vm = context.vm
        before = observation.module_seconds
        result: int | None
        try:
            self._ensure_created(chain_filter)
            if not vm.has(callback):
                result = None
            else:
                vm.stop_next_iteration = False
                args = [context.id, size]
                function = vm.callbacks.get(callback)
                assert function is not None
                if end_stream is not None and function.param_count == 3:
                    args.append(int(end_stream))
                result = vm.call(context, function, *args)
        except VmFailedError as failure:
            observation.callbacks.append(CallbackRecord(callback, None, end_stream, size))
            return self._fail_stream(chain_filter, direction, failure)
        status = self._convert(frame.kind, result, vm.stop_next_iteration)
        vm.stop_next_iteration = False
        observation.callbacks.append(
            CallbackRecord(
                callback,
                status.action,
                end_stream,
                size,
                observation.module_seconds - before,
                status=status,
                returned=result,
            )
        )
        return status

    def _ensure_created(self, chain_filter: _Filter) -> None:
        context = chain_filter.context
        assert context is not None
        if context.created_in_vm:
            return
        context.created_in_vm = True
        context.vm.call_named(context, "proxy_on_context_create", context.id, context.root.id)

    @staticmethod
    def _convert(kind: FrameKind, result: int | None, stopped: bool) -> FilterStatus:
        """cpp-host's convertVmCallResultTo{Headers,Data,Trailers}Status: after a local reply
        (stopped) or an unknown value the answer is the strongest stop of its kind."""
        if result is None:
            return FilterStatus.CONTINUE
        statuses, strongest = _STATUSES[kind]
        if stopped or result >= len(statuses):
            return strongest
        return statuses[result]

    # -- Deferred actions (continue, local reply, reset) --------------------------------

    def _apply_deferred(self) -> None:
        for chain_filter in self.filters:
            context = chain_filter.context
            if context is None or context.http is None:
                continue
            http = context.http
            if http.local_reply is not None:
                request = http.local_reply
                http.local_reply = None
                self._send_local_reply(request, sent_by=chain_filter.name)
            if http.reset_requested:
                http.reset_requested = False
                self._reset_stream()
            if http.continue_requested:
                requested = set(http.continue_requested)
                http.continue_requested.clear()
                if StreamType.HTTP_REQUEST in requested:
                    self._resume(chain_filter, Direction.REQUEST)
                if StreamType.HTTP_RESPONSE in requested:
                    self._resume(chain_filter, Direction.RESPONSE)

    def _resume(self, chain_filter: _Filter, direction: Direction) -> None:
        flow = chain_filter.flows[direction]
        position = self._order(direction).index(chain_filter)
        stopped = flow.stopped_at
        if stopped is None and not flow.buffering:
            return
        flow.stopped_at = None
        if stopped is FrameKind.HEADERS:
            held = flow.held
            flow.held = None
            assert held is not None
            self._forward(direction, position, held)
            while flow.pending and flow.stopped_at is None:
                self._deliver(direction, position, flow.pending.popleft())
        elif stopped is FrameKind.TRAILERS:
            held = flow.held
            flow.held = None
            assert held is not None
            self._release_buffer(direction, position, end_stream=False)
            self._forward(direction, position, held)
        else:
            self._release_buffer(direction, position, end_stream=flow.buffer_end)

    def _send_local_reply(self, request: LocalReplyRequest, sent_by: str) -> None:
        if self.ended:
            return
        headers, body = self._local_reply_message(request)
        self.local_reply = LocalReply(
            status=request.status,
            body=request.body,
            headers=request.headers,
            details=request.details,
            grpc_status=request.grpc_status,
            sent_by=sent_by,
        )
        if self.phase is Phase.REQUEST and self.stream.response_headers is None:
            self.ended = True
            self._local_reply_through_filters(headers, body)
            raise _StreamEndedError
        if not self.client_headers_sent:
            # Envoy's sendDirectLocalReply: the filters already saw response headers.
            self.client = HttpMessage(headers=headers.to_headers(), body_chunks=[body] if body else [])
            self.client_complete = self.client_headers_sent = True
            self.stream.response_headers = headers
            self.stream.response_trailers = None
            self.stream.response_body_bytes = len(body)
            self.stream.response_code_details = request.details
        else:
            self.reset = True
        self.ended = True
        raise _StreamEndedError

    def _local_reply_message(self, request: LocalReplyRequest) -> tuple[HeaderMap, bytes]:
        """Envoy's Utility::sendLocalReply: plain text, or a trailers-only gRPC answer."""
        if self.request_grpc:
            grpc_status = (
                request.grpc_status if request.grpc_status is not None else _http_to_grpc(request.status)
            )
            headers = HeaderMap(
                [(":status", "200"), ("content-type", "application/grpc"), ("grpc-status", str(grpc_status))]
            )
            if request.body:
                headers.add("grpc-message", quote(request.body, safe=_GRPC_MESSAGE_SAFE))
            body = b""
        else:
            headers = HeaderMap([(":status", str(request.status))])
            if request.body:
                headers.add("content-length", str(len(request.body)))
                headers.add("content-type", "text/plain")
            body = request.body
        for name, value in request.headers:
            headers.add(name, value)
        return headers, body

    def _local_reply_through_filters(self, headers: HeaderMap, body: bytes) -> None:
        """A reply made during the request goes back through the encoder filters."""
        self._bind(Phase.RESPONSE)
        self.stream.response_headers = headers
        self.stream.response_code_details = self.local_reply.details if self.local_reply else ""
        self.stream.response_body_bytes = len(body)
        self.ended = False
        self.upstream = None
        for chain_filter in self.filters:
            # Request-direction state is moot now; no more request frames will flow.
            chain_filter.flows[Direction.REQUEST].pending.clear()
        try:
            frames = [Frame(FrameKind.HEADERS, headers=headers, end_stream=not body)]
            if body:
                frames.append(Frame(FrameKind.DATA, data=body, end_stream=True))
            self._play_response(frames)
        except _StreamEndedError:
            pass
        self.ended = True

    def _reset_stream(self) -> None:
        self.reset = True
        self.ended = True
        raise _StreamEndedError

    def _buffer_overflow(self, chain_filter: _Filter, direction: Direction) -> None:
        status = 413 if direction is Direction.REQUEST else 500
        details = (
            "request_payload_too_large" if direction is Direction.REQUEST else "response_payload_too_large"
        )
        record = FailureRecord(
            FailureKind.BUFFER_LIMIT,
            _CALLBACKS[(direction, FrameKind.DATA)],
            f"buffered body exceeds the buffer limit of {self.host.config.buffer_limit_bytes} bytes",
            None,
            f"local_reply_{status}",
        )
        chain_filter.observation(self.phase).failures.append(record)
        reason = b"Payload Too Large" if status == 413 else b"Internal Server Error"
        self._send_local_reply(LocalReplyRequest(status, reason, [], details, None), sent_by=HOST_SENDER)

    # -- Failures -------------------------------------------------------------------

    def _fail_stream(
        self, chain_filter: _Filter, direction: Direction, failure: VmFailedError
    ) -> FilterStatus:
        policy = chain_filter.plugin.config.failure_policy
        observation = chain_filter.observation(self.phase)
        assert chain_filter.context is not None
        chain_filter.context.vm.services.recorder.host_note(
            chain_filter.context, f"Function: {failure.callback} failed: {failure.message}", LogLevel.ERROR
        )
        if policy is FailurePolicy.FAIL_OPEN:
            chain_filter.skipped = True
            observation.failures.append(
                FailureRecord(failure.kind, failure.callback, failure.message, policy, "filter_skipped")
            )
            return FilterStatus.CONTINUE
        consequence = self._fail_closed_consequence()
        observation.failures.append(
            FailureRecord(failure.kind, failure.callback, failure.message, policy, consequence)
        )
        chain_filter.context.stream_failed = True
        self._send_local_reply(
            LocalReplyRequest(503, b"", [], FAIL_STREAM_DETAILS, GRPC_UNAVAILABLE), sent_by=chain_filter.name
        )
        return FilterStatus.STOP_ALL_ITERATION_AND_WATERMARK

    def _fail_stream_again(self, chain_filter: _Filter, direction: Direction, callback: str) -> FilterStatus:
        """CHECK_FAIL before a callback: the VM failed earlier (another stream, a tick, ...)."""
        policy = chain_filter.plugin.config.failure_policy
        if policy is FailurePolicy.FAIL_OPEN:
            chain_filter.skipped = True
            return FilterStatus.CONTINUE
        context = chain_filter.context
        if context is not None and context.stream_failed:
            # The policy was applied to this stream already; its 503 must reach the client.
            return FilterStatus.CONTINUE
        if context is not None:
            context.stream_failed = True
        consequence = self._fail_closed_consequence()
        chain_filter.observation(self.phase).failures.append(
            FailureRecord(
                FailureKind.TRAP, callback, "the plugin's VM had already failed", policy, consequence
            )
        )
        del direction
        self._send_local_reply(
            LocalReplyRequest(503, b"", [], FAIL_STREAM_DETAILS, GRPC_UNAVAILABLE), sent_by=chain_filter.name
        )
        return FilterStatus.STOP_ALL_ITERATION_AND_WATERMARK

    def _fail_closed_consequence(self) -> str:
        if self.phase is Phase.REQUEST or not self.client_headers_sent:
            return "local_reply_503"
        return "stream_reset"

    # -- Waiting -------------------------------------------------------------------

    def _wait_until(self, done: object, direction: Direction) -> None:
        """Runs the event loop until `done()` holds, the stream ends, or nothing is left to wait for."""
        assert callable(done)
        events = self.host.events
        steps = 0
        while not done() and not self.ended:
            steps += 1
            if steps > EVENT_STEPS_MAX:
                break
            if events.run_due():
                self._apply_deferred()
                continue
            if not events.has_awaitable():
                break
            events.run_next()
            self._apply_deferred()
        if not done() and not self.ended:
            self._stall(direction)
        events.run_due()

    def _stall(self, direction: Direction) -> None:
        waiting = next(
            (
                f
                for f in self._order(direction)
                if f.flows[direction].stopped_at is not None or f.flows[direction].buffering
            ),
            None,
        )
        consequence = "local_reply_408" if not self.client_headers_sent else "stream_reset"
        record = FailureRecord(
            FailureKind.STALLED,
            self.last_callback,
            f"the {direction.value} stopped at this filter and nothing resumed it",
            None,
            consequence,
        )
        if waiting is not None:
            waiting.observation(self.phase).failures.append(record)
        if self.client_headers_sent:
            self._reset_stream()
        self._send_local_reply(
            LocalReplyRequest(STREAM_IDLE_TIMEOUT_STATUS, b"stream timeout", [], "stream_idle_timeout", None),
            sent_by=HOST_SENDER,
        )

    # -- Completion ----------------------------------------------------------------

    def _complete(self) -> None:
        """proxy_on_log for every filter, then proxy_on_done and proxy_on_delete."""
        for chain_filter in self.filters:
            context = chain_filter.context
            if context is None or chain_filter.instance is None or chain_filter.instance.failed:
                continue
            assert context.http is not None
            context.http.log_phase = True
            try:
                self._ensure_created(chain_filter)
                self._completion_call(chain_filter, "proxy_on_log")
            except VmFailedError as failure:
                self._completion_failure(chain_filter, failure)
            finally:
                context.http.log_phase = False
        for chain_filter in self.filters:
            context = chain_filter.context
            if context is None:
                continue
            if (
                chain_filter.created
                and chain_filter.instance is not None
                and not chain_filter.instance.failed
            ):
                try:
                    self._completion_call(chain_filter, "proxy_on_done")
                    self._completion_call(chain_filter, "proxy_on_delete")
                except VmFailedError as failure:
                    self._completion_failure(chain_filter, failure)
            context.destroyed = True
            context.vm.forget_context(context)

    def _completion_call(self, chain_filter: _Filter, callback: str) -> None:
        context = chain_filter.context
        assert context is not None
        vm = context.vm
        function = vm.callbacks.get(callback)
        if function is None or vm.failed:
            return
        observation = chain_filter.observation(Phase.COMPLETION)
        before = observation.module_seconds
        vm.call(context, function, context.id)
        observation.callbacks.append(
            CallbackRecord(callback, None, module_seconds=observation.module_seconds - before)
        )
        self.host.events.run_due()

    def _completion_failure(self, chain_filter: _Filter, failure: VmFailedError) -> None:
        chain_filter.observation(Phase.COMPLETION).failures.append(
            FailureRecord(
                failure.kind,
                failure.callback,
                failure.message,
                chain_filter.plugin.config.failure_policy,
                "vm_failed",
            )
        )

    # -- Outcome -------------------------------------------------------------------

    def _outcome(self, host_seconds: float) -> ExchangeOutcome:
        observations: list[FilterObservation] = []
        for chain_filter in self.filters:
            for direction, phase in (
                (Direction.REQUEST, Phase.REQUEST),
                (Direction.RESPONSE, Phase.RESPONSE),
            ):
                flow = chain_filter.flows[direction]
                if flow.headers_in_snapshot is None and phase not in chain_filter.observations:
                    continue
                observation = chain_filter.observation(phase)
                observation.headers_before = flow.headers_in_snapshot
                observation.headers_after = flow.headers_out
                observation.body_before = bytes(flow.body_in) if flow.saw_body else None
                observation.body_after = (
                    bytes(flow.body_out) if flow.passed_body else (b"" if flow.saw_body else None)
                )
                observation.trailers_before = flow.trailers_in_snapshot
                observation.trailers_after = flow.trailers_out
            observations.extend(
                chain_filter.observations[phase]
                for phase in (Phase.REQUEST, Phase.RESPONSE, Phase.COMPLETION)
                if phase in chain_filter.observations and _happened(chain_filter.observations[phase])
            )
        module_seconds = {
            chain_filter.name: sum(item.module_seconds for item in chain_filter.observations.values())
            for chain_filter in self.filters
        }
        return ExchangeOutcome(
            exchange_id=self.exchange.exchange_id,
            request_to_upstream=self.upstream
            if self.upstream_complete or self.upstream is not None
            else None,
            response_to_client=self.client,
            local_reply=self.local_reply,
            filters=observations,
            module_seconds=module_seconds,
            host_seconds=host_seconds,
            stream_reset=self.reset,
        )


_HEADER_STATUSES = (
    FilterStatus.CONTINUE,
    FilterStatus.STOP_ITERATION,
    FilterStatus.CONTINUE_AND_END_STREAM,
    FilterStatus.STOP_ALL_ITERATION_AND_BUFFER,
    FilterStatus.STOP_ALL_ITERATION_AND_WATERMARK,
)
_DATA_STATUSES = (
    FilterStatus.CONTINUE,
    FilterStatus.STOP_ITERATION_AND_BUFFER,
    FilterStatus.STOP_ITERATION_AND_WATERMARK,
    FilterStatus.STOP_ITERATION_NO_BUFFER,
)
_TRAILER_STATUSES = (FilterStatus.CONTINUE, FilterStatus.STOP_ITERATION)
_STATUSES = {
    # Pause on headers becomes StopAllIterationAndWatermark (cpp-host issue 143).
    FrameKind.HEADERS: (
        (FilterStatus.CONTINUE, FilterStatus.STOP_ALL_ITERATION_AND_WATERMARK, *_HEADER_STATUSES[2:]),
        FilterStatus.STOP_ALL_ITERATION_AND_WATERMARK,
    ),
    FrameKind.DATA: (_DATA_STATUSES, FilterStatus.STOP_ITERATION_NO_BUFFER),
    FrameKind.TRAILERS: (_TRAILER_STATUSES, FilterStatus.STOP_ITERATION),
}
_GRPC_MESSAGE_SAFE = "".join(chr(code) for code in range(0x20, 0x7F) if chr(code) != "%")


def _happened(observation: FilterObservation) -> bool:
    """Whether a filter saw or did anything in this phase (empty observations are dropped)."""
    return bool(
        observation.callbacks
        or observation.logs
        or observation.metric_changes
        or observation.callouts
        or observation.failures
        or observation.headers_before is not None
        or observation.body_before is not None
        or observation.trailers_before is not None
    )


def _http_to_grpc(status: int) -> int:
    """Envoy's Grpc::Utility::httpToGrpcStatus."""
    return {400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 502: 14, 503: 14, 504: 14}.get(status, 2)
