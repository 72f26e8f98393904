"""The pass-through filter the harness benchmark chains three of: a proxy-Wasm module
that implements every HTTP callback and answers Continue, imports nothing, and so costs
the host exactly its own work per callback. A variant makes a given number of host calls
in its request-headers callback, so a benchmark can measure what the host costs per call
outside the host function itself.

meshveil's own filters started out as pass-through modules, but they now verify their
configuration and keep state, so they no longer measure the host alone.
"""

from __future__ import annotations

from functools import cache

import wasmtime

FILTER_WAT = """
(module
  {imports}
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "proxy_abi_version_0_2_1"))
  ;; Bump allocation that starts over when the page is full: the host's values are read
  ;; before the next call, and this filter reads none.
  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $start i32)
    (if (i32.gt_u (i32.add (global.get $heap) (local.get $size)) (i32.const 65536))
      (then (global.set $heap (i32.const 1024))))
    (local.set $start (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $size)))
    (local.get $start))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  {request_headers}
  (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_request_trailers") (param i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_response_body") (param i32 i32 i32) (result i32) (i32.const 0))
  (func (export "proxy_on_response_trailers") (param i32 i32) (result i32) (i32.const 0))
  {end_callbacks}
  (func (export "proxy_on_delete") (param i32)))
"""
END_CALLBACKS_WAT = """(func (export "proxy_on_done") (param i32) (result i32) (i32.const 1))
  (func (export "proxy_on_log") (param i32))"""
REQUEST_HEADERS_WAT = """(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (i32.const 0))"""
CLOCK_IMPORT_WAT = """(import "env" "proxy_get_current_time_nanoseconds"
    (func $now (param i32) (result i32)))"""
# Reads the clock `count` times into bytes 0..8; the cheapest host call there is.
CALLING_REQUEST_HEADERS_WAT = """(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (local $left i32)
    (local.set $left (i32.const {count}))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $left)))
        (drop (call $now (i32.const 0)))
        (local.set $left (i32.sub (local.get $left) (i32.const 1)))
        (br $next)))
    (i32.const 0))"""


@cache
def pass_through_module(*, end_callbacks: bool = True, host_calls: int = 0) -> bytes:
    """The module; without `end_callbacks` it exports no `proxy_on_done` or `proxy_on_log`,
    so the host calls neither (as for meshveil's DLP and mask filters, whose floor it is).
    With `host_calls`, its request-headers callback reads the clock that many times."""
    if host_calls < 0:
        raise ValueError(f"host_calls must not be negative, not {host_calls}")
    calling = host_calls > 0
    request_headers = CALLING_REQUEST_HEADERS_WAT.replace("{count}", str(host_calls))
    wat = (
        FILTER_WAT.replace("{imports}", CLOCK_IMPORT_WAT if calling else "")
        .replace("{request_headers}", request_headers if calling else REQUEST_HEADERS_WAT)
        .replace("{end_callbacks}", END_CALLBACKS_WAT if end_callbacks else "")
    )
    return bytes(wasmtime.wat2wasm(wat))
