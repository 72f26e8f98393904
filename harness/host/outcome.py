"""What a replayed exchange did, filter by filter: the record the replay reports print.

Everything here is plain data (dataclasses of bytes, strings and numbers) so reports can
diff, serialise and compare outcomes without touching the host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from harness.host.config import FailurePolicy
from harness.host.types import Action, FilterStatus, LogLevel
from harness.traffic.model import Headers, HttpMessage

HOST_SENDER = "host"
"""`LocalReply.sent_by` when the host itself answered (failure policy, buffer limit, stall)."""


class Phase(Enum):
    """Where in the stream a filter was when something happened."""

    REQUEST = "request"
    RESPONSE = "response"
    COMPLETION = "completion"
    """proxy_on_done / proxy_on_log / proxy_on_delete after the stream ended."""

    # Members compare by identity; an identity hash is far cheaper than Enum.__hash__.
    __hash__ = object.__hash__


class FailureKind(Enum):
    TRAP = "trap"
    """The module trapped (unreachable, out-of-bounds access, stack overflow, ...)."""
    DEADLINE = "deadline"
    """A callback ran past the plugin's callback_deadline_ms and was interrupted."""
    MEMORY_LIMIT = "memory_limit"
    """Linear memory growth past memory_limit_bytes made the module trap."""
    HOST_ERROR = "host_error"
    """The host itself failed while serving a call (a bug in the harness or the fake upstreams)."""
    STALLED = "stalled"
    """A filter paused the stream and nothing could resume it."""
    BUFFER_LIMIT = "buffer_limit"
    """A filter buffered more body than the connection buffer limit allows."""

    # Members compare by identity; an identity hash is far cheaper than Enum.__hash__.
    __hash__ = object.__hash__


@dataclass(frozen=True)
class LogRecord:
    level: LogLevel
    message: str
    plugin: str
    source: str = "proxy_log"
    """'proxy_log', 'stdout' / 'stderr' (WASI fd_write) or 'host' (the host's own notes)."""


@dataclass(frozen=True)
class CallbackRecord:
    """One call into the module and what it answered."""

    callback: str
    """Export name, e.g. 'proxy_on_request_headers'."""
    action: Action | None
    """Continue or Pause as the SDKs name it (after Envoy's conversion: any stop is Pause);
    None for callbacks without a filter status and for calls that trapped."""
    end_of_stream: bool | None = None
    size: int | None = None
    """Header count or body size the callback was told."""
    module_seconds: float = 0.0
    status: FilterStatus | None = None
    """Envoy's exact filter status, e.g. StopAllIterationAndWatermark for Pause on headers."""
    returned: int | None = None
    """The raw value the module returned (None when it does not export the callback)."""


@dataclass
class CalloutRecord:
    kind: str
    """'http', 'grpc' or 'grpc_stream'."""
    upstream: str
    call_id: int
    headers: Headers
    """Request headers (gRPC: initial metadata)."""
    body: bytes
    """Request body (gRPC: the serialised request message)."""
    timeout_ms: int
    service: str = ""
    method: str = ""
    result: str = "pending"
    """'response', 'timeout', 'reset', 'cancelled', 'closed' or 'pending'."""
    response_status: int | None = None
    """HTTP :status of the answer, or the gRPC status code."""


@dataclass(frozen=True)
class FailureRecord:
    kind: FailureKind
    callback: str
    message: str
    policy: FailurePolicy | None
    consequence: str
    """What the host did about it: 'local_reply_503', 'filter_skipped', 'vm_reloaded',
    'stream_reset', 'local_reply_408', 'local_reply_413', 'local_reply_500'."""


@dataclass(frozen=True)
class LocalReply:
    status: int
    body: bytes
    headers: Headers
    details: str
    grpc_status: int | None
    sent_by: str
    """Name of the plugin that called proxy_send_local_response, or HOST_SENDER."""


@dataclass
class FilterObservation:
    """What one filter saw and did in one phase of the stream."""

    filter: str
    phase: Phase
    headers_before: Headers | None = None
    headers_after: Headers | None = None
    body_before: bytes | None = None
    body_after: bytes | None = None
    trailers_before: Headers | None = None
    trailers_after: Headers | None = None
    callbacks: list[CallbackRecord] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    metric_changes: dict[str, int] = field(default_factory=dict)
    """Stat name -> change of its value during this phase (counters and gauges)."""
    callouts: list[CalloutRecord] = field(default_factory=list)
    failures: list[FailureRecord] = field(default_factory=list)
    module_seconds: float = 0.0

    @property
    def actions(self) -> list[Action]:
        return [record.action for record in self.callbacks if record.action is not None]

    @property
    def modified(self) -> bool:
        return (
            self.headers_before != self.headers_after
            or self.body_before != self.body_after
            or self.trailers_before != self.trailers_after
        )


@dataclass
class ExchangeOutcome:
    """One exchange played through a filter chain the way Envoy's HTTP filter manager would."""

    exchange_id: str
    request_to_upstream: HttpMessage | None
    """What the upstream would have received; None when a local reply ended the stream first."""
    response_to_client: HttpMessage
    local_reply: LocalReply | None
    filters: list[FilterObservation]
    module_seconds: dict[str, float]
    """Filter name -> seconds spent inside its Wasm callbacks for this exchange."""
    host_seconds: float
    """Wall-clock seconds of the whole exchange, host and modules together."""
    stream_reset: bool = False
    """The stream was reset (proxy_close_stream, or a reply impossible after headers were sent)."""

    def observations(self, filter_name: str) -> list[FilterObservation]:
        return [observation for observation in self.filters if observation.filter == filter_name]

    def observation(self, filter_name: str, phase: Phase) -> FilterObservation | None:
        return next(
            (item for item in self.filters if item.filter == filter_name and item.phase is phase), None
        )

    @property
    def failures(self) -> list[FailureRecord]:
        return [failure for observation in self.filters for failure in observation.failures]

    @property
    def logs(self) -> list[LogRecord]:
        return [record for observation in self.filters for record in observation.logs]


@dataclass
class TcpOutcome:
    """One TCP connection played through a chain of network filters."""

    connection_id: str
    upstream_received: bytes
    """Bytes the filters let through towards the upstream."""
    client_received: bytes
    """Bytes the filters let through back to the client."""
    closed_by_filter: str | None
    filters: list[FilterObservation]
    module_seconds: dict[str, float]
    host_seconds: float
