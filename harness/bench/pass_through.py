"""The pass-through filter the harness benchmark chains three of: a proxy-Wasm module
that implements every HTTP callback and answers Continue, imports nothing, and so costs
the host exactly its own work per callback.

meshveil's own filters started out as pass-through modules, but they now verify their
configuration and keep state, so they no longer measure the host alone.
"""

from __future__ import annotations

from functools import cache

import wasmtime

FILTER_WAT = """
(module
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
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
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


@cache
def pass_through_module(*, end_callbacks: bool = True) -> bytes:
    """The module; without `end_callbacks` it exports no `proxy_on_done` or `proxy_on_log`,
    so the host calls neither (as for meshveil's DLP and mask filters, whose floor it is)."""
    wat = FILTER_WAT.replace("{end_callbacks}", END_CALLBACKS_WAT if end_callbacks else "")
    return bytes(wasmtime.wat2wasm(wat))
