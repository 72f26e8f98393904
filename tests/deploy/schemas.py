"""Checks manifests against published schemas: Kubernetes kinds with kubernetes-validate
(strict: unknown fields fail), Istio kinds with the models cloudcoil-models-istio generates
from Istio's CRD schemas (unknown fields fail too: a field the model drops is reported),
and Envoy configs by parsing them into envoy-data-plane's message types (unknown fields
and unknown `@type`s fail)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from cloudcoil.models.istio.extensions.v1alpha1 import WasmPlugin
from cloudcoil.models.istio.networking.v1alpha3 import EnvoyFilter
from pydantic import BaseModel

from tests.conftest import REPO_ROOT

KUBERNETES_VERSION = "1.33"
DEPLOY_DIR = REPO_ROOT / "deploy"
ISTIO_KINDS: dict[tuple[str, str], type[BaseModel]] = {
    ("extensions.istio.io/v1alpha1", "WasmPlugin"): WasmPlugin,
    ("networking.istio.io/v1alpha3", "EnvoyFilter"): EnvoyFilter,
}
TYPE_URL_PREFIX = "type.googleapis.com/"


class SchemaError(AssertionError):
    pass


def documents(path: Path) -> list[dict[str, Any]]:
    loaded = [item for item in yaml.safe_load_all(path.read_text(encoding="utf-8")) if item is not None]
    assert all(isinstance(item, dict) for item in loaded), f"{path}: every document must be a mapping"
    return loaded


def validate_manifest(document: dict[str, Any]) -> None:
    key = (document.get("apiVersion"), document.get("kind"))
    model = ISTIO_KINDS.get(key)  # type: ignore[arg-type]
    if model is not None:
        validate_istio(document, model)
        return
    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = "/".join(str(part) for part in error.absolute_path)
        raise SchemaError(f"{key}: {where}: {error.message}") from error
    except kubernetes_validate.SchemaNotFoundError as error:
        raise SchemaError(error.message) from error


def validate_istio(document: dict[str, Any], model: type[BaseModel]) -> None:
    parsed = model.model_validate(document)
    kept = parsed.model_dump(by_alias=True, exclude_unset=True, mode="json")
    dropped = dropped_fields(document, kept, "")
    if dropped:
        raise SchemaError(f"{document['kind']}: unknown fields: {', '.join(dropped)}")


def dropped_fields(original: Any, kept: Any, path: str) -> list[str]:
    """Paths present in `original` that the model did not keep."""
    if isinstance(original, dict):
        if not isinstance(kept, dict):
            return [path or "."]
        found = []
        for key, value in original.items():
            where = f"{path}.{key}" if path else str(key)
            found += dropped_fields(value, kept[key], where) if key in kept else [where]
        return found
    if isinstance(original, list) and isinstance(kept, list):
        return [
            item
            for index, (left, right) in enumerate(zip(original, kept, strict=True))
            for item in dropped_fields(left, right, f"{path}[{index}]")
        ]
    return []


def register_any_types(document: Any, depth: int = 0) -> None:
    """Imports the envoy-data-plane module of every `@type` in the document, so its
    messages can be unpacked; a type envoy-data-plane does not have fails here."""
    assert depth < 64, "Envoy configs are not nested this deeply"
    if isinstance(document, dict):
        type_url = document.get("@type")
        if isinstance(type_url, str):
            assert type_url.startswith(TYPE_URL_PREFIX), f"unexpected type URL {type_url}"
            package = type_url.removeprefix(TYPE_URL_PREFIX).rsplit(".", 1)[0]
            try:
                importlib.import_module(f"envoy_data_plane.{package}")
            except ModuleNotFoundError as error:
                raise SchemaError(f"no Envoy message type {type_url}") from error
        for value in document.values():
            register_any_types(value, depth + 1)
    elif isinstance(document, list):
        for value in document:
            register_any_types(value, depth + 1)


def parse_envoy(document: dict[str, Any], message_type: type[Any]) -> Any:
    """The document as `message_type`, strictly; envoy-data-plane parses the contents of
    every Any (`typed_config`) as it goes, with the same strictness."""
    register_any_types(document)
    try:
        message = message_type.from_dict(document)
    except (KeyError, TypeError, ValueError) as error:
        raise SchemaError(f"{message_type.__name__}: {error}") from error
    return message
