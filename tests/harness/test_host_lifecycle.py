"""Plugin and VM lifecycle as Envoy runs it: start functions, vm_start / configure, one VM per
worker shared between plugins with the same vm key, stream contexts, shutdown, and the
module shapes the SDKs produce (reactor, command, malloc, ABI 0.1.0 arities)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.host import FilterChain, HostError, Phase, PluginConfig, PluginLoadError
from harness.host.host import RUNTIME_STAT_PREFIX
from tests.harness.host_support import called, exchange, make_host, probe_code, probe_lines, wasm_runtime, wat

__all__ = ["make_host", "probe_code", "wasm_runtime"]

CREATED = RUNTIME_STAT_PREFIX + "created"
BASE_EXPORTS = """
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
  (func $alloc (param $size i32) (result i32)
    (local $at i32)
    (local.set $at (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (local.get $at))
"""


def test_root_starts_with_vm_start_then_configure(make_host: Any, probe_code: bytes) -> None:
    host = make_host()
    host.load_plugin(
        PluginConfig(
            name="probe", module=probe_code, configuration=b"configure: log 2 ready", vm_configuration=b"v1"
        )
    )
    assert called(host.logs) == ["vm_start 2", "configure 22"]
    assert "ready" in [record.message for record in host.logs]


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"configuration": b"configure: fail"}, "proxy_on_configure returned false"),
        ({"vm_configuration": b"vm_start: fail"}, "proxy_on_vm_start returned false"),
        ({"configuration": b"configure: trap"}, "proxy_on_configure failed: wasm trap"),
    ],
)
def test_a_rejected_configuration_fails_the_load(
    make_host: Any, probe_code: bytes, settings: dict[str, bytes], reason: str
) -> None:
    host = make_host()
    with pytest.raises(PluginLoadError) as raised:
        host.load_plugin(PluginConfig(name="strict", module=probe_code, **settings))
    assert raised.value.plugin == "strict"
    assert reason in raised.value.reason
    assert host.plugins == []


ALLOCATE = '(func (export "proxy_on_memory_allocate") (param i32) (result i32) (call $alloc (local.get 0)))'
ABI_MARKER = '(func (export "proxy_abi_version_0_2_1"))'


def module(imports: str = "", body: str = ALLOCATE, *, marker: bool = True) -> bytes:
    exports = BASE_EXPORTS if marker else BASE_EXPORTS.replace(ABI_MARKER, "")
    return wat(f"(module {imports} {exports} {body})")


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (b"not wasm", "not a valid WebAssembly module"),
        (module(marker=False), "Missing or unknown Proxy-Wasm ABI version"),
        (module('(import "env" "proxy_bogus" (func))'), "missing import: env.proxy_bogus"),
        (
            module('(import "env" "proxy_log" (func (param i32) (result i32)))'),
            "import type mismatch: env.proxy_log",
        ),
        (module(body=""), "missing malloc function"),
        (
            module(
                body=ALLOCATE
                + '(func (export "proxy_on_request_headers") (param i32) (result i32) (i32.const 0))'
            ),
            "Bad function signature for: proxy_on_request_headers",
        ),
        (
            module('(import "env" "proxy_continue_request" (func (result i32)))'),
            "not provided to ABI 0.2.1 modules",
        ),
    ],
    ids=[
        "garbage",
        "no-abi-marker",
        "unknown-import",
        "import-type",
        "no-malloc",
        "bad-callback",
        "abi-0.1.0-name",
    ],
)
def test_modules_that_cannot_load(make_host: Any, code: bytes, reason: str) -> None:
    with pytest.raises(PluginLoadError) as raised:
        make_host().load_plugin(PluginConfig(name="broken", module=code))
    assert reason in str(raised.value)


def test_unreadable_module_path(make_host: Any, tmp_path: Path) -> None:
    with pytest.raises(PluginLoadError, match="cannot read module"):
        make_host().load_plugin(PluginConfig(name="gone", module=tmp_path / "missing.wasm"))


def test_one_vm_per_worker_shared_by_plugins_with_the_same_vm_key(make_host: Any, probe_code: bytes) -> None:
    host = make_host(workers=3)
    host.load_plugin(PluginConfig(name="a", module=probe_code, vm_id="shared"))
    host.load_plugin(PluginConfig(name="b", module=probe_code, vm_id="shared"))
    assert host.metrics[CREATED] == 3
    host.load_plugin(PluginConfig(name="c", module=probe_code, vm_id="other"))
    assert host.metrics[CREATED] == 6
    with pytest.raises(PluginLoadError, match="give this plugin its own vm_id"):
        host.load_plugin(
            PluginConfig(
                name="d", module=probe_code, vm_id="shared", allowed_capabilities=frozenset({"proxy_log"})
            )
        )
    with pytest.raises(PluginLoadError, match="already loaded"):
        host.load_plugin(PluginConfig(name="a", module=probe_code))


def test_each_worker_has_its_own_vm_and_contexts(make_host: Any, probe_code: bytes) -> None:
    host = make_host(workers=2)
    plugin = host.load_plugin(PluginConfig(name="probe", module=probe_code))
    chain = FilterChain(host, [plugin])
    ids = []
    for worker in (0, 1, 0):
        outcome = chain.run(exchange({"request_headers": "context_id"}), worker=worker)
        ids.append(next(line.detail for line in probe_lines(outcome.logs) if line.command == "context_id"))
    assert plugin.instances[0].vm is not plugin.instances[1].vm
    assert ids == ["2", "2", "3"]  # context ids count per VM; root is 1
    with pytest.raises(HostError, match="worker 2 does not exist"):
        chain.run(exchange(), worker=2)


def test_stream_callbacks_in_envoy_order(make_host: Any, probe_code: bytes) -> None:
    host = make_host()
    plugin = host.load_plugin(PluginConfig(name="probe", module=probe_code))
    outcome = FilterChain(host, [plugin]).run(
        exchange(method="POST", body=[b"ab", b"cd"], response_body=[b"xyz"], response_trailers=[("t", "1")])
    )
    assert called(outcome.logs) == [
        "request_headers 4 0",
        "request_body 2 0",
        "request_body 2 1",
        "response_headers 2 0",
        "response_body 3 0",
        "response_trailers 1",
        "log",
        "done",
    ]
    completion = outcome.observation("probe", Phase.COMPLETION)
    assert completion is not None
    # Envoy runs the access log before destroying the filter (envoy-wasm PR 641).
    assert [record.callback for record in completion.callbacks] == [
        "proxy_on_log",
        "proxy_on_done",
        "proxy_on_delete",
    ]


def test_unload_waits_for_proxy_done_when_on_done_says_not_yet(make_host: Any, probe_code: bytes) -> None:
    host = make_host()
    plugin = host.load_plugin(
        PluginConfig(
            name="probe", module=probe_code, configuration=b"configure: tick 10\nroot_done: fail\ntick: done"
        )
    )
    plugin.unload()
    assert plugin.instances[0].pending_done
    host.advance_time(10)
    assert [line.status for line in probe_lines(host.logs) if line.command == "done"] == ["OK"]
    host.run_pending()
    assert plugin.instances[0].root.destroyed
    host.advance_time(50)
    assert len([line for line in called(host.logs) if line == "tick"]) == 1


REACTOR = f"""(module
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $get_property (param i32 i32 i32 i32) (result i32)))
  {BASE_EXPORTS}
  (data (i32.const 16) "init")
  (data (i32.const 32) "main")
  (data (i32.const 48) "plugin_vm_id")
  (func (export "_initialize") (drop (call $log (i32.const 2) (i32.const 16) (i32.const 4))))
  (func (export "main") (param i32 i32) (result i32)
    (drop (call $log (i32.const 2) (i32.const 32) (i32.const 4)))
    __PROPERTY__
    (i32.const 0))
  (func (export "malloc") (param i32) (result i32) (call $alloc (local.get 0)))
)"""


def test_wasi_reactor_runs_initialize_then_main(make_host: Any) -> None:
    host = make_host()
    host.load_plugin(PluginConfig(name="reactor", module=wat(REACTOR.replace("__PROPERTY__", ""))))
    assert [record.message for record in host.logs] == ["init", "main"]


def test_start_functions_may_only_make_the_calls_cpp_host_allows(make_host: Any) -> None:
    module = REACTOR.replace(
        "__PROPERTY__",
        "(drop (call $get_property (i32.const 48) (i32.const 12) (i32.const 512) (i32.const 516)))",
    )
    with pytest.raises(
        PluginLoadError, match=r"restricted host function env\.proxy_get_property called during VM start"
    ):
        make_host().load_plugin(PluginConfig(name="reactor", module=wat(module)))


def test_wasi_command_runs_start_and_malloc_is_preferred(make_host: Any) -> None:
    module = f"""(module
      (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
      (import "env" "proxy_get_property" (func $get_property (param i32 i32 i32 i32) (result i32)))
      {BASE_EXPORTS}
      (global $mallocs (mut i32) (i32.const 0))
      (data (i32.const 16) "start")
      (data (i32.const 48) "plugin_vm_id")
      (func (export "_start") (drop (call $log (i32.const 2) (i32.const 16) (i32.const 5))))
      (func (export "malloc") (param i32) (result i32)
        (global.set $mallocs (i32.add (global.get $mallocs) (i32.const 1)))
        (call $alloc (local.get 0)))
      (func (export "proxy_on_memory_allocate") (param i32) (result i32) (unreachable))
      (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
        (i32.eqz (call $get_property (i32.const 48) (i32.const 12) (i32.const 512) (i32.const 516))))
      (func (export "mallocs") (result i32) (global.get $mallocs))
    )"""
    host = make_host()
    plugin = host.load_plugin(PluginConfig(name="command", module=wat(module), vm_id="vm-1"))
    assert [record.message for record in host.logs] == ["start"]
    vm = plugin.instances[0].vm
    address = vm.memory.read_u32(512)
    assert address is not None
    assert vm.memory.read(address, 4) == b"vm-1"  # allocated by malloc, not the trapping alias


ABI_01 = f"""(module
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_configuration" (func $configuration (param i32 i32) (result i32)))
  (import "env" "proxy_continue_request" (func $continue (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  {BASE_EXPORTS.replace("proxy_abi_version_0_2_1", "proxy_abi_version_0_1_0")}
  (data (i32.const 16) "x-missing")
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) (call $alloc (local.get 0)))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $configuration (i32.const 600) (i32.const 604)))
    (drop (call $log (i32.const 2) (i32.load (i32.const 600)) (i32.load (i32.const 604))))
    (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32) (result i32)
    (i32.store (i32.const 700)
      (call $get (i32.const 0) (i32.const 16) (i32.const 9) (i32.const 608) (i32.const 612)))
    (i32.store (i32.const 704) (call $continue))
    (i32.const 1))
)"""


def test_abi_0_1_0_module_with_two_argument_header_callbacks(make_host: Any) -> None:
    host = make_host()
    plugin = host.load_plugin(PluginConfig(name="old", module=wat(ABI_01), configuration=b"legacy config"))
    assert [record.message for record in host.logs] == ["legacy config"]
    outcome = FilterChain(host, [plugin]).run(exchange())
    vm = plugin.instances[0].vm
    # A missing header is OK with an empty value for 0.1.0 modules.
    assert (vm.memory.read_u32(700), vm.memory.read_u32(612)) == (0, 0)
    assert vm.memory.read_u32(704) == 0
    # Pause, then proxy_continue_request resumed the stream: the upstream got it.
    assert outcome.request_to_upstream is not None
    request = outcome.observation("old", Phase.REQUEST)
    assert request is not None
    assert request.callbacks[0].end_of_stream is True
