"""`meshveil build`: compiles the filters with Zig and writes deployable modules.

The Zig build runs in a staging folder; each artifact then gets its capability manifest
and its build record (`meshveil.build`: name, build id, compiled trust version) embedded
as custom sections and is moved into the output folder whole (write to a temporary name,
then rename), so a failed build never leaves a half-written module. With a trust root,
its current state is compiled into the filters as the anchors they verify configs with;
the build id is stamped in after compiling (see `controlplane/trust/anchors.py`).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from controlplane.modules.capabilities import CAPABILITIES_SECTION
from controlplane.modules.sources import ModuleSource, discover
from controlplane.modules.toolchain import default_cache_dir, require_pinned_zig, zig_command
from controlplane.modules.wasm_binary import custom_section
from controlplane.trust.anchors import Anchors, stamp_build_id
from controlplane.trust.build_info import BUILD_SECTION, BuildInfo
from controlplane.trust.trust_root import TrustRoot

OPTIMIZE_MODES = ("ReleaseSmall", "ReleaseFast", "ReleaseSafe", "Debug")
BUILD_REPORT_NAME = "modules.json"


class BuildError(RuntimeError):
    """A build that did not finish; `detail` holds the compiler's diagnostics, if any."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True)
class BuiltModule:
    name: str
    path: Path
    sha256: str
    size: int
    testdata: bool
    capabilities: tuple[str, ...]
    build_id: str = ""
    trust_version: int | None = None
    """Version of the trust state compiled in; None when configs are not verified."""


def build_modules(
    out_dir: Path,
    filters_dir: Path,
    *,
    optimize: str = "ReleaseFast",
    cache_dir: Path | None = None,
    trust_root: TrustRoot | None = None,
    keep_names: bool = False,
) -> list[BuiltModule]:
    if optimize not in OPTIMIZE_MODES:
        raise BuildError(f"unknown optimisation mode {optimize!r}; choose one of {', '.join(OPTIMIZE_MODES)}")
    require_pinned_zig()
    sources = discover(filters_dir)
    cache = (cache_dir or default_cache_dir()).resolve()
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    state = trust_root.current if trust_root else None
    anchors = Anchors(state)
    anchors_path = anchors.write(cache)
    with tempfile.TemporaryDirectory(prefix="meshveil-build-", dir=out_dir) as staging_name:
        staging = Path(staging_name)
        _run_zig_build(filters_dir, staging, optimize, cache, anchors_path, keep_names=keep_names)
        artifacts = sorted(staging.glob("*.wasm"))
        missing = sorted({path.stem for path in artifacts} - set(sources))
        if missing:
            raise BuildError(f"no capabilities.json declares module(s): {', '.join(missing)}")
        built = [_finish(path, sources[path.stem], out_dir, anchors) for path in artifacts]
    _write_report(out_dir, built)
    return built


def _run_zig_build(
    filters_dir: Path, prefix: Path, optimize: str, cache: Path, anchors: Path, *, keep_names: bool
) -> None:
    command = [
        *zig_command(),
        "build",
        f"-Doptimize={optimize}",
        f"-Dtrust-anchors={anchors}",
        f"-Dkeep-names={'true' if keep_names else 'false'}",
        "--prefix",
        str(prefix),
        "--cache-dir",
        str(cache / "local"),
        "--global-cache-dir",
        str(cache / "global"),
    ]
    completed = subprocess.run(command, cwd=filters_dir, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        detail = completed.stderr.strip() or completed.stdout.strip()
        first_error = next(
            (line for line in detail.splitlines() if "error:" in line), "see diagnostics above"
        )
        raise BuildError(f"zig build failed in {filters_dir}: {first_error.strip()}", detail)


def _finish(artifact: Path, source: ModuleSource, out_dir: Path, anchors: Anchors) -> BuiltModule:
    code, build_id = stamp_build_id(artifact.read_bytes())
    build_info = BuildInfo(source.name, build_id, anchors.trust_version)
    data = (
        code
        + custom_section(CAPABILITIES_SECTION, source.manifest.to_json())
        + custom_section(BUILD_SECTION, build_info.to_json())
    )
    destination_dir = out_dir / "testdata" if source.testdata else out_dir
    destination_dir.mkdir(parents=True, exist_ok=True)
    destination = destination_dir / artifact.name
    temporary = destination.with_suffix(".wasm.partial")
    temporary.write_bytes(data)
    temporary.replace(destination)
    return BuiltModule(
        name=source.name,
        path=destination,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        testdata=source.testdata,
        capabilities=tuple(sorted(source.manifest.capabilities)),
        build_id=build_info.build_id,
        trust_version=build_info.trust_version,
    )


def _write_report(out_dir: Path, built: list[BuiltModule]) -> None:
    report = {
        "modules": [
            {
                "name": module.name,
                "file": str(module.path.relative_to(out_dir)),
                "sha256": module.sha256,
                "size": module.size,
                "testdata": module.testdata,
                "capabilities": list(module.capabilities),
                "build_id": module.build_id,
                "trust_version": module.trust_version,
            }
            for module in built
        ]
    }
    temporary = out_dir / (BUILD_REPORT_NAME + ".partial")
    temporary.write_text(json.dumps(report, indent=2) + "\n")
    temporary.replace(out_dir / BUILD_REPORT_NAME)
