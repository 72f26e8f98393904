"""Shared key-value data and shared queues, process-wide like proxy-wasm-cpp-host's
`SharedData` and `SharedQueue`: both are partitioned by vm_id, so only VMs with the same
vm_id see each other's keys and queue names.

CAS values start at 1 and grow with every write; a write with cas 0 is unconditional, a
write with a stale non-zero cas is CAS_MISMATCH (a write to a missing key ignores cas).
A queue delivers proxy_on_queue_ready to the root context that registered it last.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.host.types import Status

U32_MAX = 0xFFFFFFFF


@dataclass
class SharedData:
    _data: dict[tuple[str, bytes], tuple[bytes, int]] = field(default_factory=dict)
    _next_cas: int = 1

    def _take_cas(self) -> int:
        cas = self._next_cas
        self._next_cas = self._next_cas + 1 if self._next_cas < U32_MAX else 1
        return cas

    def get(self, vm_id: str, key: bytes) -> tuple[bytes, int] | None:
        return self._data.get((vm_id, key))

    def set(self, vm_id: str, key: bytes, value: bytes, cas: int) -> Status:
        current = self._data.get((vm_id, key))
        if current is not None and cas and cas != current[1]:
            return Status.CAS_MISMATCH
        self._data[(vm_id, key)] = (value, self._take_cas())
        return Status.OK


QueueListener = Callable[[int], None]
"""Called with the queue token when an item is enqueued: posts proxy_on_queue_ready."""


@dataclass
class _Queue:
    items: deque[bytes] = field(default_factory=deque)
    listener: QueueListener | None = None


@dataclass
class SharedQueues:
    _tokens: dict[tuple[str, bytes], int] = field(default_factory=dict)
    _queues: dict[int, _Queue] = field(default_factory=dict)
    _next_token: int = 1

    def register(self, vm_id: str, name: bytes, listener: QueueListener) -> int:
        token = self._tokens.get((vm_id, name))
        if token is None:
            token = self._next_token
            self._next_token += 1
            self._tokens[(vm_id, name)] = token
            self._queues[token] = _Queue()
        # Re-registering keeps queued items; the latest registrant is the one notified.
        self._queues[token].listener = listener
        return token

    def resolve(self, vm_id: str, name: bytes) -> int | None:
        return self._tokens.get((vm_id, name))

    def enqueue(self, token: int, value: bytes) -> Status:
        queue = self._queues.get(token)
        if queue is None:
            return Status.NOT_FOUND
        queue.items.append(value)
        if queue.listener is not None:
            queue.listener(token)
        return Status.OK

    def dequeue(self, token: int) -> tuple[Status, bytes]:
        queue = self._queues.get(token)
        if queue is None:
            return Status.NOT_FOUND, b""
        if not queue.items:
            return Status.EMPTY, b""
        return Status.OK, queue.items.popleft()
