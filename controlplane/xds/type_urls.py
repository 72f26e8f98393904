"""Type URLs of the resources meshveil serves."""

from __future__ import annotations

TYPED_EXTENSION_CONFIG = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig"
WASM_HTTP_FILTER = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"
