"""Failure policies (fail closed / open / reload) on traps, deadlines and the memory
ceiling, and capability restrictions answered as Envoy's capability_restriction_config."""

from __future__ import annotations

from typing import Any

import pytest

from harness.host import FailureKind, FailurePolicy, FilterChain, LogLevel, PluginConfig
from harness.host.host import RUNTIME_STAT_PREFIX
from tests.harness.host_support import answers, called, exchange, make_host, probe_code, wasm_runtime, wat

__all__ = ["make_host", "probe_code", "wasm_runtime"]

FAILURES = {
    "trap": FailureKind.TRAP,
    "spin": FailureKind.DEADLINE,
    "oom": FailureKind.MEMORY_LIMIT,
}


def _plugin(make_host: Any, probe_code: bytes, policy: FailurePolicy) -> tuple[Any, Any, Any]:
    host = make_host()
    plugin = host.load_plugin(
        PluginConfig(
            name="probe",
            module=probe_code,
            failure_policy=policy,
            callback_deadline_ms=40,
            memory_limit_bytes=8 * 1024 * 1024,
        )
    )
    return host, plugin, FilterChain(host, [plugin])


@pytest.mark.parametrize("script", list(FAILURES))
def test_fail_closed_answers_503_now_and_for_later_streams(
    make_host: Any, probe_code: bytes, script: str
) -> None:
    host, plugin, chain = _plugin(make_host, probe_code, FailurePolicy.FAIL_CLOSED)
    outcome = chain.run(exchange({"request_headers": script}))
    assert outcome.request_to_upstream is None
    assert outcome.local_reply is not None
    assert (outcome.local_reply.status, outcome.local_reply.details, outcome.local_reply.grpc_status) == (
        503,
        "wasm_fail_stream",
        14,
    )
    assert outcome.response_to_client.headers == [(":status", "503")]
    [failure] = outcome.failures
    assert (failure.kind, failure.policy, failure.consequence) == (
        FAILURES[script],
        FailurePolicy.FAIL_CLOSED,
        "local_reply_503",
    )
    assert any("Function: proxy_on_request_headers failed" in record.message for record in host.logs)
    later = chain.run(exchange({"request_headers": "log 2 never"}))
    assert later.response_to_client.header(":status") == "503"
    assert plugin.failed()


@pytest.mark.parametrize("script", list(FAILURES))
def test_fail_open_skips_the_filter_from_then_on(make_host: Any, probe_code: bytes, script: str) -> None:
    _, _, chain = _plugin(make_host, probe_code, FailurePolicy.FAIL_OPEN)
    outcome = chain.run(exchange({"request_headers": script}))
    assert outcome.request_to_upstream is not None
    assert outcome.response_to_client.header(":status") == "200"
    assert [(failure.kind, failure.consequence) for failure in outcome.failures] == [
        (FAILURES[script], "filter_skipped")
    ]
    later = chain.run(exchange({"request_headers": "log 2 skipped"}))
    assert later.logs == [] and later.response_to_client.header(":status") == "200"


def test_fail_reload_gives_the_next_stream_a_new_vm(make_host: Any, probe_code: bytes) -> None:
    host, plugin, chain = _plugin(make_host, probe_code, FailurePolicy.FAIL_RELOAD)
    failed = chain.run(exchange({"request_headers": "trap"}))
    assert failed.response_to_client.header(":status") == "503"
    old_vm = plugin.instances[0].vm
    recovered = chain.run(exchange({"request_headers": "log 2 alive-again"}))
    assert recovered.response_to_client.header(":status") == "200"
    assert "alive-again" in [record.message for record in recovered.logs]
    assert plugin.instances[0].vm is not old_vm
    assert host.metrics[RUNTIME_STAT_PREFIX + "created"] == 2
    assert host.metrics[RUNTIME_STAT_PREFIX + "active"] == 1


def test_a_failure_in_a_tick_fails_the_streams_that_follow(make_host: Any, probe_code: bytes) -> None:
    host = make_host()
    plugin = host.load_plugin(
        PluginConfig(name="probe", module=probe_code, configuration=b"configure: tick 5\ntick: trap")
    )
    host.advance_time(5)
    [failure] = host.failures
    assert (failure.kind, failure.callback, failure.consequence) == (
        FailureKind.TRAP,
        "proxy_on_tick",
        "streams_fail_closed",
    )
    outcome = FilterChain(host, [plugin]).run(exchange())
    assert outcome.response_to_client.header(":status") == "503"


def test_the_deadline_interrupts_a_runaway_callback_promptly(make_host: Any, probe_code: bytes) -> None:
    _, _, chain = _plugin(make_host, probe_code, FailurePolicy.FAIL_OPEN)
    outcome = chain.run(exchange({"request_headers": "spin"}))
    # A deadline, not a hang: the callback was stopped within a few epochs of 40 ms.
    assert outcome.failures[0].kind is FailureKind.DEADLINE
    assert outcome.host_seconds < 5


def test_restricted_capabilities_answer_like_envoy(make_host: Any, probe_code: bytes) -> None:
    host = make_host()
    plugin = host.load_plugin(
        PluginConfig(
            name="probe",
            module=probe_code,
            allowed_capabilities=frozenset(
                {"proxy_log", "proxy_get_header_map_value", "proxy_on_request_headers"}
            ),
        )
    )
    outcome = FilterChain(host, [plugin]).run(
        exchange(
            {"request_headers": "hdr_get 0 :path; hdr_add 0 x y; shared_set k v 0; http_call a 1 - :path /"}
        )
    )
    assert answers(outcome.logs, "request_headers") == [
        "OK /items?id\\x3d7",
        "INTERNAL_FAILURE",
        "INTERNAL_FAILURE",
        "INTERNAL_FAILURE",
    ]
    denials = [
        record for record in outcome.logs if record.source == "host" and record.level is LogLevel.ERROR
    ]
    assert [record.message for record in denials] == [
        "Attempted call to restricted proxy-wasm capability: proxy_add_header_map_value",
        "Attempted call to restricted proxy-wasm capability: proxy_set_shared_data",
        "Attempted call to restricted proxy-wasm capability: proxy_http_call",
    ]
    assert outcome.request_to_upstream is not None
    assert ("x", "y") not in outcome.request_to_upstream.headers
    assert "request_headers 5 1" in called(outcome.logs)


def test_restricted_wasi_capability_answers_enotcapable(make_host: Any) -> None:
    module = wat("""(module
      (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "proxy_abi_version_0_2_1"))
      (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 1024))
      (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
        (i32.store (i32.const 64) (call $random (i32.const 128) (i32.const 8)))
        (i32.const 1))
    )""")
    host = make_host()
    plugin = host.load_plugin(
        PluginConfig(name="wasi", module=module, allowed_capabilities=frozenset({"fd_write"}))
    )
    assert plugin.instances[0].vm.memory.read_u32(64) == 76
    assert host.logs[-1].message == "Attempted call to restricted WASI capability: random_get"
