"""The meshveil harness: a proxy-Wasm host on wasmtime with Envoy's semantics."""
