"""A filter module as an OCI image, in the two forms Istio's Wasm image fetcher accepts.

- compat (default): one `application/vnd.oci.image.layer.v1.tar+gzip` layer holding
  `plugin.wasm` (and `runtime-config.json`), with the manifest annotation
  `module.wasm.image/variant: compat`. Any registry and OCI tool handles it.
- artifact: the Wasm artifact media types, exactly two layers: the module itself as
  `application/vnd.module.wasm.content.layer.v1+wasm` (raw bytes) and the runtime config
  as `application/vnd.module.wasm.config.v1+json`. Needs a registry that allows them.

Everything is deterministic (no timestamps, fixed tar headers, gzip mtime 0, canonical
JSON), so the same module always gives the same manifest digest, which is what a
WasmPlugin's `sha256` pins for `oci://` URLs.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass, field
from enum import StrEnum

from controlplane.trust.encoding import canonical_json

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
IMAGE_CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"
COMPAT_LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
WASM_LAYER_MEDIA_TYPE = "application/vnd.module.wasm.content.layer.v1+wasm"
WASM_CONFIG_MEDIA_TYPE = "application/vnd.module.wasm.config.v1+json"
VARIANT_ANNOTATION = "module.wasm.image/variant"
TITLE_ANNOTATION = "org.opencontainers.image.title"
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
PLUGIN_FILE = "plugin.wasm"
RUNTIME_CONFIG_FILE = "runtime-config.json"
PROXY_WASM_ABI = "proxy_abi_version_0_2_1"
WASM_MAGIC = b"\0asm"
GZIP_LEVEL = 9


class Variant(StrEnum):
    COMPAT = "compat"
    ARTIFACT = "artifact"


class PackagingError(ValueError):
    """The module cannot be packaged; the message says why."""


@dataclass(frozen=True)
class Blob:
    media_type: str
    data: bytes
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def hex_digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def digest(self) -> str:
        return f"sha256:{self.hex_digest}"

    def descriptor(self) -> dict[str, object]:
        described: dict[str, object] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": len(self.data),
        }
        if self.annotations:
            described["annotations"] = dict(self.annotations)
        return described


@dataclass(frozen=True)
class OciImage:
    manifest: Blob
    config: Blob
    layers: tuple[Blob, ...]
    module_sha256: str

    def blobs(self) -> tuple[Blob, ...]:
        return (self.manifest, self.config, *self.layers)


def runtime_config(root_id: str) -> bytes:
    """The Wasm image spec's runtime config for Envoy: the root id the module serves."""
    return canonical_json(
        {"type": "envoy_proxy", "abi_version": PROXY_WASM_ABI, "config": {"root_ids": [root_id]}}
    )


def deterministic_tar(files: list[tuple[str, bytes]]) -> bytes:
    """A tar of regular files with fixed owner, mode and mtime, in the order given."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o444
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _image_config(diff_ids: list[str]) -> Blob:
    # The module targets wasm32-freestanding; registries and Istio do not read the platform.
    document = {
        "architecture": "wasm32",
        "os": "freestanding",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    return Blob(IMAGE_CONFIG_MEDIA_TYPE, canonical_json(document))


def build_image(module: bytes, *, name: str, variant: Variant) -> OciImage:
    if not module.startswith(WASM_MAGIC):
        raise PackagingError("not a WebAssembly module (it does not start with \\0asm)")
    config_json = runtime_config(name)
    annotations = {TITLE_ANNOTATION: name}
    if variant is Variant.COMPAT:
        tar = deterministic_tar([(PLUGIN_FILE, module), (RUNTIME_CONFIG_FILE, config_json)])
        layers: tuple[Blob, ...] = (
            Blob(COMPAT_LAYER_MEDIA_TYPE, gzip.compress(tar, compresslevel=GZIP_LEVEL, mtime=0)),
        )
        config = _image_config([f"sha256:{hashlib.sha256(tar).hexdigest()}"])
        annotations[VARIANT_ANNOTATION] = "compat"
    else:
        layers = (
            Blob(WASM_LAYER_MEDIA_TYPE, module, {TITLE_ANNOTATION: PLUGIN_FILE}),
            Blob(WASM_CONFIG_MEDIA_TYPE, config_json, {TITLE_ANNOTATION: RUNTIME_CONFIG_FILE}),
        )
        config = _image_config([layer.digest for layer in layers])
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": config.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
        "annotations": annotations,
    }
    return OciImage(
        manifest=Blob(MANIFEST_MEDIA_TYPE, canonical_json(manifest)),
        config=config,
        layers=layers,
        module_sha256=hashlib.sha256(module).hexdigest(),
    )
