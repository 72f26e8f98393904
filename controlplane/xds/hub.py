"""The current snapshot of one replica, and the streams waiting for it to change.

A replica refreshes when it made a change itself (`publish`, before the change is
answered), when the shared database's config generation moved (another replica made a
change; checked every `poll_interval` seconds, which bounds how late this replica's
streams hear of it), and when a new signing epoch begins (configs are re-signed before
they expire).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from controlplane.storage import generation
from controlplane.storage.database import Database
from controlplane.xds.snapshot import EMPTY_SNAPSHOT, Snapshot, SnapshotBuilder, changed_tenants

LOG = logging.getLogger(__name__)

Listener = Callable[[frozenset[str] | None], None]
"""Called with the tenants whose served resources changed (None: any may have)."""
FAN_OUT_SLICE = 64
PUBLISH_TIMEOUT = 30.0
PUBLISH_DELAY = 0.02


class ConfigHub:
    def __init__(self, builder: SnapshotBuilder, database: Database, poll_interval: float) -> None:
        self._builder = builder
        self._database = database
        self._poll_interval = poll_interval
        self._snapshot = EMPTY_SNAPSHOT
        self._listeners: dict[Listener, str | None] = {}
        """Listener -> the namespace of its node (None until the node has said)."""
        self._by_namespace: dict[str | None, set[Listener]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._refresh_lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self._pending = 0
        self._settled = asyncio.Event()
        self._settled.set()
        self.refreshes = 0

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def subscribe(self, listener: Listener, namespace: str | None = None) -> None:
        """`namespace`: where the listener's node runs, once known (`locate`). A change to
        some tenants then wakes only the listeners in those tenants' namespaces (and those
        not located yet), not every stream of the replica."""
        self.unsubscribe(listener)
        self._listeners[listener] = namespace
        self._by_namespace.setdefault(namespace, set()).add(listener)

    def locate(self, listener: Listener, namespace: str | None) -> None:
        if listener in self._listeners and self._listeners[listener] != namespace:
            self.subscribe(listener, namespace)

    def unsubscribe(self, listener: Listener) -> None:
        if listener not in self._listeners:
            return
        namespace = self._listeners.pop(listener)
        group = self._by_namespace[namespace]
        group.discard(listener)
        if not group:
            del self._by_namespace[namespace]

    @property
    def stream_count(self) -> int:
        return len(self._listeners)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.refresh()
        self._task = asyncio.create_task(self._run(), name="meshveil-config-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def publish(self) -> None:
        """Starts a rebuild after a committed change, without waiting for it. Called from the
        thread that committed (REST handlers run in a thread pool) before it answers: the
        rebuild is registered on the loop first, and every request that reads the snapshot
        (`settled`, `wait_settled`) waits for it, so a client that got its answer and then
        asks is served what it wrote, while the answer itself does not wait for signing."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._request_refresh()
            return
        # Queued, not awaited (a blocking round trip to the loop cost an apply milliseconds
        # under load). Still registered before the answer: the loop runs queued callbacks in
        # order, and a worker thread's result reaches its handler through a callback queued
        # after this one (asyncio.to_thread, anyio's thread pool); so does a later
        # `wait_settled` from this thread.
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing to tell
            loop.call_soon_threadsafe(self._request_refresh)

    def _request_refresh(self) -> None:
        self._pending += 1
        self._settled.clear()
        task = asyncio.create_task(self._requested_refresh(), name="meshveil-publish")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _requested_refresh(self) -> None:
        try:
            # A moment's delay lets the change's own answer leave before the rebuild
            # (compiling and signing) competes with it for the interpreter, and folds a
            # burst of changes into one rebuild. Readers wait for it (`settled`) meanwhile.
            await asyncio.sleep(PUBLISH_DELAY)
            await self.refresh()
        except Exception:
            # The change is committed either way; the next poll publishes it.
            LOG.exception("could not publish the config snapshot after a change")
        finally:
            self._pending -= 1
            if self._pending == 0:
                self._settled.set()

    async def settled(self) -> None:
        """Returns once every change published so far is in the snapshot."""
        await self._settled.wait()

    def wait_settled(self, timeout: float = PUBLISH_TIMEOUT) -> None:
        """`settled` for code running in a worker thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self.settled(), loop).result(timeout)

    async def refresh(self) -> bool:
        """Rebuilds if anything changed; True when a new snapshot was published."""
        async with self._refresh_lock:
            current = await asyncio.to_thread(self._current_generation)
            if current == self._snapshot.generation and self._builder.epoch() == self._snapshot.epoch:
                return False
            snapshot = await asyncio.to_thread(self._builder.build)
            previous, self._snapshot = self._snapshot, snapshot
            self.refreshes += 1
            for problem in snapshot.problems:
                if problem not in previous.problems:
                    LOG.warning("snapshot %d: %s", snapshot.generation, problem)
        # Streams are told on a task of their own, so whoever published (a REST handler
        # waiting to answer) is not queued behind a thousand stream wake-ups.
        targets = self._listeners_for(changed_tenants(previous, snapshot), snapshot)
        task = asyncio.create_task(self._fan_out(targets))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return True

    def _listeners_for(
        self, tenants: frozenset[str] | None, snapshot: Snapshot
    ) -> list[tuple[Listener, frozenset[str] | None]]:
        if tenants is None:
            return [(listener, None) for listener in self._listeners]
        # Namespaces map to tenants the same way before and after (`changed_tenants` says
        # None otherwise), so the new snapshot's map finds every affected node.
        namespaces = [
            namespace for namespace, tenant in snapshot.tenant_of_namespace.items() if tenant in tenants
        ]
        chosen = [*self._by_namespace.get(None, ())]
        for namespace in namespaces:
            chosen.extend(self._by_namespace.get(namespace, ()))
        return [(listener, tenants) for listener in chosen]

    async def _fan_out(self, targets: list[tuple[Listener, frozenset[str] | None]]) -> None:
        for index, (listener, tenants) in enumerate(targets):
            if listener not in self._listeners:
                continue  # its stream ended meanwhile
            listener(tenants)
            if index % FAN_OUT_SLICE == FAN_OUT_SLICE - 1:
                await asyncio.sleep(0)  # let other work (REST answers) in between slices

    def _current_generation(self) -> int:
        with self._database.read() as session:
            return generation.current(session)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._poll_interval)
            try:
                await self.refresh()
            except Exception:
                # Keep serving the last good snapshot; the next poll tries again.
                LOG.exception("could not refresh the config snapshot")
