"""A harness upstream that is the real collector: each `proxy_http_call` a filter makes to
its telemetry cluster is sent on, headers and body as they are, to a control plane's
`POST /v1/telemetry` over HTTP, and the collector's answer goes back to the filter.

A sidecar meets the collector this way in a mesh; the demo and the end-to-end tests use
it so the filters' real batches meet the real ingest (authentication, idempotency).
`outage` lets a test take the collector down (503 without forwarding), or lose answers
after the collector stored the batch (the call hangs until it times out).
"""

from __future__ import annotations

import http.client
from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import urlsplit

from harness.host import CalloutFailure, CalloutRequest, FakeUpstream, HttpReply

FORWARDED_HEADERS = frozenset(
    {"content-type", "authorization", "x-meshveil-node", "idempotency-key", "x-meshveil-attempt"}
)
TIMEOUT_SECONDS = 30.0


class Outage(Enum):
    NONE = "none"
    DOWN = "down"
    """The collector answers 503 and stores nothing."""
    ANSWER_LOST = "answer_lost"
    """The collector stores the batch, but its answer never reaches the filter."""


@dataclass
class CollectorBridge:
    base_url: str
    outage: Outage = Outage.NONE
    statuses: list[int] = field(default_factory=list)
    """The collector's status for every batch forwarded, in order."""

    def upstream(self) -> FakeUpstream:
        return FakeUpstream(reply=self.answer)

    def answer(self, request: CalloutRequest) -> HttpReply | CalloutFailure:
        if self.outage is Outage.DOWN:
            return HttpReply(status=503, body=b"collector down (test outage)")
        status, body = self._forward(request)
        self.statuses.append(status)
        if self.outage is Outage.ANSWER_LOST:
            return CalloutFailure.HANG
        return HttpReply(status=status, headers=[("content-type", "application/json")], body=body)

    def _forward(self, request: CalloutRequest) -> tuple[int, bytes]:
        headers = dict(request.headers)
        target = urlsplit(self.base_url)
        connection = http.client.HTTPConnection(
            target.hostname or "127.0.0.1", target.port, timeout=TIMEOUT_SECONDS
        )
        try:
            connection.request(
                headers.get(":method", "POST"),
                headers.get(":path", "/v1/telemetry"),
                body=request.body,
                headers={name: value for name, value in headers.items() if name in FORWARDED_HEADERS},
            )
            response = connection.getresponse()
            return response.status, response.read()
        except OSError:
            return 503, b"collector unreachable"
        finally:
            connection.close()
