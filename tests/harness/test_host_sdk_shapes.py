"""Module shapes the proxy-Wasm SDKs produce load and run as they do in Envoy: Go wasip1
(c-shared reactor), TinyGo and Rust wasip1 (WASI command, _start), Rust
wasm32-unknown-unknown (no WASI at all), emscripten C++ (_start, malloc, emscripten
imports), AssemblyScript (start section, proxy_on_memory_allocate only)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.host import FilterChain, PluginConfig, PluginLoadError
from tests.harness.host_support import exchange, make_host, wasm_runtime, wat

__all__ = ["make_host", "wasm_runtime"]

HEADER_FILTER = """
  (data (i32.const 16) "x-sdk")
  (data (i32.const 32) "__NAME__")
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (drop (call $add_header (i32.const 0) (i32.const 16) (i32.const 5) (i32.const 32) (i32.const __LENGTH__)))
    (i32.const 0))
"""
ADD_HEADER = (
    '(import "env" "proxy_add_header_map_value" (func $add_header (param i32 i32 i32 i32 i32) (result i32)))'
)
BUMP = """
  (global $heap (mut i32) (i32.const 4096))
  (func $bump (param $size i32) (result i32)
    (local $at i32)
    (local.set $at (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (i32.add (local.get $size) (i32.const 8))))
    (local.get $at))
"""

SHAPES = {
    "go-wasip1-c-shared": f"""(module
      {ADD_HEADER}
      (import "wasi_snapshot_preview1" "sched_yield" (func $yield (result i32)))
      (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_fdstat_set_flags" (func $flags (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
      (memory (export "memory") 2)
      {BUMP}
      (data (i32.const 512) "\\01\\00\\00\\00\\00\\00\\00\\00\\00")
      (func (export "_initialize")
        (drop (call $random (i32.const 800) (i32.const 8)))
        (drop (call $yield))
        (drop (call $poll (i32.const 512) (i32.const 600) (i32.const 1) (i32.const 700)))
        (drop (call $flags (i32.const 1) (i32.const 0))))
      (func (export "proxy_abi_version_0_2_1"))
      (func (export "proxy_on_memory_allocate") (param i32) (result i32) (call $bump (local.get 0)))
      {HEADER_FILTER}
    )""",
    "tinygo-or-rust-wasi-command": f"""(module
      {ADD_HEADER}
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
      (memory (export "memory") 2)
      {BUMP}
      (func (export "_start") (drop (call $clock (i32.const 0) (i64.const 1) (i32.const 800))))
      (func (export "proxy_abi_version_0_2_1"))
      (func (export "malloc") (param i32) (result i32) (call $bump (local.get 0)))
      {HEADER_FILTER}
    )""",
    "rust-wasm32-unknown-unknown": f"""(module
      {ADD_HEADER}
      (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
      (memory (export "memory") 17)
      {BUMP}
      (data (i32.const 900) "set_root_context")
      (func (export "_start") (drop (call $log (i32.const 1) (i32.const 900) (i32.const 16))))
      (func (export "proxy_abi_version_0_2_1"))
      (func (export "proxy_on_memory_allocate") (param i32) (result i32) (call $bump (local.get 0)))
      {HEADER_FILTER}
    )""",
    "emscripten-cpp": f"""(module
      {ADD_HEADER}
      (import "env" "emscripten_notify_memory_growth" (func $grew (param i32)))
      (import "env" "pthread_equal" (func $equal (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 2)
      {BUMP}
      ;; Only logging and WASI may run during _start (cpp-host restricts even emscripten's
      ;; own imports there), so the emscripten imports are exercised from on_vm_start.
      (func (export "_start")
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 900))))
      (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
        (call $grew (i32.const 0))
        (call $equal (i32.const 3) (i32.const 3)))
      (func (export "proxy_abi_version_0_2_1"))
      (func (export "malloc") (param i32) (result i32) (call $bump (local.get 0)))
      (func (export "free") (param i32))
      {HEADER_FILTER}
    )""",
    "assemblyscript": f"""(module
      {ADD_HEADER}
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 2)
      {BUMP}
      (global $ready (mut i32) (i32.const 0))
      (func $init (global.set $ready (i32.const 1)))
      (start $init)
      (func (export "proxy_abi_version_0_2_1"))
      (func (export "proxy_on_memory_allocate") (param i32) (result i32) (call $bump (local.get 0)))
      {HEADER_FILTER}
    )""",
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_sdk_shapes_load_and_filter(make_host: Any, shape: str) -> None:
    name = shape.encode()
    code = wat(SHAPES[shape].replace("__NAME__", shape).replace("__LENGTH__", str(len(name))))
    host = make_host()
    plugin = host.load_plugin(PluginConfig(name=shape, module=code))
    outcome = FilterChain(host, [plugin]).run(exchange())
    assert outcome.request_to_upstream is not None
    assert ("x-sdk", shape) in outcome.request_to_upstream.headers


def test_assemblyscript_without_an_abort_override_does_not_load(make_host: Any) -> None:
    # Envoy provides no env.abort: AssemblyScript modules must be built with --use abort=...
    code = wat(
        SHAPES["assemblyscript"]
        .replace(
            '(import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))',
            '(import "env" "abort" (func $abort (param i32 i32 i32 i32)))',
        )
        .replace("__NAME__", "as")
        .replace("__LENGTH__", "2")
    )
    with pytest.raises(PluginLoadError, match=r"missing import: env\.abort"):
        make_host().load_plugin(PluginConfig(name="as", module=code))
