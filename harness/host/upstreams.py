"""Fake upstream clusters that answer a module's proxy_http_call and proxy_grpc_call.

Latencies are virtual milliseconds on the host's clock, so a slow upstream, a timeout or a
reset is reproducible. The answers mimic what Envoy's async client hands back: a timeout
reaches the module as the router's 504 "upstream request timeout" reply, a connection
failure as its 503, and a reset as a call failure (status BROKEN_CONNECTION, message
"reset", zero headers) — see Envoy's `Context::onHttpCallFailure`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from harness.traffic.model import Headers


@dataclass(frozen=True)
class CalloutRequest:
    """What the module sent, as the upstream sees it."""

    kind: str
    """'http', 'grpc' (unary call) or 'grpc_stream'."""
    upstream: str
    headers: Headers
    body: bytes
    trailers: Headers
    timeout_ms: int
    service: str = ""
    method: str = ""
    messages: tuple[bytes, ...] = ()
    """gRPC streams: every message the module sent before it half-closed."""


@dataclass(frozen=True)
class HttpReply:
    status: int = 200
    headers: Headers = field(default_factory=list)
    """Response headers besides ':status' (which the host puts first)."""
    body: bytes = b""
    trailers: Headers = field(default_factory=list)
    latency_ms: int = 0


@dataclass(frozen=True)
class GrpcReply:
    messages: tuple[bytes, ...] = ()
    """Serialised response messages (a unary call uses the first)."""
    status: int = 0
    message: str = ""
    initial_metadata: Headers = field(default_factory=list)
    trailing_metadata: Headers = field(default_factory=list)
    latency_ms: int = 0


class CalloutFailure(Enum):
    RESET = "reset"
    """The stream is reset before a response: HTTP calls see BROKEN_CONNECTION / 'reset',
    gRPC calls close with INTERNAL."""
    CONNECTION_FAILURE = "connection_failure"
    """No connection to the cluster: Envoy's router answers 503 (gRPC: UNAVAILABLE)."""
    HANG = "hang"
    """Never answers: the call's timeout fires, or it stays pending when it has none."""


Answer = HttpReply | GrpcReply | CalloutFailure
Responder = Callable[[CalloutRequest], Answer]

TIMEOUT_STATUS = 504
TIMEOUT_BODY = b"upstream request timeout"
CONNECTION_FAILURE_STATUS = 503
CONNECTION_FAILURE_BODY = (
    b"upstream connect error or disconnect/reset before headers. reset reason: connection failure"
)


@dataclass
class FakeUpstream:
    """One cluster. `reply` is a fixed answer or a function of the request."""

    reply: Answer | Responder = field(default_factory=HttpReply)
    received: list[CalloutRequest] = field(default_factory=list)
    """Every request this upstream was sent, in order (tests assert on it)."""

    def answer(self, request: CalloutRequest) -> Answer:
        self.received.append(request)
        if isinstance(self.reply, HttpReply | GrpcReply | CalloutFailure):
            return self.reply
        return self.reply(request)
