"""One recorded HTTP (or gRPC) exchange, as the harness replays it through a filter chain.

Headers are ordered (name, value) pairs with lowercase names and Envoy's pseudo-headers
(`:method`, `:path`, `:authority`, `:scheme` on requests, `:status` on responses), so the
filters see exactly what Envoy would hand them. Bodies are lists of chunks so that a
replay can reproduce how the bytes arrived (a value split across chunks must still be
caught); an empty list means no body.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Headers = list[tuple[str, str]]


@dataclass
class HttpMessage:
    headers: Headers
    body_chunks: list[bytes] = field(default_factory=list)
    trailers: Headers = field(default_factory=list)

    @property
    def body(self) -> bytes:
        return b"".join(self.body_chunks)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((value for key, value in self.headers if key == lowered), None)


@dataclass
class HttpExchange:
    """A request and the response the upstream gave to it."""

    request: HttpMessage
    response: HttpMessage
    exchange_id: str
    """Stable id from the source (HAR entry index, JSONL line number, capture id)."""
    source: str = ""
    """Where it came from, for error messages and reports: 'file.har#entry 3'."""
    connection: dict[str, str] = field(default_factory=dict)
    """Connection facts the host answers as properties: source.address, source.principal,
    destination.address, connection.tls_version …"""
    protocol: str = "HTTP/1.1"
    """What Envoy reports as `request.protocol`: "HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/3"."""
    notes: list[str] = field(default_factory=list)
    """What the reader had to change or assume to replay this exchange faithfully (a
    content coding it could not re-apply, a body the capture did not record …)."""
    started_at: float | None = None
    """When the request was sent, in seconds since the Unix epoch, if the capture says;
    a replay can move the host's virtual clock along (rates, time of day, ticks)."""
