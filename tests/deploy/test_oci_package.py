"""`meshveil package --oci`: an OCI image layout Istio's Wasm image fetcher can read.

The fetcher's rules (istio pkg/wasm/imagefetcher.go) are applied to the layout here:
compat variant = the last layer is application/vnd.oci.image.layer.v1.tar+gzip holding
plugin.wasm; artifact variant = exactly two layers, one of them the raw module as
application/vnd.module.wasm.content.layer.v1+wasm. A WasmPlugin's sha256 for an oci://
URL is the manifest digest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from controlplane.cli import main
from controlplane.modules.build import BuiltModule
from tests.deploy.schemas import DEPLOY_DIR, validate_manifest

IMAGE = "registry.example.com/meshveil/meshveil-dlp:0.1.0"


def read_json(path: Path) -> Any:
    return json.loads(path.read_bytes())


def blob(layout: Path, descriptor: dict[str, Any]) -> bytes:
    algorithm, hex_digest = descriptor["digest"].split(":")
    assert algorithm == "sha256"
    data = (layout / "blobs" / "sha256" / hex_digest).read_bytes()
    assert hashlib.sha256(data).hexdigest() == hex_digest, "a blob's name is its digest"
    assert len(data) == descriptor["size"]
    return data


def manifest_of(layout: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    assert read_json(layout / "oci-layout") == {"imageLayoutVersion": "1.0.0"}
    index = read_json(layout / "index.json")
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    (descriptor,) = index["manifests"]
    assert descriptor["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    return descriptor, json.loads(blob(layout, descriptor))


def istio_extract(layout: Path, manifest: dict[str, Any]) -> bytes:
    """What Istio's image fetcher would hand Envoy, following its rules."""
    layers = manifest["layers"]
    last = layers[-1]
    if last["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip":
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob(layout, last)))) as archive:
            for member in archive.getmembers():
                if Path(member.name).name == "plugin.wasm":
                    extracted = archive.extractfile(member)
                    assert extracted is not None
                    return extracted.read()
        raise AssertionError("plugin.wasm not found in the compat layer")
    assert len(layers) == 2, "the artifact variant has exactly two layers"
    (wasm,) = [
        item for item in layers if item["mediaType"] == "application/vnd.module.wasm.content.layer.v1+wasm"
    ]
    return blob(layout, wasm)


def package(module: Path, out: Path, *extra: str) -> int:
    return main(["package", "--oci", str(module), "--out", str(out), *extra])


@pytest.fixture(scope="module")
def dlp(built_modules: dict[str, BuiltModule]) -> Path:
    return built_modules["meshveil-dlp"].path


def test_compat_layout_gives_istio_the_module(
    dlp: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = tmp_path / "dlp"
    assert package(dlp, layout, "--image", IMAGE) == 0
    descriptor, manifest = manifest_of(layout)
    assert descriptor["annotations"] == {"org.opencontainers.image.ref.name": "0.1.0"}
    assert manifest["annotations"]["module.wasm.image/variant"] == "compat"
    assert [layer["mediaType"] for layer in manifest["layers"]] == [
        "application/vnd.oci.image.layer.v1.tar+gzip"
    ]
    config = json.loads(blob(layout, manifest["config"]))
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    layer_tar = gzip.decompress(blob(layout, manifest["layers"][0]))
    assert config["rootfs"]["diff_ids"] == [f"sha256:{hashlib.sha256(layer_tar).hexdigest()}"]
    assert istio_extract(layout, manifest) == dlp.read_bytes()
    printed = capsys.readouterr().out
    assert descriptor["digest"] in printed and hashlib.sha256(dlp.read_bytes()).hexdigest() in printed


def test_artifact_layout_uses_the_wasm_media_types(dlp: Path, tmp_path: Path) -> None:
    layout = tmp_path / "dlp"
    assert package(dlp, layout, "--variant", "artifact") == 0
    _, manifest = manifest_of(layout)
    assert sorted(layer["mediaType"] for layer in manifest["layers"]) == [
        "application/vnd.module.wasm.config.v1+json",
        "application/vnd.module.wasm.content.layer.v1+wasm",
    ]
    assert istio_extract(layout, manifest) == dlp.read_bytes()
    runtime = json.loads(blob(layout, manifest["layers"][1]))
    assert runtime == {
        "type": "envoy_proxy",
        "abi_version": "proxy_abi_version_0_2_1",
        "config": {"root_ids": ["meshveil-dlp"]},
    }


def test_the_same_module_always_gives_the_same_image(dlp: Path, tmp_path: Path) -> None:
    for run in ("first", "second"):
        assert package(dlp, tmp_path / run, "--image", IMAGE) == 0
    first, second = (manifest_of(tmp_path / run)[0]["digest"] for run in ("first", "second"))
    assert first == second
    assert sorted(path.name for path in (tmp_path / "first" / "blobs" / "sha256").iterdir()) == sorted(
        path.name for path in (tmp_path / "second" / "blobs" / "sha256").iterdir()
    )


def test_wasmplugin_is_rendered_with_the_manifest_digest(dlp: Path, tmp_path: Path) -> None:
    layout = tmp_path / "dlp"
    template = DEPLOY_DIR / "istio" / "wasmplugins.yaml"
    assert package(dlp, layout, "--image", IMAGE, "--wasmplugin", str(template)) == 0
    descriptor, _ = manifest_of(layout)
    plugin = yaml.safe_load((layout / "wasmplugin.yaml").read_text())
    validate_manifest(plugin)
    assert plugin["metadata"]["name"] == "meshveil-dlp"
    assert plugin["spec"]["url"] == f"oci://{IMAGE}"
    assert plugin["spec"]["sha256"] == descriptor["digest"].removeprefix("sha256:")
    assert plugin["spec"]["failStrategy"] == "FAIL_CLOSE"


@pytest.mark.parametrize(
    ("setup", "arguments", "message"),
    [
        ("not-wasm", [], "not a WebAssembly module"),
        ("occupied", [], "is not an empty folder"),
        ("wasm", ["--image", "Registry/UPPER:tag"], "expected REGISTRY/REPOSITORY:TAG"),
        ("wasm", ["--wasmplugin", "t.yaml"], "--wasmplugin needs --image"),
        (
            "wasm",
            [
                "--image",
                IMAGE,
                "--name",
                "nope",
                "--wasmplugin",
                str(DEPLOY_DIR / "istio" / "wasmplugins.yaml"),
            ],
            "found 0",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    dlp: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    setup: str,
    arguments: list[str],
    message: str,
) -> None:
    module = tmp_path / "module.wasm"
    module.write_bytes(b"MZ not wasm" if setup == "not-wasm" else dlp.read_bytes())
    out = tmp_path / "out"
    if setup == "occupied":
        out.mkdir()
        (out / "something").write_text("x")
    assert package(module, out, *arguments) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and message in error
    assert setup == "occupied" or not out.exists()
