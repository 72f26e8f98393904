"""Shared data (CAS) and shared queues, across workers and partitioned by vm_id as in
proxy-wasm-cpp-host."""

from __future__ import annotations

from typing import Any

from harness.host import FilterChain, PluginConfig
from harness.host.shared_data import SharedData, SharedQueues
from harness.host.types import Status
from tests.harness.host_support import (
    answers,
    called,
    exchange,
    make_host,
    probe_code,
    probe_lines,
    wasm_runtime,
)

__all__ = ["make_host", "probe_code", "wasm_runtime"]


def test_cas_semantics() -> None:
    shared = SharedData()
    assert shared.get("vm", b"k") is None
    assert shared.set("vm", b"k", b"v1", cas=99) is Status.OK  # a new key ignores cas
    value, cas = shared.get("vm", b"k") or (b"", 0)
    assert (value, cas) == (b"v1", 1)  # CAS values start at 1
    assert shared.set("vm", b"k", b"v2", cas=cas + 5) is Status.CAS_MISMATCH
    assert shared.set("vm", b"k", b"v2", cas=cas) is Status.OK
    assert shared.set("vm", b"k", b"v3", cas=cas) is Status.CAS_MISMATCH  # stale after the write
    assert shared.set("vm", b"k", b"v3", cas=0) is Status.OK  # 0 writes unconditionally
    assert shared.get("other-vm", b"k") is None


def test_shared_data_across_workers_and_vm_ids(make_host: Any, probe_code: bytes) -> None:
    host = make_host(workers=2)
    first = host.load_plugin(PluginConfig(name="a", module=probe_code, vm_id="ueba"))
    stranger = host.load_plugin(PluginConfig(name="b", module=probe_code, vm_id="elsewhere"))
    chain = FilterChain(host, [first])
    chain.run(exchange({"request_headers": "shared_set baseline 10 0"}), worker=0)
    outcome = chain.run(
        exchange(
            {"request_headers": "shared_get baseline; shared_set baseline 11 last; shared_set baseline 12 1"}
        ),
        worker=1,
    )
    assert answers(outcome.logs, "request_headers") == ["OK 1 10", "OK", "CAS_MISMATCH"]
    assert host.shared_data("ueba", b"baseline") == (b"11", 2)
    other = FilterChain(host, [stranger]).run(exchange({"request_headers": "shared_get baseline"}))
    assert answers(other.logs, "request_headers") == ["NOT_FOUND"]


def test_queue_notifies_the_registering_root_on_its_worker(make_host: Any, probe_code: bytes) -> None:
    host = make_host(workers=2)
    configuration = b"configure: queue_register alerts\nqueue_ready: queue_dequeue last; queue_dequeue last"
    plugin = host.load_plugin(
        PluginConfig(name="collector", module=probe_code, vm_id="ueba", configuration=configuration)
    )
    tokens = {line.detail for line in probe_lines(host.logs) if line.command == "queue_register"}
    assert len(tokens) == 1  # both workers registered the same queue (vm_id, name)
    outcome = FilterChain(host, [plugin]).run(
        exchange(
            {
                "request_headers": (
                    "queue_resolve ueba alerts; queue_enqueue last burst; queue_resolve ueba nope"
                )
            }
        ),
        worker=0,
    )
    assert answers(outcome.logs, "request_headers") == [f"OK {tokens.pop()}", "OK", "NOT_FOUND"]
    # The notification went to the last registrant (worker 1's root), once the callback returned.
    ready = [record for record in host.logs if record.message.startswith("probe queue_ready")]
    assert called(ready) == ["queue_ready 1"]
    assert answers(ready, "queue_ready") == ["OK burst", "EMPTY"]
    assert plugin.instances[1].vm is not plugin.instances[0].vm


def test_queue_order_and_unknown_tokens() -> None:
    queues = SharedQueues()
    notified: list[int] = []
    token = queues.register("vm", b"q", notified.append)
    assert queues.resolve("vm", b"q") == token and queues.resolve("vm2", b"q") is None
    assert queues.enqueue(token, b"1") is Status.OK and queues.enqueue(token, b"2") is Status.OK
    assert notified == [token, token]
    assert [queues.dequeue(token), queues.dequeue(token), queues.dequeue(token)] == [
        (Status.OK, b"1"),
        (Status.OK, b"2"),
        (Status.EMPTY, b""),
    ]
    assert queues.enqueue(token + 100, b"x") is Status.NOT_FOUND
