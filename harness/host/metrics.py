"""Stats the modules define, kept the way Envoy keeps them.

Values live in one process-wide store by name (Envoy's stats scope: two VMs defining the same
counter share it); metric ids are per VM and encode the type in their low two bits, as in
Envoy's `Wasm::nextCounterMetricId` (counters 0, 4, 8, ...; gauges 1, 5, ...; histograms
2, 6, ...). Envoy stores custom metrics under the 'wasmcustom.' namespace and strips it when
it shows stats, so names here are the names modules define.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.host.types import MetricType, Status

METRIC_TYPE_MASK = 0x3
METRIC_ID_INCREMENT = 0x4
U64_MASK = 0xFFFFFFFFFFFFFFFF


@dataclass
class MetricsStore:
    counters: dict[str, int] = field(default_factory=dict)
    gauges: dict[str, int] = field(default_factory=dict)
    histograms: dict[str, list[int]] = field(default_factory=dict)

    def snapshot(self) -> dict[str, int]:
        """Counters and gauges by name (what the replay reports diff)."""
        values = dict(self.counters)
        values.update(self.gauges)
        return values

    def add_counter(self, name: str, delta: int) -> None:
        self.counters[name] = (self.counters.get(name, 0) + delta) & U64_MASK

    def add_gauge(self, name: str, delta: int) -> None:
        self.gauges[name] = (self.gauges.get(name, 0) + delta) & U64_MASK


class VmMetrics:
    """One VM's metric ids, resolving to names in the shared store."""

    def __init__(self, store: MetricsStore) -> None:
        self._store = store
        self._names: dict[int, tuple[MetricType, str]] = {}
        self._next_id = {
            MetricType.COUNTER: int(MetricType.COUNTER),
            MetricType.GAUGE: int(MetricType.GAUGE),
            MetricType.HISTOGRAM: int(MetricType.HISTOGRAM),
        }

    def define(self, metric_type: int, name: str) -> tuple[Status, int]:
        if metric_type > MetricType.HISTOGRAM:
            return Status.BAD_ARGUMENT, 0
        kind = MetricType(metric_type)
        metric_id = self._next_id[kind]
        self._next_id[kind] = metric_id + METRIC_ID_INCREMENT
        self._names[metric_id] = (kind, name)
        if kind is MetricType.COUNTER:
            self._store.counters.setdefault(name, 0)
        elif kind is MetricType.GAUGE:
            self._store.gauges.setdefault(name, 0)
        else:
            self._store.histograms.setdefault(name, [])
        return Status.OK, metric_id

    def _lookup(self, metric_id: int) -> tuple[MetricType, str] | None:
        return self._names.get(metric_id)

    def name_of(self, metric_id: int) -> str | None:
        entry = self._names.get(metric_id)
        return None if entry is None else entry[1]

    def current(self, metric_id: int) -> int | None:
        """The value of a counter or gauge (histograms have none)."""
        entry = self._names.get(metric_id)
        if entry is None:
            return None
        kind, name = entry
        if kind is MetricType.COUNTER:
            return self._store.counters.get(name, 0)
        if kind is MetricType.GAUGE:
            return self._store.gauges.get(name, 0)
        return None

    def increment(self, metric_id: int, offset: int) -> Status:
        kind = metric_id & METRIC_TYPE_MASK
        entry = self._lookup(metric_id)
        if kind == MetricType.COUNTER:
            if entry is None:
                return Status.NOT_FOUND
            # Envoy: a counter only goes up; zero or negative offsets are refused.
            if offset <= 0:
                return Status.BAD_ARGUMENT
            self._store.add_counter(entry[1], offset)
            return Status.OK
        if kind == MetricType.GAUGE:
            if entry is None:
                return Status.NOT_FOUND
            self._store.add_gauge(entry[1], offset)
            return Status.OK
        return Status.BAD_ARGUMENT

    def record(self, metric_id: int, value: int) -> Status:
        entry = self._lookup(metric_id)
        if entry is None:
            return Status.NOT_FOUND
        kind, name = entry
        if kind is MetricType.COUNTER:
            self._store.add_counter(name, value)
        elif kind is MetricType.GAUGE:
            self._store.gauges[name] = value & U64_MASK
        else:
            self._store.histograms[name].append(value)
        return Status.OK

    def get(self, metric_id: int) -> tuple[Status, int]:
        kind = metric_id & METRIC_TYPE_MASK
        entry = self._lookup(metric_id)
        if kind == MetricType.COUNTER:
            return (Status.OK, self._store.counters[entry[1]]) if entry else (Status.NOT_FOUND, 0)
        if kind == MetricType.GAUGE:
            return (Status.OK, self._store.gauges[entry[1]]) if entry else (Status.NOT_FOUND, 0)
        return Status.BAD_ARGUMENT, 0
