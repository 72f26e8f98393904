"""TCP (network filter) streams: new connection, downstream and upstream data with pause
and continue, closes, and Envoy's onCloseTCP order (done, log, delete)."""

from __future__ import annotations

from typing import Any

from harness.host import FailurePolicy, FilterChain, Phase, PluginConfig, TcpConversation
from harness.host.types import FilterStatus
from tests.harness.host_support import answers, called, make_host, probe_code, wasm_runtime

__all__ = ["make_host", "probe_code", "wasm_runtime"]


def _run(make_host: Any, probe_code: bytes, configuration: bytes, **settings: Any) -> tuple[Any, Any]:
    host = make_host()
    plugin = host.load_plugin(
        PluginConfig(name="net", module=probe_code, configuration=configuration, **settings)
    )
    conversation = TcpConversation(
        "c1", [b"HELO", b" mesh"], [b"250 OK"], {"source.address": "10.0.0.5:40000"}
    )
    return host, FilterChain(host, [plugin]).run_tcp(conversation)


def test_data_flows_and_a_paused_filter_sees_everything_it_holds(make_host: Any, probe_code: bytes) -> None:
    configuration = (
        b"new_connection: prop_get source address\n"
        b"downstream_data: buf_get 2 0 4294967295; pause\n"
        b"upstream_data: buf_set 3 0 0 >>"
    )
    host, outcome = _run(make_host, probe_code, configuration)
    assert called(host.logs)[2:] == [
        "new_connection",
        "downstream_data 4 0",
        "downstream_data 9 1",  # the held bytes plus the new ones
        "upstream_data 6 1",
        "upstream_close 0",
        "downstream_close 2",  # the client (remote peer) closed
    ]
    assert answers(host.logs, "downstream_data") == ["OK 4 HELO", "OK", "OK 9 HELO\\x20mesh", "OK"]
    assert answers(host.logs, "new_connection") == ["OK 14 10.0.0.5:40000"]
    assert outcome.upstream_received == b""  # still held when the connection ended
    assert outcome.client_received == b">>250 OK"
    completion = next(item for item in outcome.filters if item.phase is Phase.COMPLETION)
    assert [record.callback for record in completion.callbacks] == [
        "proxy_on_upstream_connection_close",
        "proxy_on_downstream_connection_close",
        "proxy_on_done",
        "proxy_on_log",
        "proxy_on_delete",
    ]
    request = next(item for item in outcome.filters if item.phase is Phase.REQUEST)
    assert [record.status for record in request.callbacks][1:] == [FilterStatus.STOP_ITERATION] * 2


def test_continue_releases_held_bytes(make_host: Any, probe_code: bytes) -> None:
    configuration = b"downstream_data: pause; continue 2"
    _, outcome = _run(make_host, probe_code, configuration)
    assert outcome.upstream_received == b"HELO mesh"
    assert outcome.closed_by_filter is None


def test_a_filter_can_close_the_connection(make_host: Any, probe_code: bytes) -> None:
    _, outcome = _run(make_host, probe_code, b"downstream_data: close 2")
    assert outcome.closed_by_filter == "net"
    assert outcome.upstream_received == b""
    assert outcome.client_received == b""


def test_fail_closed_closes_the_connection(make_host: Any, probe_code: bytes) -> None:
    _, outcome = _run(make_host, probe_code, b"upstream_data: trap", failure_policy=FailurePolicy.FAIL_CLOSED)
    assert outcome.upstream_received == b"HELO mesh"
    assert outcome.closed_by_filter == "net"
    [failure] = [failure for item in outcome.filters for failure in item.failures]
    assert failure.consequence == "connection_closed"
