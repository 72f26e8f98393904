"""The host's event loop on the virtual clock: posted work (queue notifications, deferred
callout answers) and timers (ticks, callout latencies and timeouts), run in time order.

Nothing runs by itself: the filter chain runs due events after each callback and while a
stream waits, and `Host.advance_time` runs everything due up to the new time.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.host.clock import NANOS_PER_MILLISECOND, VirtualClock

Action = Callable[[], None]


@dataclass(order=True)
class _Event:
    due_nanos: int
    sequence: int
    action: Action = field(compare=False)
    periodic: bool = field(compare=False, default=False)
    """Ticks: they never end, so they alone do not count as 'something to wait for'."""
    cancelled: bool = field(compare=False, default=False)


class EventHandle:
    __slots__ = ("_event",)

    def __init__(self, event: _Event) -> None:
        self._event = event

    def cancel(self) -> None:
        self._event.cancelled = True


class EventLoop:
    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self._heap: list[_Event] = []
        self._sequence = itertools.count()

    def post(self, action: Action) -> EventHandle:
        """Runs `action` at the current time, after the work already due."""
        return self.schedule_at(self.clock.monotonic_nanos, action)

    def schedule_ms(self, delay_ms: int, action: Action, *, periodic: bool = False) -> EventHandle:
        return self.schedule_at(
            self.clock.monotonic_nanos + delay_ms * NANOS_PER_MILLISECOND, action, periodic=periodic
        )

    def schedule_at(self, due_nanos: int, action: Action, *, periodic: bool = False) -> EventHandle:
        event = _Event(due_nanos, next(self._sequence), action, periodic)
        heapq.heappush(self._heap, event)
        return EventHandle(event)

    def _drop_cancelled(self) -> None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)

    def run_due(self) -> int:
        """Runs every event due now (including ones they post for now); answers how many ran."""
        ran = 0
        now = self.clock.monotonic_nanos
        while True:
            self._drop_cancelled()
            if not self._heap or self._heap[0].due_nanos > now:
                return ran
            event = heapq.heappop(self._heap)
            event.action()
            ran += 1

    def has_awaitable(self) -> bool:
        """Whether a non-periodic event (a callout answer, a timeout) is still to come."""
        return any(not event.cancelled and not event.periodic for event in self._heap)

    def run_next(self) -> bool:
        """Advances the clock to the next event and runs everything due then; False if none."""
        self._drop_cancelled()
        if not self._heap:
            return False
        due = self._heap[0].due_nanos
        if due > self.clock.monotonic_nanos:
            self.clock.advance_nanos(due - self.clock.monotonic_nanos)
        self.run_due()
        return True

    def run_until(self, target_nanos: int) -> None:
        """Runs events in time order up to `target_nanos`, then sets the clock there."""
        while True:
            self._drop_cancelled()
            if not self._heap or self._heap[0].due_nanos > target_nanos:
                break
            self.run_next()
        if target_nanos > self.clock.monotonic_nanos:
            self.clock.advance_nanos(target_nanos - self.clock.monotonic_nanos)
