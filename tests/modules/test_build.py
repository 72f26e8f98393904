"""`meshveil build`: modules that validate, carry their manifests, and reproduce byte for byte."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import wasmtime

from controlplane.cli import main
from controlplane.modules.build import BuildError, BuiltModule, build_modules
from controlplane.modules.capabilities import CAPABILITIES_SECTION, CapabilityManifest
from controlplane.modules.wasm_binary import parse

FILTERS = ("meshveil-dlp", "meshveil-mask", "meshveil-ueba")


def test_every_filter_is_built(built_modules: dict[str, BuiltModule]) -> None:
    for name in FILTERS:
        module = built_modules[name]
        assert module.path.is_file()
        assert not module.testdata
        assert module.size == module.path.stat().st_size
        # Release builds are stripped and small; the design bounds a filter at 1 MiB.
        assert module.size < 1024 * 1024


def test_modules_import_only_proxy_wasm_functions(built_modules: dict[str, BuiltModule]) -> None:
    for module in built_modules.values():
        parsed = parse(module.path.read_bytes())
        assert parsed.imports, module.name
        for item in parsed.imports:
            assert item.module == "env", f"{module.name} imports {item.module}.{item.name}"
            assert item.name.startswith("proxy_")
        # wasm32-freestanding: no WASI entry points, no start function.
        exported = {export.name for export in parsed.exports}
        assert "_start" not in exported and parsed.start_function is None


def test_embedded_manifest_matches_the_source(
    built_modules: dict[str, BuiltModule], filters_dir: Path
) -> None:
    module = built_modules["meshveil-dlp"]
    sections = parse(module.path.read_bytes()).custom_sections[CAPABILITIES_SECTION]
    embedded = CapabilityManifest.from_json(sections[0], "section")
    assert embedded == CapabilityManifest.from_file(filters_dir / "dlp" / "capabilities.json")


def test_build_report_lists_hashes(built_modules: dict[str, BuiltModule]) -> None:
    out_dir = built_modules["meshveil-dlp"].path.parent
    report = json.loads((out_dir / "modules.json").read_text())
    by_name = {entry["name"]: entry for entry in report["modules"]}
    assert by_name["meshveil-dlp"]["sha256"] == built_modules["meshveil-dlp"].sha256
    assert by_name["abi-probe"]["file"] == "testdata/abi-probe.wasm"


def test_built_module_instantiates_in_wasmtime(built_modules: dict[str, BuiltModule]) -> None:
    engine = wasmtime.Engine()
    module = wasmtime.Module.from_file(engine, str(built_modules["meshveil-dlp"].path))
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    linker.allow_shadowing = True
    for item in module.imports:
        linker.define_func(item.module, item.name, item.type, lambda *args: 0)
    instance = linker.instantiate(store, module)
    assert "proxy_on_request_headers" in instance.exports(store)


@pytest.mark.slow
def test_two_clean_builds_are_byte_identical(tmp_path: Path, filters_dir: Path) -> None:
    first = build_modules(tmp_path / "a", filters_dir, cache_dir=tmp_path / "cache-a")
    second = build_modules(tmp_path / "b", filters_dir, cache_dir=tmp_path / "cache-b")
    assert [module.sha256 for module in first] == [module.sha256 for module in second]
    assert len(first) >= 4


def test_failed_build_leaves_previous_modules_intact(
    tmp_path: Path,
    filters_dir: Path,
    built_modules: dict[str, BuiltModule],
    capsys: pytest.CaptureFixture[str],
) -> None:
    broken = tmp_path / "filters"
    shutil.copytree(filters_dir, broken, ignore=shutil.ignore_patterns(".zig-cache", "zig-out"))
    main_zig = broken / "dlp" / "main.zig"
    main_zig.write_text(
        main_zig.read_text() + '\nconst broken: u32 = "not a number";\ncomptime { _ = broken; }\n'
    )
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    previous = built_modules["meshveil-dlp"].path.read_bytes()
    (out_dir / "meshveil-dlp.wasm").write_bytes(previous)

    with pytest.raises(BuildError, match="zig build failed"):
        build_modules(out_dir, broken)
    assert (out_dir / "meshveil-dlp.wasm").read_bytes() == previous
    assert sorted(path.name for path in out_dir.iterdir()) == ["meshveil-dlp.wasm"]

    assert main(["build", "--filters", str(broken), "--out", str(out_dir)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1].startswith("meshveil: error: zig build failed")
    assert "expected type 'u32'" in error[-1]


def test_build_without_a_manifest_is_refused(tmp_path: Path, filters_dir: Path) -> None:
    copy = tmp_path / "filters"
    shutil.copytree(filters_dir, copy, ignore=shutil.ignore_patterns(".zig-cache", "zig-out"))
    (copy / "ueba" / "capabilities.json").unlink()
    with pytest.raises(BuildError, match="meshveil-ueba"):
        build_modules(tmp_path / "out", copy)


@pytest.mark.slow
def test_keep_names_builds_modules_a_profiler_can_name(
    tmp_path: Path, filters_dir: Path, built_modules: dict[str, BuiltModule]
) -> None:
    named = {module.name: module for module in build_modules(tmp_path, filters_dir, keep_names=True)}
    shipped = parse(built_modules["meshveil-dlp"].path.read_bytes())
    profiled = parse(named["meshveil-dlp"].path.read_bytes())
    assert "name" not in shipped.custom_sections
    # The name section lists Zig's function names, e.g. the engine's scan loop.
    assert b"Scanner.collect" in profiled.custom_sections["name"][0]
