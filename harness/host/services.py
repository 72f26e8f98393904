"""What the VMs of one host share: clock, event loop, shared data and queues, metrics,
callouts, tick timers, the random source, and the recorder that files logs, metric changes,
callouts and failures under the filter observation in progress.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.host.clock import VirtualClock
from harness.host.config import HostConfig
from harness.host.context import Context
from harness.host.events import EventHandle, EventLoop
from harness.host.metrics import MetricsStore
from harness.host.outcome import CalloutRecord, FailureRecord, FilterObservation, LogRecord
from harness.host.shared_data import SharedData, SharedQueues
from harness.host.types import LogLevel

if TYPE_CHECKING:
    from harness.host.callouts import CalloutEngine
    from harness.host.vm import VmFailedError

FailureHandler = Callable[[Context, "VmFailedError"], None]


def _observation(context: Context) -> FilterObservation | None:
    plugin = context.plugin
    return plugin.observation if plugin is not None else None


class Recorder:
    """Logs and events of the modules, host-wide and per filter observation."""

    def __init__(self, config: HostConfig) -> None:
        self._config = config
        self.logs: deque[LogRecord] = deque(maxlen=config.log_history)
        self.failures: deque[FailureRecord] = deque(maxlen=config.log_history)

    def _source_name(self, context: Context) -> str:
        if context.plugin is not None:
            return context.plugin.config.name
        return context.vm.label

    def log(self, context: Context, level: LogLevel, message: bytes, source: str) -> None:
        # Envoy's logger drops records below its level; the call still answers OK.
        if level < self._config.log_level:
            return
        record = LogRecord(level, message.decode("utf-8", "replace"), self._source_name(context), source)
        self.logs.append(record)
        observation = _observation(context)
        if observation is not None:
            observation.logs.append(record)

    def host_note(self, context: Context, message: str, level: LogLevel = LogLevel.TRACE) -> None:
        """Something the host itself logs about a module (Envoy's trace/error lines)."""
        self.log(context, level, message.encode(), "host")

    def metric(self, context: Context, name: str, delta: int) -> None:
        observation = _observation(context)
        if observation is not None:
            observation.metric_changes[name] = observation.metric_changes.get(name, 0) + delta

    def callout(self, context: Context, record: CalloutRecord) -> None:
        observation = _observation(context)
        if observation is not None:
            observation.callouts.append(record)

    def failure(self, context: Context, record: FailureRecord) -> None:
        self.failures.append(record)
        observation = _observation(context)
        if observation is not None:
            observation.failures.append(record)


@dataclass
class _Timer:
    period_ms: int
    handle: EventHandle


class TickTimers:
    """proxy_on_tick per root context: first tick one period after it is set, then every
    period after each tick (Envoy re-arms the timer once the tick handler returns)."""

    def __init__(self, services: HostServices) -> None:
        self._services = services
        self._timers: dict[int, _Timer] = {}

    def set_period(self, root: Context, period_ms: int) -> None:
        current = self._timers.pop(id(root), None)
        if current is not None:
            current.handle.cancel()
        if period_ms > 0:
            self._arm(root, period_ms)

    def _arm(self, root: Context, period_ms: int) -> None:
        handle = self._services.events.schedule_ms(period_ms, lambda: self._fire(root), periodic=True)
        self._timers[id(root)] = _Timer(period_ms, handle)

    def _fire(self, root: Context) -> None:
        timer = self._timers.get(id(root))
        if timer is None:
            return
        self._services.dispatch(root, "proxy_on_tick", root.id)
        again = self._timers.get(id(root))
        # The tick handler may have changed or cancelled the period itself.
        if again is timer and not root.vm.failed and not root.destroyed:
            self._arm(root, timer.period_ms)

    def cancel(self, root: Context) -> None:
        self.set_period(root, 0)


@dataclass
class HostServices:
    config: HostConfig
    clock: VirtualClock
    events: EventLoop
    metrics: MetricsStore
    recorder: Recorder
    shared_data: SharedData = field(default_factory=SharedData)
    shared_queues: SharedQueues = field(default_factory=SharedQueues)
    random: random.Random = field(default_factory=random.Random)
    on_failure: FailureHandler | None = None
    timers: TickTimers = field(init=False)
    callouts: CalloutEngine = field(init=False)

    def __post_init__(self) -> None:
        from harness.host.callouts import CalloutEngine  # noqa: PLC0415 - the engine needs these services

        self.random.seed(self.config.random_seed)
        self.timers = TickTimers(self)
        self.callouts = CalloutEngine(self)

    def dispatch(self, context: Context, callback: str, *args: int) -> int | None:
        """Runs a callback outside the filter chain's own calls (ticks, queues, callout
        answers); a failure is reported, never raised. None when it did not run."""
        from harness.host.vm import VmFailedError  # noqa: PLC0415 - vm imports this module

        vm = context.vm
        if vm.failed or context.destroyed or not vm.has(callback):
            return None
        vm.stop_next_iteration = False
        try:
            return vm.call_named(context, callback, *args)
        except VmFailedError as failure:
            if self.on_failure is not None:
                self.on_failure(context, failure)
            return None

    def post_queue_ready(self, root: Context, token: int) -> None:
        def deliver() -> None:
            self.dispatch(root, "proxy_on_queue_ready", root.id, token)

        self.events.post(deliver)
