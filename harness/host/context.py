"""Host-side contexts: what Envoy's `Context` holds for the VM, a plugin's root and a stream.

Host functions act on the context that is calling (or the effective one), and what they may
touch follows Envoy's `getMap` / `getConstMap` / `getBuffer`: a stream's request headers are
reachable only while on_request_headers (or a pause in it) is current, response headers
only in their callback, everything again in the access-log phase; callout answers only on
the root context and only during their callback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from harness.host.buffers import BodyBuffer, Buffer, FixedBuffer
from harness.host.header_map import HeaderMap
from harness.host.types import BufferType, MapType, StreamType
from harness.traffic.model import HttpExchange

if TYPE_CHECKING:
    from harness.host.plugin import PluginInstance
    from harness.host.vm import WasmVm

EMPTY_BUFFER = FixedBuffer(b"")


class ContextKind(Enum):
    VM = "vm"
    """Id 0: used for allocation and the module's own start functions."""
    ROOT = "root"
    HTTP = "http"
    TCP = "tcp"


@dataclass
class StreamInfo:
    """Per-exchange facts shared by every filter of the chain (Envoy's StreamInfo)."""

    exchange: HttpExchange | None
    connection_id: int
    start_wall_nanos: int
    connection: dict[str, str] = field(default_factory=dict)
    filter_state: dict[bytes, bytes] = field(default_factory=dict)
    request_headers: HeaderMap | None = None
    """The request header map as it flows (properties read it in any phase)."""
    response_headers: HeaderMap | None = None
    response_trailers: HeaderMap | None = None
    request_body_bytes: int = 0
    response_body_bytes: int = 0
    response_code_details: str = ""
    end_wall_nanos: int | None = None


@dataclass
class LocalReplyRequest:
    status: int
    body: bytes
    headers: list[tuple[str, str]]
    details: str
    grpc_status: int | None


@dataclass
class HttpState:
    """What one filter's stream context can see and what it asked for in its last callback."""

    request_headers: HeaderMap | None = None
    request_trailers: HeaderMap | None = None
    request_body: BodyBuffer | None = None
    response_headers: HeaderMap | None = None
    response_trailers: HeaderMap | None = None
    response_body: BodyBuffer | None = None
    log_phase: bool = False
    # Deferred actions (Envoy runs them after the VM call returns).
    local_reply: LocalReplyRequest | None = None
    local_reply_sent: bool = False
    continue_requested: set[StreamType] = field(default_factory=set)
    reset_requested: bool = False


@dataclass
class TcpState:
    downstream_data: BodyBuffer | None = None
    upstream_data: BodyBuffer | None = None
    close_requested: set[StreamType] = field(default_factory=set)
    continue_requested: set[StreamType] = field(default_factory=set)


@dataclass
class CalloutAnswer:
    """The callout response visible on the root context during its callback."""

    headers: HeaderMap
    body: bytes
    trailers: HeaderMap


