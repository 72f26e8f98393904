"""The Zig ABI layer's dispatch, registry and arena, driven by a bare wasmtime host.

These run below the harness on purpose: they pin down what filters/abi promises
(callbacks reach typed contexts, configuration bytes arrive, stream slots are bounded
and reused) independently of the harness's own Envoy emulation.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import pytest
import wasmtime

from controlplane.modules.build import BuiltModule

CONTINUE = 0
PLUGIN_CONFIGURATION = 7


@dataclass
class BareHost:
    """Answers proxy_log and proxy_get_buffer_bytes: all the pass-through module imports."""

    configuration: bytes = b""
    logs: list[tuple[int, str]] = field(default_factory=list)

    def instantiate(self, path: str) -> tuple[wasmtime.Store, wasmtime.Instance]:
        engine = wasmtime.Engine()
        module = wasmtime.Module.from_file(engine, path)
        store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        i32 = wasmtime.ValType.i32()
        linker.define_func(
            "env", "proxy_log", wasmtime.FuncType([i32, i32, i32], [i32]), self._log, access_caller=True
        )
        linker.define_func(
            "env",
            "proxy_get_buffer_bytes",
            wasmtime.FuncType([i32] * 5, [i32]),
            self._get_buffer_bytes,
            access_caller=True,
        )
        return store, linker.instantiate(store, module)

    def _log(self, caller: wasmtime.Caller, level: int, pointer: int, size: int) -> int:
        memory = caller["memory"]
        assert isinstance(memory, wasmtime.Memory)
        self.logs.append((level, bytes(memory.read(caller, pointer, pointer + size)).decode()))
        return 0

    def _get_buffer_bytes(
        self, caller: wasmtime.Caller, buffer: int, start: int, size: int, data_out: int, size_out: int
    ) -> int:
        if buffer != PLUGIN_CONFIGURATION:
            return 1  # NOT_FOUND
        chunk = self.configuration[start : start + size]
        allocate = caller["proxy_on_memory_allocate"]
        memory = caller["memory"]
        assert isinstance(allocate, wasmtime.Func) and isinstance(memory, wasmtime.Memory)
        pointer = allocate(caller, len(chunk))
        memory.write(caller, chunk, pointer)
        memory.write(caller, struct.pack("<I", pointer), data_out)
        memory.write(caller, struct.pack("<I", len(chunk)), size_out)
        return 0


def call(store: wasmtime.Store, instance: wasmtime.Instance, name: str, *args: int) -> object:
    function = instance.exports(store)[name]
    assert isinstance(function, wasmtime.Func)
    return function(store, *args)


@pytest.fixture
def plugin(built_modules: dict[str, BuiltModule]) -> str:
    """The ABI layer alone, in filters/testdata/pass_through.zig."""
    return str(built_modules["pass-through"].path)


def test_configuration_reaches_the_root_context(plugin: str) -> None:
    host = BareHost(configuration=b'{"policy": "strict"}')
    store, instance = host.instantiate(plugin)
    call(store, instance, "proxy_on_context_create", 1, 0)
    assert call(store, instance, "proxy_on_configure", 1, len(host.configuration)) == 1
    assert host.logs == [(2, "pass-through: configured (20 bytes)")]


def test_configure_for_an_unknown_root_fails(plugin: str) -> None:
    store, instance = BareHost().instantiate(plugin)
    assert call(store, instance, "proxy_on_configure", 99, 0) == 0


def test_stream_slots_are_reused_across_many_streams(plugin: str) -> None:
    host = BareHost()
    store, instance = host.instantiate(plugin)
    call(store, instance, "proxy_on_context_create", 1, 0)
    for context_id in range(2, 5002):
        call(store, instance, "proxy_on_context_create", context_id, 1)
        assert call(store, instance, "proxy_on_request_headers", context_id, 3, 1) == CONTINUE
        assert call(store, instance, "proxy_on_response_headers", context_id, 3, 1) == CONTINUE
        assert call(store, instance, "proxy_on_done", context_id) == 1
        call(store, instance, "proxy_on_log", context_id)
        call(store, instance, "proxy_on_delete", context_id)
    assert host.logs == []


def test_concurrent_streams_past_the_bound_are_reported_not_grown(plugin: str) -> None:
    host = BareHost()
    store, instance = host.instantiate(plugin)
    call(store, instance, "proxy_on_context_create", 1, 0)
    streams_max = 1024
    for context_id in range(2, 2 + streams_max + 1):
        call(store, instance, "proxy_on_context_create", context_id, 1)
    assert host.logs == [(4, f"meshveil: stream {2 + streams_max} not tracked: Full")]
    # The untracked stream still passes, and freeing one slot makes room again.
    assert call(store, instance, "proxy_on_request_headers", 2 + streams_max, 1, 1) == CONTINUE
    call(store, instance, "proxy_on_delete", 2)
    call(store, instance, "proxy_on_context_create", 5000, 1)
    assert len(host.logs) == 1


def test_stream_with_unknown_parent_is_reported(plugin: str) -> None:
    host = BareHost()
    store, instance = host.instantiate(plugin)
    call(store, instance, "proxy_on_context_create", 7, 3)
    assert host.logs == [(4, "meshveil: stream 7 has unknown parent 3")]


def test_root_slots_are_reused_across_config_updates(plugin: str) -> None:
    # Envoy creates a new root context in the same VM on every config update and
    # deletes the old one; a long-lived VM must not run out of root slots.
    host = BareHost(configuration=b"{}")
    store, instance = host.instantiate(plugin)
    for root_id in range(1, 41):
        call(store, instance, "proxy_on_context_create", root_id, 0)
        assert call(store, instance, "proxy_on_configure", root_id, 2) == 1
        assert call(store, instance, "proxy_on_done", root_id) == 1
        call(store, instance, "proxy_on_delete", root_id)
    assert host.logs == [(2, "pass-through: configured (2 bytes)")] * 40
