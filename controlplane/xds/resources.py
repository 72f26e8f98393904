"""One ECDS resource: a TypedExtensionConfig wrapping the Wasm HTTP filter's PluginConfig."""

from __future__ import annotations

from datetime import timedelta

from envoy_data_plane.envoy.config.core.v3 import (
    AsyncDataSource,
    HttpUri,
    RemoteDataSource,
    TypedExtensionConfig,
)
from envoy_data_plane.envoy.extensions.filters.http.wasm.v3 import Wasm
from envoy_data_plane.envoy.extensions.wasm.v3 import (
    CapabilityRestrictionConfig,
    FailurePolicy,
    PluginConfig,
    SanitizationConfig,
    VmConfig,
)
from envoy_data_plane.google.protobuf import Any as AnyMessage
from envoy_data_plane.google.protobuf import BytesValue

from controlplane.policy.model import FailureMode
from controlplane.storage.modules import ModuleInfo

RUNTIME = "envoy.wasm.runtime.v8"
MODULE_FETCH_TIMEOUT = timedelta(seconds=10)


def vm_id_for(tenant: str) -> str:
    """One VM id per tenant: Envoy never shares a VM (or its shared data) across vm ids."""
    return f"meshveil.{tenant}"


def module_url(base_url: str, sha256: str) -> str:
    return f"{base_url}/v1/modules/{sha256}/bytes"


def build_extension_config(
    *,
    resource_name: str,
    tenant: str,
    module: ModuleInfo,
    allowed_capabilities: frozenset[str],
    configuration: bytes,
    failure: FailureMode,
    module_base_url: str,
    module_cluster: str,
) -> TypedExtensionConfig:
    plugin = PluginConfig(
        name=resource_name,
        root_id=resource_name,
        vm_config=VmConfig(
            vm_id=vm_id_for(tenant),
            runtime=RUNTIME,
            code=AsyncDataSource(
                remote=RemoteDataSource(
                    http_uri=HttpUri(
                        uri=module_url(module_base_url, module.sha256),
                        cluster=module_cluster,
                        timeout=MODULE_FETCH_TIMEOUT,
                    ),
                    sha256=module.sha256,
                )
            ),
        ),
        configuration=AnyMessage.pack(BytesValue(value=configuration)),
        failure_policy=FailurePolicy.FAIL_OPEN
        if failure is FailureMode.FAIL_OPEN
        else FailurePolicy.FAIL_CLOSED,
        capability_restriction_config=CapabilityRestrictionConfig(
            allowed_capabilities={name: SanitizationConfig() for name in sorted(allowed_capabilities)}
        ),
    )
    return TypedExtensionConfig(name=resource_name, typed_config=AnyMessage.pack(Wasm(config=plugin)))
