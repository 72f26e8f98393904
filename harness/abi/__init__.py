"""The proxy-Wasm ABI as data: host functions, callbacks and WASI imports with their signatures."""

from harness.abi.catalog import (
    ABI_VERSION_MARKERS,
    CALLBACKS,
    HOST_FUNCTIONS,
    WASI_FUNCTIONS,
    WASI_MODULES,
    AbiVersion,
    FunctionSignature,
    HostFunction,
)

__all__ = [
    "ABI_VERSION_MARKERS",
    "CALLBACKS",
    "HOST_FUNCTIONS",
    "WASI_FUNCTIONS",
    "WASI_MODULES",
    "AbiVersion",
    "FunctionSignature",
    "HostFunction",
]
