"""Every function crossing the proxy-Wasm boundary, with its exact Wasm signature.

The source of truth is the ABI text (`proxy-wasm/spec`, `abi-versions/v0.2.1`) and, for
what Envoy accepts beyond it (ABI 0.1.0 names, the WASI subset), proxy-wasm-cpp-host's
`exports.h`. Both the validator and the harness read this table, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class AbiVersion(Enum):
    V0_1_0 = "0.1.0"
    V0_2_0 = "0.2.0"
    V0_2_1 = "0.2.1"


ABI_VERSION_MARKERS: dict[str, AbiVersion] = {
    "proxy_abi_version_0_1_0": AbiVersion.V0_1_0,
    "proxy_abi_version_0_2_0": AbiVersion.V0_2_0,
    "proxy_abi_version_0_2_1": AbiVersion.V0_2_1,
}

ALL_VERSIONS = frozenset(AbiVersion)
V02_ONWARDS = frozenset({AbiVersion.V0_2_0, AbiVersion.V0_2_1})


@dataclass(frozen=True)
class FunctionSignature:
    params: tuple[str, ...]
    results: tuple[str, ...]

    def __str__(self) -> str:
        return f"({', '.join(self.params)}) -> ({', '.join(self.results)})"


@dataclass(frozen=True)
class HostFunction:
    """A function the host provides (a module import)."""

    module: str
    name: str
    signature: FunctionSignature
    versions: frozenset[AbiVersion] = ALL_VERSIONS

    @property
    def qualified_name(self) -> str:
        return f"{self.module}.{self.name}"


def _sig(params: str, results: str = "i32") -> FunctionSignature:
    """Signature from compact text: `"i32 i32 i64"` params, `"i32"` or `""` results."""
    return FunctionSignature(tuple(params.split()), tuple(results.split()))


_PROXY: list[tuple[str, FunctionSignature, frozenset[AbiVersion]]] = [
    ("proxy_log", _sig("i32 i32 i32"), ALL_VERSIONS),
    ("proxy_get_log_level", _sig("i32"), frozenset({AbiVersion.V0_2_1})),
    ("proxy_get_current_time_nanoseconds", _sig("i32"), ALL_VERSIONS),
    ("proxy_set_tick_period_milliseconds", _sig("i32"), ALL_VERSIONS),
    ("proxy_get_buffer_bytes", _sig("i32 i32 i32 i32 i32"), ALL_VERSIONS),
    ("proxy_set_buffer_bytes", _sig("i32 i32 i32 i32 i32"), ALL_VERSIONS),
    ("proxy_get_buffer_status", _sig("i32 i32 i32"), ALL_VERSIONS),
    ("proxy_get_header_map_pairs", _sig("i32 i32 i32"), ALL_VERSIONS),
    ("proxy_set_header_map_pairs", _sig("i32 i32 i32"), ALL_VERSIONS),
    ("proxy_get_header_map_size", _sig("i32 i32"), ALL_VERSIONS),
    ("proxy_get_header_map_value", _sig("i32 i32 i32 i32 i32"), ALL_VERSIONS),
    ("proxy_add_header_map_value", _sig("i32 i32 i32 i32 i32"), ALL_VERSIONS),
    ("proxy_replace_header_map_value", _sig("i32 i32 i32 i32 i32"), ALL_VERSIONS),
    ("proxy_remove_header_map_value", _sig("i32 i32 i32"), ALL_VERSIONS),
    ("proxy_get_property", _sig("i32 i32 i32 i32"), ALL_VERSIONS),
    ("proxy_set_property", _sig("i32 i32 i32 i32"), ALL_VERSIONS),
    ("proxy_send_local_response", _sig("i32 i32 i32 i32 i32 i32 i32 i32"), ALL_VERSIONS),
    ("proxy_continue_stream", _sig("i32"), V02_ONWARDS),
    ("proxy_close_stream", _sig("i32"), V02_ONWARDS),
    ("proxy_get_status", _sig("i32 i32 i32"), ALL_VERSIONS),
    ("proxy_set_effective_context", _sig("i32"), ALL_VERSIONS),
    ("proxy_done", _sig(""), ALL_VERSIONS),
    ("proxy_get_shared_data", _sig("i32 i32 i32 i32 i32"), ALL_VERSIONS),
    ("proxy_set_shared_data", _sig("i32 i32 i32 i32 i32"), ALL_VERSIONS),
    ("proxy_register_shared_queue", _sig("i32 i32 i32"), ALL_VERSIONS),
    ("proxy_resolve_shared_queue", _sig("i32 i32 i32 i32 i32"), ALL_VERSIONS),
    ("proxy_enqueue_shared_queue", _sig("i32 i32 i32"), ALL_VERSIONS),
    ("proxy_dequeue_shared_queue", _sig("i32 i32 i32"), ALL_VERSIONS),
    ("proxy_http_call", _sig("i32 i32 i32 i32 i32 i32 i32 i32 i32 i32"), ALL_VERSIONS),
    ("proxy_grpc_call", _sig("i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32"), ALL_VERSIONS),
    ("proxy_grpc_stream", _sig("i32 i32 i32 i32 i32 i32 i32 i32 i32"), ALL_VERSIONS),
    ("proxy_grpc_send", _sig("i32 i32 i32 i32"), ALL_VERSIONS),
    ("proxy_grpc_cancel", _sig("i32"), ALL_VERSIONS),
    ("proxy_grpc_close", _sig("i32"), ALL_VERSIONS),
    ("proxy_define_metric", _sig("i32 i32 i32 i32"), ALL_VERSIONS),
    ("proxy_increment_metric", _sig("i32 i64"), ALL_VERSIONS),
    ("proxy_record_metric", _sig("i32 i64"), ALL_VERSIONS),
    ("proxy_get_metric", _sig("i32 i32"), ALL_VERSIONS),
    ("proxy_call_foreign_function", _sig("i32 i32 i32 i32 i32 i32"), ALL_VERSIONS),
    # ABI 0.1.0 names Envoy still registers for 0.1.0 modules.
    ("proxy_get_configuration", _sig("i32 i32"), frozenset({AbiVersion.V0_1_0})),
    ("proxy_continue_request", _sig(""), frozenset({AbiVersion.V0_1_0})),
    ("proxy_continue_response", _sig(""), frozenset({AbiVersion.V0_1_0})),
    ("proxy_clear_route_cache", _sig(""), frozenset({AbiVersion.V0_1_0})),
]

HOST_FUNCTIONS: dict[str, HostFunction] = {
    name: HostFunction("env", name, signature, versions) for name, signature, versions in _PROXY
}

# Envoy answers these under both WASI module names.
WASI_MODULES = ("wasi_snapshot_preview1", "wasi_unstable")

_WASI: list[tuple[str, FunctionSignature]] = [
    ("fd_write", _sig("i32 i32 i32 i32")),
    ("fd_read", _sig("i32 i32 i32 i32")),
    ("fd_seek", _sig("i32 i64 i32 i32")),
    ("fd_close", _sig("i32")),
    ("fd_fdstat_get", _sig("i32 i32")),
    ("fd_fdstat_set_flags", _sig("i32 i32")),
    ("fd_prestat_get", _sig("i32 i32")),
    ("fd_prestat_dir_name", _sig("i32 i32 i32")),
    ("fd_filestat_get", _sig("i32 i32")),
    ("fd_pread", _sig("i32 i32 i32 i64 i32")),
    ("fd_readdir", _sig("i32 i32 i32 i64 i32")),
    ("path_open", _sig("i32 i32 i32 i32 i32 i64 i64 i32 i32")),
    ("path_filestat_get", _sig("i32 i32 i32 i32 i32")),
    ("path_remove_directory", _sig("i32 i32 i32")),
    ("path_unlink_file", _sig("i32 i32 i32")),
    ("environ_get", _sig("i32 i32")),
    ("environ_sizes_get", _sig("i32 i32")),
    ("args_get", _sig("i32 i32")),
    ("args_sizes_get", _sig("i32 i32")),
    ("clock_time_get", _sig("i32 i64 i32")),
    ("clock_res_get", _sig("i32 i32")),
    ("random_get", _sig("i32 i32")),
    ("poll_oneoff", _sig("i32 i32 i32 i32")),
    ("sched_yield", _sig("")),
    ("proc_exit", _sig("i32", "")),
]

WASI_FUNCTIONS: dict[str, FunctionSignature] = dict(_WASI)

# Callbacks a module may export. Where ABI 0.1.0 builds differ in arity, both are listed.
CALLBACKS: dict[str, tuple[FunctionSignature, ...]] = {
    "proxy_on_memory_allocate": (_sig("i32"),),
    "malloc": (_sig("i32"),),
    "proxy_on_context_create": (_sig("i32 i32", ""),),
    "proxy_on_vm_start": (_sig("i32 i32"),),
    "proxy_on_configure": (_sig("i32 i32"),),
    "proxy_on_tick": (_sig("i32", ""),),
    "proxy_on_queue_ready": (_sig("i32 i32", ""),),
    "proxy_on_foreign_function": (_sig("i32 i32 i32", ""),),
    "proxy_on_done": (_sig("i32"),),
    "proxy_on_log": (_sig("i32", ""),),
    "proxy_on_delete": (_sig("i32", ""),),
    "proxy_on_new_connection": (_sig("i32"),),
    "proxy_on_downstream_data": (_sig("i32 i32 i32"),),
    "proxy_on_upstream_data": (_sig("i32 i32 i32"),),
    "proxy_on_downstream_connection_close": (_sig("i32 i32", ""),),
    "proxy_on_upstream_connection_close": (_sig("i32 i32", ""),),
    "proxy_on_request_headers": (_sig("i32 i32 i32"), _sig("i32 i32")),
    "proxy_on_request_body": (_sig("i32 i32 i32"),),
    "proxy_on_request_trailers": (_sig("i32 i32"),),
    "proxy_on_request_metadata": (_sig("i32 i32"),),
    "proxy_on_response_headers": (_sig("i32 i32 i32"), _sig("i32 i32")),
    "proxy_on_response_body": (_sig("i32 i32 i32"),),
    "proxy_on_response_trailers": (_sig("i32 i32"),),
    "proxy_on_response_metadata": (_sig("i32 i32"),),
    "proxy_on_http_call_response": (_sig("i32 i32 i32 i32 i32", ""),),
    "proxy_on_grpc_receive_initial_metadata": (_sig("i32 i32 i32", ""),),
    "proxy_on_grpc_receive": (_sig("i32 i32 i32", ""),),
    "proxy_on_grpc_receive_trailing_metadata": (_sig("i32 i32 i32", ""),),
    "proxy_on_grpc_close": (_sig("i32 i32 i32", ""),),
    "proxy_abi_version_0_1_0": (_sig("", ""),),
    "proxy_abi_version_0_2_0": (_sig("", ""),),
    "proxy_abi_version_0_2_1": (_sig("", ""),),
    "_initialize": (_sig("", ""),),
    "_start": (_sig("", ""),),
    "main": (_sig("i32 i32"), _sig("")),
}
