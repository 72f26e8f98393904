"""Delivers meshveil-dlp's finding events for the demo.

The DLP filter puts one finding event per message into the proxy-Wasm shared queue
`meshveil.findings.v1` (filters/pipeline/report.zig); the filter that will drain it and
send batches with proxy_http_call is not built yet. Until it is, the demo plays that
part from outside the VMs, the way the sender is specified (docs/telemetry.md): it takes
the events off the queue (and off its shared depth counter), stamps each with an event id
unique to this sender and the plugin name, and posts them in batches to
`POST /v1/telemetry` with the node's own credential. It adds nothing else to an event.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from controlplane.demo.rest_client import RestClient
from harness.host import Host
from harness.host.types import Status

QUEUE = b"meshveil.findings.v1"
DEPTH_KEY = QUEUE + b"/depth"
BATCH_EVENTS = 32


@dataclass
class FindingsDrain:
    host: Host
    collector: RestClient
    """Authenticated with the node's telemetry credential."""
    node_id: str
    plugin: str
    vm_id: str = ""
    nonce: str = field(default_factory=lambda: secrets.token_hex(8))
    pending: list[dict[str, Any]] = field(default_factory=list)
    sent: int = 0
    sequence: int = 0
    batches: int = 0

    def take(self) -> int:
        """Moves every queued event into `pending`; answers how many it took."""
        queues = self.host.services.shared_queues
        token = queues.resolve(self.vm_id, QUEUE)
        if token is None:
            return 0
        taken = 0
        while True:
            status, item = queues.dequeue(token)
            if status is not Status.OK:
                break
            self.sequence += 1
            event = json.loads(item)
            event.update(event_id=f"{self.nonce}-{self.sequence:012x}", plugin=self.plugin)
            self.pending.append(event)
            taken += 1
        self._release_depth(taken)
        return taken

    def _release_depth(self, taken: int) -> None:
        """The producers count what is queued in shared data; the consumer subtracts."""
        if taken == 0:
            return
        shared = self.host.services.shared_data
        current = shared.get(self.vm_id, DEPTH_KEY)
        depth = int.from_bytes(current[0], "little") if current and len(current[0]) == 8 else 0
        shared.set(self.vm_id, DEPTH_KEY, max(0, depth - taken).to_bytes(8, "little"), 0)

    def flush(self) -> None:
        """Posts the pending events in batches; a batch the collector refuses raises."""
        while self.pending:
            events, self.pending = self.pending[:BATCH_EVENTS], self.pending[BATCH_EVENTS:]
            self.batches += 1
            batch_id = f"{self.nonce}-b{self.batches:012x}"
            body = {
                "schema": "meshveil.telemetry.v1",
                "batch_id": batch_id,
                "module": "meshveil-dlp",
                "plugin": self.plugin,
                "node": self.node_id,
                "dropped": 0,
                "events": events,
            }
            headers = {"x-meshveil-node": self.node_id, "idempotency-key": batch_id}
            self.collector.post("/v1/telemetry", body, expected=200, headers=headers)
            self.sent += len(events)
