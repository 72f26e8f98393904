"""Packaging filter modules for delivery: OCI images (Istio's WasmPlugin) and the manifests that name them."""
