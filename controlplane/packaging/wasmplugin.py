"""Fills an Istio WasmPlugin template with the image that `meshveil package --oci` wrote.

For `oci://` URLs Istio checks `sha256` against the image's manifest digest (not the
module's), so the rendered manifest pins exactly the image in the layout.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from controlplane.packaging.oci_image import PackagingError

# registry[:port]/path/name:tag; a digest reference cannot name what is about to be pushed.
_REFERENCE = re.compile(
    r"^(?P<repository>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)+)"
    r":(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$"
)


def image_tag(reference: str) -> str:
    """The tag of `registry/repository:tag`, refusing anything else."""
    match = _REFERENCE.match(reference)
    if match is None:
        raise PackagingError(
            f"--image {reference!r}: expected REGISTRY/REPOSITORY:TAG (lower-case repository)"
        )
    return match.group("tag")


def render_wasmplugin(template: Path, name: str, image: str, manifest_sha256: str) -> str:
    """The WasmPlugin named `name` from `template` (a YAML file of one or more documents),
    with spec.url set to oci://IMAGE and spec.sha256 to the manifest digest."""
    try:
        documents = list(yaml.safe_load_all(template.read_text(encoding="utf-8")))
    except OSError as error:
        raise PackagingError(f"{template}: cannot read: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise PackagingError(f"{template}: not valid YAML: {str(error).splitlines()[0]}") from error
    chosen = [document for document in documents if _is_wasmplugin_named(document, name)]
    if len(chosen) != 1:
        raise PackagingError(f"{template}: expected one WasmPlugin named {name!r}, found {len(chosen)}")
    plugin = chosen[0]
    spec = plugin.get("spec")
    if not isinstance(spec, dict):
        raise PackagingError(f"{template}: WasmPlugin {name!r} has no spec mapping")
    spec["url"] = f"oci://{image}"
    spec["sha256"] = manifest_sha256
    return yaml.safe_dump(plugin, sort_keys=False)


def _is_wasmplugin_named(document: Any, name: str) -> bool:
    if not isinstance(document, dict) or document.get("kind") != "WasmPlugin":
        return False
    metadata = document.get("metadata")
    return isinstance(metadata, dict) and metadata.get("name") == name
