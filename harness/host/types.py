"""The integer enumerations of proxy-Wasm ABI 0.2.1 (`proxy-wasm/spec`, abi-versions/v0.2.1),
with the values proxy-wasm-cpp-host's `WasmResult`, `WasmBufferType`, `WasmHeaderMapType`
and friends give them.
"""

from __future__ import annotations

from enum import Enum, IntEnum


class Status(IntEnum):
    """`WasmResult` as the module sees it."""

    OK = 0
    NOT_FOUND = 1
    BAD_ARGUMENT = 2
    SERIALIZATION_FAILURE = 3
    PARSE_FAILURE = 4
    BAD_EXPRESSION = 5
    INVALID_MEMORY_ACCESS = 6
    EMPTY = 7
    CAS_MISMATCH = 8
    RESULT_MISMATCH = 9
    INTERNAL_FAILURE = 10
    BROKEN_CONNECTION = 11
    UNIMPLEMENTED = 12


class Action(IntEnum):
    """What a header, body or trailer callback answers, as the SDKs name it."""

    CONTINUE = 0
    PAUSE = 1


class FilterStatus(Enum):
    """What Envoy makes of a callback's answer (cpp-host's convertVmCallResultTo*Status)."""

    CONTINUE = "Continue"
    CONTINUE_AND_END_STREAM = "ContinueAndEndStream"
    STOP_ITERATION = "StopIteration"
    STOP_ALL_ITERATION_AND_BUFFER = "StopAllIterationAndBuffer"
    STOP_ALL_ITERATION_AND_WATERMARK = "StopAllIterationAndWatermark"
    STOP_ITERATION_AND_BUFFER = "StopIterationAndBuffer"
    STOP_ITERATION_AND_WATERMARK = "StopIterationAndWatermark"
    STOP_ITERATION_NO_BUFFER = "StopIterationNoBuffer"

    @property
    def continues(self) -> bool:
        return self in (FilterStatus.CONTINUE, FilterStatus.CONTINUE_AND_END_STREAM)

    @property
    def action(self) -> Action:
        return Action.CONTINUE if self.continues else Action.PAUSE

    # Members compare by identity; an identity hash is far cheaper than Enum.__hash__.
    __hash__ = object.__hash__


class LogLevel(IntEnum):
    TRACE = 0
    DEBUG = 1
    INFO = 2
    WARN = 3
    ERROR = 4
    CRITICAL = 5


class BufferType(IntEnum):
    HTTP_REQUEST_BODY = 0
    HTTP_RESPONSE_BODY = 1
    DOWNSTREAM_DATA = 2
    UPSTREAM_DATA = 3
    HTTP_CALL_RESPONSE_BODY = 4
    GRPC_RECEIVE_BUFFER = 5
    VM_CONFIGURATION = 6
    PLUGIN_CONFIGURATION = 7
    CALL_DATA = 8
    """Arguments of proxy_on_foreign_function."""


class MapType(IntEnum):
    HTTP_REQUEST_HEADERS = 0
    HTTP_REQUEST_TRAILERS = 1
    HTTP_RESPONSE_HEADERS = 2
    HTTP_RESPONSE_TRAILERS = 3
    GRPC_RECEIVE_INITIAL_METADATA = 4
    GRPC_RECEIVE_TRAILING_METADATA = 5
    HTTP_CALL_RESPONSE_HEADERS = 6
    HTTP_CALL_RESPONSE_TRAILERS = 7


class MetricType(IntEnum):
    COUNTER = 0
    GAUGE = 1
    HISTOGRAM = 2


class StreamType(IntEnum):
    HTTP_REQUEST = 0
    HTTP_RESPONSE = 1
    DOWNSTREAM = 2
    UPSTREAM = 3


class PeerType(IntEnum):
    UNKNOWN = 0
    LOCAL = 1
    REMOTE = 2
