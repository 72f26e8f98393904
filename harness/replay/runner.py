"""Plays a capture through a chain of plugins, one Host with a VM per worker.

Exchanges are dealt round-robin over the workers, as Envoy spreads connections over its
worker threads; each worker's VMs keep their state (shared data, metrics, baselines)
from one exchange to the next, so behaviour analytics see the traffic as a sidecar would.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from harness.host import FilterChain, Host, HostConfig, PluginConfig, PluginLoadError, VirtualClock
from harness.host.clock import NANOS_PER_MILLISECOND
from harness.replay.results import ExchangeResult
from harness.replay.run import ReplayRun
from harness.traffic.capture import Capture
from harness.traffic.model import HttpExchange
from harness.traffic.rechunk import rechunk

ResultListener = Callable[[ExchangeResult], None]


class ReplayError(RuntimeError):
    """The replay could not start (a plugin did not load or configure)."""


@dataclass(frozen=True)
class ReplayOptions:
    workers: int = 1
    chunk_size: int | None = None
    """Re-cut every body into chunks of this many bytes; None keeps the capture's chunks."""
    recorded_time: bool = True
    """Move the host's virtual clock to each exchange's recorded start (when the capture
    has one), so rates, time of day and ticks play out as they did; False keeps the
    clock's fixed start and lets it move only when the host moves it."""
    keep_results: bool = True
    """Keep every result in the returned run (the JSON report needs them; a streamed
    human report does not, and a long replay then needs no memory per exchange)."""
    node_id: str = HostConfig.node_id
    node_metadata: dict[str, str] = field(default_factory=dict)
    """The Envoy node the filters see, e.g. a sidecar the control plane's configs target."""
    start_wall_nanos: int | None = None
    """Where the clock starts when it does not follow recorded time (e.g. now, so configs
    signed now are within their validity window)."""


def replay(
    capture: Capture,
    chain_configs: Sequence[PluginConfig],
    options: ReplayOptions,
    on_result: ResultListener | None = None,
) -> ReplayRun:
    clock = _start_clock(capture) if options.recorded_time else None
    if clock is None and options.start_wall_nanos is not None:
        clock = VirtualClock(wall_nanos=options.start_wall_nanos)
    host_config = HostConfig(
        workers=options.workers,
        clock=clock,
        node_id=options.node_id,
        node_metadata=dict(options.node_metadata),
    )
    with Host(host_config) as host:
        try:
            plugins = [host.load_plugin(config) for config in chain_configs]
        except PluginLoadError as error:
            raise ReplayError(str(error)) from error
        chain = FilterChain(host, plugins)
        run = ReplayRun(capture=capture, chain=list(chain_configs), workers=options.workers)
        started = time.perf_counter()
        for index, exchange in enumerate(capture.exchanges):
            worker = index % options.workers
            if clock is not None and exchange.started_at is not None:
                _advance_to(host, exchange.started_at)
            replayed = exchange if options.chunk_size is None else rechunk(exchange, options.chunk_size)
            result = _run_one(chain, replayed, worker)
            run.summary.add(result)
            if options.keep_results:
                run.results.append(result)
            if on_result is not None:
                on_result(result)
        run.summary.wall_seconds = time.perf_counter() - started
    return run


def _start_clock(capture: Capture) -> VirtualClock | None:
    first = next(
        (exchange.started_at for exchange in capture.exchanges if exchange.started_at is not None), None
    )
    return None if first is None else VirtualClock(wall_nanos=_milliseconds(first) * NANOS_PER_MILLISECOND)


def _advance_to(host: Host, started_at: float) -> None:
    """Forward to the recorded instant; an earlier one (captures are not always sorted)
    leaves the clock where it is, since time never runs backwards."""
    milliseconds = _milliseconds(started_at) - host.clock.wall_nanos // NANOS_PER_MILLISECOND
    if milliseconds > 0:
        host.advance_time(milliseconds)


def _milliseconds(seconds: float) -> int:
    # Milliseconds, the resolution captures record; float nanoseconds would round badly.
    return round(seconds * 1000)


def _run_one(chain: FilterChain, exchange: HttpExchange, worker: int) -> ExchangeResult:
    try:
        outcome = chain.run(exchange, worker=worker)
    except Exception as error:
        # One exchange the harness cannot play must not hide the others; the report names it.
        return ExchangeResult(exchange, worker, None, f"{type(error).__name__}: {error}")
    return ExchangeResult(exchange, worker, outcome)
