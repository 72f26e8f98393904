"""Every manifest in deploy/ against the Kubernetes and Istio schemas, every Envoy config
parsed strictly into Envoy's types, and the names that tie them together agree."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from envoy_data_plane.envoy.config.bootstrap.v3 import Bootstrap
from envoy_data_plane.envoy.config.cluster.v3 import Cluster
from envoy_data_plane.envoy.extensions.filters.network.http_connection_manager.v3 import (
    HttpConnectionManager,
    HttpFilter,
)

from controlplane.config import OPTIONS_BY_NAME
from controlplane.policy.compile import CHAIN_ORDER, FilterName
from controlplane.xds.type_urls import WASM_HTTP_FILTER
from tests.deploy.schemas import DEPLOY_DIR, SchemaError, documents, parse_envoy, validate_manifest

ISTIO_FILES = sorted((DEPLOY_DIR / "istio").glob("*.yaml"))
ENVOY_FILES = sorted((DEPLOY_DIR / "envoy").glob("*.yaml"))
PATCH_TYPES = {"CLUSTER": Cluster, "HTTP_FILTER": HttpFilter}
FILTER_NAMES = {name.value for name in FilterName}


def all_istio_documents() -> list[dict[str, Any]]:
    return [document for path in ISTIO_FILES for document in documents(path)]


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [document for document in all_istio_documents() if document["kind"] == kind]


def test_the_deploy_folder_has_what_the_issue_asks_for() -> None:
    kinds = {document["kind"] for document in all_istio_documents()}
    assert {"WasmPlugin", "EnvoyFilter", "Deployment", "Service", "ServiceAccount"} <= kinds
    assert {plugin["metadata"]["name"] for plugin in by_kind("WasmPlugin")} == FILTER_NAMES
    assert ENVOY_FILES


@pytest.mark.parametrize("path", ISTIO_FILES, ids=lambda path: path.name)
def test_manifests_match_the_kubernetes_and_istio_schemas(path: Path) -> None:
    for document in documents(path):
        validate_manifest(document)


@pytest.mark.parametrize(
    ("kind", "mutate", "message"),
    [
        ("Deployment", lambda doc: doc["spec"]["template"]["spec"].update(hostNetwrk=True), "hostNetwrk"),
        ("Service", lambda doc: doc["spec"]["ports"][0].update(port="https"), "port"),
        ("WasmPlugin", lambda doc: doc["spec"].update(failStrategy="FAIL_SOMETIMES"), "failStrategy"),
        ("WasmPlugin", lambda doc: doc["spec"].update(pluginConfg={}), "pluginConfg"),
        ("EnvoyFilter", lambda doc: doc["spec"]["configPatches"][0].update(applyto="CLUSTER"), "applyto"),
    ],
    ids=["deployment-typo", "service-port-type", "istio-enum", "istio-unknown-field", "envoyfilter-typo"],
)
def test_the_schema_checks_catch_mistakes(kind: str, mutate: Any, message: str) -> None:
    broken = copy.deepcopy(by_kind(kind)[0])
    mutate(broken)
    with pytest.raises((SchemaError, ValueError), match=message):
        validate_manifest(broken)


def test_envoyfilter_patches_are_valid_envoy_config() -> None:
    (envoy_filter,) = by_kind("EnvoyFilter")
    patched_filters = []
    clusters = {}
    for patch in envoy_filter["spec"]["configPatches"]:
        message = parse_envoy(patch["patch"]["value"], PATCH_TYPES[patch["applyTo"]])
        if isinstance(message, Cluster):
            clusters[message.name] = message
        else:
            patched_filters.append(message)
    # The ECDS resource names meshveil serves, each fetched from a cluster the patch adds.
    assert [item.name for item in patched_filters] == [name.value for name in CHAIN_ORDER]
    for item in patched_filters:
        discovery = item.config_discovery
        assert discovery.type_urls == [WASM_HTTP_FILTER]
        (service,) = discovery.config_source.api_config_source.grpc_services
        assert service.envoy_grpc.cluster_name in clusters
    # The control plane names this cluster in every resource's module URL.
    config = yaml.safe_load(by_kind("ConfigMap")[0]["data"]["meshveil.yaml"])
    assert config["module_cluster"] in clusters


def test_the_control_plane_config_map_uses_known_options() -> None:
    config = yaml.safe_load(by_kind("ConfigMap")[0]["data"]["meshveil.yaml"])
    for name, value in config.items():
        option = OPTIONS_BY_NAME[name]
        option.parse(str(value))
    (deployment,) = by_kind("Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    ports = {port["containerPort"] for port in container["ports"]}
    assert {config["rest_port"], config["xds_port"]} == ports


@pytest.mark.parametrize("path", ENVOY_FILES, ids=lambda path: path.name)
def test_envoy_bootstraps_parse_strictly_and_use_ecds(path: Path) -> None:
    (document,) = documents(path)
    bootstrap = parse_envoy(document, Bootstrap)
    clusters = {cluster.name for cluster in bootstrap.static_resources.clusters}
    (listener,) = bootstrap.static_resources.listeners
    manager = listener.filter_chains[0].filters[0].typed_config.unpack()
    assert isinstance(manager, HttpConnectionManager)
    wasm_filters = [item for item in manager.http_filters if item.config_discovery is not None]
    assert [item.name for item in wasm_filters] == [name.value for name in CHAIN_ORDER]
    for item in wasm_filters:
        source = item.config_discovery.config_source.api_config_source
        assert source.grpc_services[0].envoy_grpc.cluster_name in clusters
        assert item.config_discovery.type_urls == [WASM_HTTP_FILTER]
    assert manager.http_filters[-1].name == "envoy.filters.http.router"
    assert "meshveil-controlplane" in clusters
    assert bootstrap.node.metadata.to_dict()["NAMESPACE"] == "payments"


def test_the_envoy_check_catches_unknown_fields() -> None:
    (document,) = documents(ENVOY_FILES[0])
    broken = copy.deepcopy(document)
    broken["static_resources"]["clusters"][0]["conect_timeout"] = "1s"
    with pytest.raises(SchemaError, match="conect_timeout"):
        parse_envoy(broken, Bootstrap)
    broken = copy.deepcopy(document)
    hcm = broken["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["http_filters"][0]["config_discovery"]["type_url"] = WASM_HTTP_FILTER
    with pytest.raises(SchemaError, match="type_url"):
        parse_envoy(broken, Bootstrap)
