"""Writes the derived telemetry credentials of newly served nodes, in batches, off the loop.

Serving a node its config must not wait for a database write (a thousand sidecars
connecting at once would queue behind one another), so nodes are noted as they are served
and written by one background task, many per transaction. Until its row is written a
node's first batch may be refused; the filters retry with backoff, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict

from sqlalchemy.exc import IntegrityError

from controlplane.storage import audit
from controlplane.storage.database import Database
from controlplane.telemetry.nodes import DERIVED_BY, Enrolment, enrol

LOG = logging.getLogger(__name__)
SEEN_MAX = 200_000
"""Node ids known to be written; beyond this the oldest are forgotten (and rewritten,
harmlessly, if seen again: the write ignores nodes that have a row)."""
PENDING_MAX = 100_000
"""Nodes waiting to be written at most. Node ids are the clients' to choose, and while the
database is down nothing drains; past this a node is not noted, and is noted again the
next time it is served its config (until then its batches are refused and retried)."""
BATCH_MAX = 1_000
RETRY_SECONDS = 1.0
_ECDS = audit.Actor(subject=DERIVED_BY, role="system")


class NodeEnroller:
    def __init__(self, database: Database, *, pending_max: int = PENDING_MAX) -> None:
        self._database = database
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, int], Enrolment] = {}
        self._pending_max = pending_max
        self._overflowing = False
        """Set while nodes are turned away, so the warning is logged once per episode."""
        self._seen: OrderedDict[tuple[str, int], None] = OrderedDict()
        """By (node id, credential epoch): a rotated credential is written again."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task = asyncio.create_task(self._run(), name="meshveil-node-enrolment")
        with self._lock:
            noted_before = bool(self._pending)
        if noted_before:
            self._mark_pending()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def note(self, enrolment: Enrolment) -> None:
        """Called for every credential served; writes only nodes not written yet."""
        key = (enrolment.node_id, enrolment.epoch)
        with self._lock:
            if key in self._seen or key in self._pending:
                return
            if len(self._pending) >= self._pending_max:
                if not self._overflowing:
                    self._overflowing = True
                    LOG.warning(
                        "%d nodes' telemetry credentials wait to be written; more are noted "
                        "again when next served",
                        len(self._pending),
                    )
                return
            self._pending[key] = enrolment
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._mark_pending)

    def _mark_pending(self) -> None:
        assert self._wake is not None and self._idle is not None
        self._idle.clear()
        self._wake.set()

    async def written(self) -> None:
        """Returns once every node noted so far has been written (tests, shutdown)."""
        if self._idle is None:
            return
        while True:
            with self._lock:
                waiting = bool(self._pending)
            if not waiting:
                return
            # A node noted on this loop has its wake-up still queued behind this call.
            if self._idle.is_set():
                self._mark_pending()
            await self._idle.wait()

    async def _run(self) -> None:
        assert self._wake is not None and self._idle is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            with self._lock:
                batch = list(self._pending.values())[:BATCH_MAX]
            try:
                refused = await asyncio.to_thread(self._write, batch)
            except Exception:
                # The database is unreachable: keep them pending and try again.
                LOG.exception("could not record %d nodes' telemetry credentials", len(batch))
                await asyncio.sleep(RETRY_SECONDS)
                self._wake.set()
                continue
            with self._lock:
                for item in batch:
                    key = (item.node_id, item.epoch)
                    self._pending.pop(key, None)
                    if item.node_id not in refused:
                        self._seen[key] = None
                while len(self._seen) > SEEN_MAX:
                    self._seen.popitem(last=False)
                more = bool(self._pending)
                if len(self._pending) < self._pending_max:
                    self._overflowing = False
            if more:
                self._wake.set()
            else:
                self._idle.set()

    def _write(self, batch: list[Enrolment]) -> frozenset[str]:
        """Writes the batch; returns the node ids that cannot be written (their tenant was
        deleted meanwhile), found one by one when the batch breaks a constraint. Other
        errors (the database is down) propagate, and the batch is retried."""
        try:
            self._write_rows(batch)
            return frozenset()
        except IntegrityError:
            pass
        refused = set()
        for item in batch:
            try:
                self._write_rows([item])
            except IntegrityError:
                refused.add(item.node_id)
                LOG.warning("could not record a telemetry credential for a node of tenant %s", item.tenant)
        return frozenset(refused)

    def _write_rows(self, batch: list[Enrolment]) -> None:
        with self._database.write() as session:
            for adopted in enrol(session, batch):
                audit.record(
                    session,
                    _ECDS,
                    "telemetry-node.adopt",
                    "telemetry-node",
                    adopted.node_id,
                    tenant=adopted.tenant,
                    detail={"replaced_credential_issued_by": adopted.replaced_by},
                )
