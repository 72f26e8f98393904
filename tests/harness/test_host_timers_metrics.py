"""Virtual time and ticks, metrics with Envoy's ids and rules, and log levels."""

from __future__ import annotations

import struct
from typing import Any

from harness.host import FilterChain, LogLevel, Phase, PluginConfig
from harness.host.clock import DEFAULT_EPOCH_NANOS, VirtualClock
from tests.harness.host_support import (
    answers,
    called,
    exchange,
    make_host,
    only,
    probe_code,
    results,
    unescape,
    wasm_runtime,
)

__all__ = ["make_host", "probe_code", "wasm_runtime"]


def test_ticks_follow_the_virtual_clock(make_host: Any, probe_code: bytes) -> None:
    host = make_host(workers=2)
    host.load_plugin(
        PluginConfig(name="probe", module=probe_code, configuration=b"configure: tick 100\ntick: time")
    )
    host.advance_time(99)
    assert called(host.logs).count("tick") == 0
    host.advance_time(1)
    assert called(host.logs).count("tick") == 2  # one root per worker
    host.advance_time(250)
    assert called(host.logs).count("tick") == 6
    times = [int(line.detail) for line in _lines(host.logs, "tick", "time")]
    assert times[-1] == DEFAULT_EPOCH_NANOS + 300 * 1_000_000


def test_tick_period_can_change_and_stop(make_host: Any, probe_code: bytes) -> None:
    host = make_host()
    host.load_plugin(
        PluginConfig(name="probe", module=probe_code, configuration=b"configure: tick 10\ntick: tick 0")
    )
    host.advance_time(1000)
    assert called(host.logs).count("tick") == 1


def test_time_comes_from_the_host_clock(make_host: Any, probe_code: bytes) -> None:
    clock = VirtualClock(wall_nanos=1_700_000_000_000_000_000)
    host = make_host(clock=clock)
    plugin = host.load_plugin(PluginConfig(name="probe", module=probe_code))
    clock.advance_ms(5)
    outcome = FilterChain(host, [plugin]).run(exchange({"request_headers": "time; prop_get request time"}))
    time_line, property_line = answers(outcome.logs, "request_headers")
    assert time_line == "OK 1700000000005000000"
    assert struct.unpack("<q", _unescape_value(property_line)) == (1_700_000_000_005_000_000,)


def test_metrics_follow_envoy(make_host: Any, probe_code: bytes) -> None:
    host = make_host()
    plugin = host.load_plugin(PluginConfig(name="probe", module=probe_code))
    script = (
        "metric_define 0 dlp.findings; metric_inc last 3; metric_inc last 0; metric_inc last -1; "
        "metric_get last; "
        "metric_record last 2; metric_get last; "
        "metric_define 1 ueba.active; metric_inc last -4; metric_record last 7; metric_get last; "
        "metric_define 2 dlp.scan_us; metric_record last 120; metric_get last; metric_inc last 1; "
        "metric_define 9 x"
    )
    outcome = FilterChain(host, [plugin]).run(exchange({"request_headers": script}))
    assert answers(outcome.logs, "request_headers") == [
        "OK 0",  # first counter id is 0: ids carry their type in the low bits
        "OK",
        "BAD_ARGUMENT",  # counters only go up
        "BAD_ARGUMENT",
        "OK 3",
        "OK",  # recording into a counter adds
        "OK 5",
        "OK 1",  # first gauge id
        "OK",
        "OK",
        "OK 7",
        "OK 2",  # first histogram id
        "OK",
        "BAD_ARGUMENT",  # histograms cannot be read
        "BAD_ARGUMENT",  # nor incremented
        "BAD_SCRIPT",  # the probe refuses an unknown type before the host sees it
    ]
    assert host.metrics["dlp.findings"] == 5
    assert host.metrics["ueba.active"] == 7
    assert host.histograms["dlp.scan_us"] == [120]
    request = outcome.observation("probe", Phase.REQUEST)
    assert request is not None
    assert request.metric_changes == {"dlp.findings": 5, "ueba.active": 7}


def test_metrics_are_shared_by_name_across_vms(make_host: Any, probe_code: bytes) -> None:
    host = make_host(workers=2)
    plugin = host.load_plugin(PluginConfig(name="probe", module=probe_code))
    chain = FilterChain(host, [plugin])
    for worker in (0, 1):
        chain.run(exchange({"request_headers": "metric_define 0 requests; metric_inc last 1"}), worker=worker)
    assert host.metrics["requests"] == 2


def test_log_level_filters_records_and_is_reported(make_host: Any, probe_code: bytes) -> None:
    host = make_host(log_level=LogLevel.WARN)
    plugin = host.load_plugin(PluginConfig(name="probe", module=probe_code))
    outcome = FilterChain(host, [plugin]).run(
        exchange({"request_headers": "log 1 debug-line; log 4 error-line; log_level"})
    )
    messages = [record.message for record in host.logs]
    assert "error-line" in messages and "debug-line" not in messages
    # The probe's own info-level result lines are dropped too; the log level answer is WARN.
    assert outcome.logs == [record for record in host.logs if record.message == "error-line"]
    host_debug = make_host(log_level=LogLevel.TRACE)
    probe = host_debug.load_plugin(PluginConfig(name="probe", module=probe_code))
    traced = FilterChain(host_debug, [probe]).run(exchange({"request_headers": "log_level"}))
    assert only(traced.logs, "request_headers", "log_level").detail == "0"


def _lines(records: Any, phase: str, command: str) -> list[Any]:
    return [line for line in results(records, phase) if line.command == command]


def _unescape_value(answer: str) -> bytes:
    return unescape(answer.split(" ", 2)[2])
