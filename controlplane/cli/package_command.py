"""`meshveil package --oci MODULE.wasm --out DIR`: a filter module as an OCI image layout."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from controlplane.cli.errors import CliError
from controlplane.cli.parser import defer

WASMPLUGIN_FILE = "wasmplugin.yaml"


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "package",
        help="package a filter module as an OCI image layout for Istio's WasmPlugin",
        description=(
            "Write MODULE.wasm as an OCI image layout (oci-layout, index.json, blobs/sha256/…) in the "
            "format Istio's Wasm image fetcher accepts. The output is deterministic: the same module "
            "always gives the same manifest digest. Push the folder with any OCI tool."
        ),
    )
    defer(parser, _add_arguments)
    parser.set_defaults(handler=run)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    from controlplane.packaging.oci_image import Variant  # noqa: PLC0415

    parser.add_argument(
        "--oci", type=Path, required=True, metavar="MODULE.wasm", help="the (signed) module to package"
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="folder to write (must not exist or be empty)"
    )
    parser.add_argument(
        "--name", default=None, help="module and root id name (default: the file name without .wasm)"
    )
    parser.add_argument(
        "--variant",
        choices=[variant.value for variant in Variant],
        default=Variant.COMPAT.value,
        help="compat: one tar+gzip layer, any registry (default); artifact: Wasm artifact media types",
    )
    parser.add_argument(
        "--image", default=None, metavar="REGISTRY/REPOSITORY:TAG", help="where the image will be pushed"
    )
    parser.add_argument(
        "--wasmplugin",
        type=Path,
        default=None,
        metavar="TEMPLATE.yaml",
        help=f"also write DIR/{WASMPLUGIN_FILE}: the WasmPlugin named NAME from TEMPLATE with url "
        "oci://IMAGE and the manifest sha256 (needs --image)",
    )


def run(arguments: argparse.Namespace) -> int:
    from controlplane.packaging.oci_image import PackagingError, Variant, build_image  # noqa: PLC0415
    from controlplane.packaging.oci_layout import write_layout  # noqa: PLC0415
    from controlplane.packaging.wasmplugin import image_tag, render_wasmplugin  # noqa: PLC0415

    module_path: Path = arguments.oci
    name: str = arguments.name or module_path.name.removesuffix(".wasm")
    if arguments.wasmplugin is not None and arguments.image is None:
        raise CliError("--wasmplugin needs --image (the WasmPlugin's url names the pushed image)")
    try:
        module = module_path.read_bytes()
    except OSError as error:
        raise CliError(f"{module_path}: cannot read: {error.strerror}") from error
    try:
        image = build_image(module, name=name, variant=Variant(arguments.variant))
    except PackagingError as error:
        raise CliError(f"{module_path}: {error}") from error
    try:
        tag = image_tag(arguments.image) if arguments.image else None
        rendered = (
            render_wasmplugin(arguments.wasmplugin, name, arguments.image, image.manifest.hex_digest)
            if arguments.wasmplugin is not None
            else None
        )
        write_layout(image, arguments.out, tag)
    except PackagingError as error:
        raise CliError(str(error)) from error
    print(f"wrote OCI image layout {arguments.out} ({arguments.variant} variant, module {name})")
    print(f"  manifest {image.manifest.digest}  (a WasmPlugin's sha256 for this image)")
    print(f"  module   sha256:{image.module_sha256}")
    if rendered is not None:
        plugin_file = arguments.out / WASMPLUGIN_FILE
        plugin_file.write_text(rendered, encoding="utf-8")
        print(f"  wasmplugin {plugin_file} (url oci://{arguments.image})")
    return 0