@dataclass(eq=False)
class Context:
    id: int
    kind: ContextKind
    vm: WasmVm
    plugin: PluginInstance | None = None
    parent: Context | None = None
    created_in_vm: bool = False
    destroyed: bool = False
    stream: StreamInfo | None = None
    http: HttpState | None = None
    tcp: TcpState | None = None
    # Root-only, set for the duration of one callback:
    plugin_configuration: bytes | None = None
    call_data: bytes | None = None
    http_call_answer: CalloutAnswer | None = None
    grpc_receive_buffer: bytes | None = None
    grpc_initial_metadata: HeaderMap | None = None
    grpc_trailing_metadata: HeaderMap | None = None
    status_code: int = 0
    status_message: bytes = b""
    stream_failed: bool = False
    """The failure policy was already applied to this stream (Envoy's `stream_failed_`)."""

    @property
    def root(self) -> Context:
        return self.parent if self.parent is not None else self

    @property
    def is_root(self) -> bool:
        return self.kind is ContextKind.ROOT

    # -- Header maps (Envoy Context::getMap / getConstMap) --------------------

    def mutable_map(self, map_type: MapType) -> HeaderMap | None:
        http = self.http
        if http is None:
            return None
        if map_type is MapType.HTTP_REQUEST_HEADERS:
            return http.request_headers
        if map_type is MapType.HTTP_REQUEST_TRAILERS:
            return http.request_trailers
        if map_type is MapType.HTTP_RESPONSE_HEADERS:
            return http.response_headers
        if map_type is MapType.HTTP_RESPONSE_TRAILERS:
            return http.response_trailers
        return None

    def readable_map(self, map_type: MapType) -> HeaderMap | None:
        """What the read functions see: callout and gRPC maps on the root during their
        callback, stream maps while visible, and the final maps in the access-log phase."""
        root_map = _ROOT_MAPS.get(map_type)
        if root_map is not None:
            return root_map(self.root)
        visible = self.mutable_map(map_type)
        if visible is not None or not self.in_log_phase or self.stream is None:
            return visible
        logged = _LOGGED_MAPS.get(map_type)
        return logged(self.stream) if logged is not None else None

    @property
    def in_log_phase(self) -> bool:
        return self.http is not None and self.http.log_phase

    # -- Buffers (Envoy Context::getBuffer) ------------------------------------

    def buffer(self, buffer_type: BufferType) -> Buffer | None:
        """The buffer a module reads or writes; None (NOT_FOUND) for one that does not exist
        right now (plugin configuration outside on_configure, a callout body outside its
        callback). Stream buffers outside their callback read as empty."""
        special = _SPECIAL_BUFFERS.get(buffer_type)
        if special is not None:
            return special(self)
        return self._stream_buffer(buffer_type) or EMPTY_BUFFER

    def _stream_buffer(self, buffer_type: BufferType) -> BodyBuffer | None:
        if self.http is not None:
            if buffer_type is BufferType.HTTP_REQUEST_BODY:
                return self.http.request_body
            if buffer_type is BufferType.HTTP_RESPONSE_BODY:
                return self.http.response_body
        if self.tcp is not None:
            if buffer_type is BufferType.DOWNSTREAM_DATA:
                return self.tcp.downstream_data
            if buffer_type is BufferType.UPSTREAM_DATA:
                return self.tcp.upstream_data
        return None


def _vm_configuration(context: Context) -> Buffer | None:
    return FixedBuffer(context.vm.settings.vm_configuration)


def _plugin_configuration(context: Context) -> Buffer | None:
    configuration = context.root.plugin_configuration
    return None if configuration is None else FixedBuffer(configuration)


def _call_data(context: Context) -> Buffer | None:
    return FixedBuffer(context.call_data or b"")


def _http_call_body(context: Context) -> Buffer | None:
    answer = context.root.http_call_answer
    return None if answer is None else FixedBuffer(answer.body)


def _grpc_message(context: Context) -> Buffer | None:
    received = context.root.grpc_receive_buffer
    return EMPTY_BUFFER if received is None else FixedBuffer(received)


_SPECIAL_BUFFERS: dict[BufferType, Callable[[Context], Buffer | None]] = {
    BufferType.VM_CONFIGURATION: _vm_configuration,
    BufferType.PLUGIN_CONFIGURATION: _plugin_configuration,
    BufferType.CALL_DATA: _call_data,
    BufferType.HTTP_CALL_RESPONSE_BODY: _http_call_body,
    BufferType.GRPC_RECEIVE_BUFFER: _grpc_message,
}


def _http_call_headers(root: Context) -> HeaderMap | None:
    return root.http_call_answer.headers if root.http_call_answer is not None else None


def _http_call_trailers(root: Context) -> HeaderMap | None:
    return root.http_call_answer.trailers if root.http_call_answer is not None else None


_ROOT_MAPS: dict[MapType, Callable[[Context], HeaderMap | None]] = {
    MapType.HTTP_CALL_RESPONSE_HEADERS: _http_call_headers,
    MapType.HTTP_CALL_RESPONSE_TRAILERS: _http_call_trailers,
    MapType.GRPC_RECEIVE_INITIAL_METADATA: lambda root: root.grpc_initial_metadata,
    MapType.GRPC_RECEIVE_TRAILING_METADATA: lambda root: root.grpc_trailing_metadata,
}

_LOGGED_MAPS: dict[MapType, Callable[[StreamInfo], HeaderMap | None]] = {
    MapType.HTTP_REQUEST_HEADERS: lambda stream: stream.request_headers,
    MapType.HTTP_RESPONSE_HEADERS: lambda stream: stream.response_headers,
    MapType.HTTP_RESPONSE_TRAILERS: lambda stream: stream.response_trailers,
}
