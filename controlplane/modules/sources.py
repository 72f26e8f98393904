"""Where the filters' Zig sources and capability manifests are."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from controlplane.modules.capabilities import CapabilityManifest, ManifestError

FILTERS_DIR_ENV = "MESHVEIL_FILTERS_DIR"


def default_filters_dir() -> Path:
    configured = os.environ.get(FILTERS_DIR_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "filters"


@dataclass(frozen=True)
class ModuleSource:
    name: str
    manifest: CapabilityManifest
    testdata: bool
    """Test modules for the harness, built beside the filters but never shipped."""


def discover(filters_dir: Path) -> dict[str, ModuleSource]:
    """Every module that has a capability manifest, by artifact name."""
    if not (filters_dir / "build.zig").is_file():
        raise ManifestError(f"{filters_dir}: no build.zig here; set {FILTERS_DIR_ENV} to meshveil's filters/")
    found: dict[str, ModuleSource] = {}
    manifests = sorted(filters_dir.glob("*/capabilities.json")) + sorted(
        (filters_dir / "testdata").glob("*.capabilities.json")
    )
    for path in manifests:
        manifest = CapabilityManifest.from_file(path)
        if manifest.module in found:
            raise ManifestError(f"{path}: module {manifest.module} is declared twice")
        found[manifest.module] = ModuleSource(
            manifest.module, manifest, testdata=path.parent.name == "testdata"
        )
    return found
