"""Writes an OCI image layout (oci-layout, index.json, blobs/sha256/…) holding one image.

The layout is what OCI tools copy to a registry (`oras cp`, `crane push`, `skopeo copy
oci:DIR:TAG docker://…`). Files are written to a temporary name and renamed, so an
interrupted run never leaves a blob whose name is not its digest.
"""

from __future__ import annotations

from pathlib import Path

from controlplane.packaging.oci_image import (
    INDEX_MEDIA_TYPE,
    REF_NAME_ANNOTATION,
    Blob,
    OciImage,
    PackagingError,
)
from controlplane.trust.encoding import canonical_json

LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
LAYOUT_VERSION = "1.0.0"


def index_document(image: OciImage, tag: str | None) -> bytes:
    descriptor = image.manifest.descriptor()
    if tag:
        descriptor["annotations"] = {REF_NAME_ANNOTATION: tag}
    return canonical_json({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": [descriptor]})


def blob_path(out_dir: Path, blob: Blob) -> Path:
    return out_dir / "blobs" / "sha256" / blob.hex_digest


def write_layout(image: OciImage, out_dir: Path, tag: str | None = None) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise PackagingError(f"{out_dir}: exists and is not an empty folder")
    for blob in image.blobs():
        _write(blob_path(out_dir, blob), blob.data)
    _write(out_dir / LAYOUT_FILE, canonical_json({"imageLayoutVersion": LAYOUT_VERSION}))
    # index.json last: a layout with an index is complete.
    _write(out_dir / INDEX_FILE, index_document(image, tag))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)
