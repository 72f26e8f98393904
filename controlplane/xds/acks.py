"""Records what nodes were served and what they ACKed or NACKed, in batches.

Streams report events without waiting; a background task writes them every
`flush_interval` seconds in one transaction, so a thousand ACKs cost one commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from controlplane.storage import node_status
from controlplane.storage.database import Database
from controlplane.storage.node_status import NodeEvent

LOG = logging.getLogger(__name__)
FLUSH_THRESHOLD = 5_000


@dataclass
class AckCounters:
    served: int = 0
    acks: int = 0
    nacks: int = 0
    nack_errors: list[str] = field(default_factory=list)


class AckRecorder:
    def __init__(self, database: Database, replica_id: str, flush_interval: float = 0.25) -> None:
        self._database = database
        self._replica_id = replica_id
        self._flush_interval = flush_interval
        self._pending: list[NodeEvent] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.counters = AckCounters()

    def record(self, event: NodeEvent) -> None:
        if event.acked_version is not None:
            self.counters.acks += 1
        elif event.nacked_version is not None:
            self.counters.nacks += 1
        else:
            self.counters.served += 1
        self._pending.append(event)
        if len(self._pending) >= FLUSH_THRESHOLD:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="meshveil-ack-recorder")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.flush()

    async def flush(self) -> None:
        events, self._pending = self._pending, []
        if events:
            await asyncio.to_thread(self._write, events)

    def _write(self, events: list[NodeEvent]) -> None:
        with self._database.write() as session:
            node_status.apply_events(session, events, self._replica_id)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._flush_interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                # Status is advisory; a failed write must not take the streams down.
                LOG.exception("could not record node status")
