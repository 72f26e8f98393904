"""Prometheus metrics, collected when scraped from the running service's state."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from controlplane.api.context import ServiceContext


class _ServiceCollector(Collector):
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        hub = self._context.hub
        counters = self._context.recorder.counters
        snapshot = hub.snapshot
        yield GaugeMetricFamily(
            "meshveil_xds_streams", "open ECDS/ADS streams on this replica", value=hub.stream_count
        )
        yield GaugeMetricFamily(
            "meshveil_config_generation",
            "config generation of the served snapshot",
            value=snapshot.generation,
        )
        yield GaugeMetricFamily(
            "meshveil_snapshot_problems",
            "policies that cannot be served as written",
            value=len(snapshot.problems),
        )
        yield GaugeMetricFamily(
            "meshveil_served_policies", "live policies in the served snapshot", value=len(snapshot.policies)
        )
        yield CounterMetricFamily(
            "meshveil_snapshot_refreshes", "snapshots built by this replica", value=hub.refreshes
        )
        yield CounterMetricFamily(
            "meshveil_xds_responses", "xDS responses sent, per resource", value=counters.served
        )
        yield CounterMetricFamily("meshveil_xds_acks", "ACKs received, per resource", value=counters.acks)
        yield CounterMetricFamily("meshveil_xds_nacks", "NACKs received, per resource", value=counters.nacks)


def render_metrics(context: ServiceContext) -> bytes:
    # A registry per scrape: no process-global metric state.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ServiceCollector(context))
    return generate_latest(registry)
