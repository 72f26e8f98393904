"""`--plugin` values become PluginConfigs in chain order, with errors that name the spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.host.config import FailurePolicy
from harness.replay.plugin_specs import PluginSpecError, parse_plugin_spec, parse_plugin_specs


@pytest.fixture
def module_dir(tmp_path: Path) -> Path:
    for name in ("meshveil-dlp.wasm", "meshveil-mask.wasm"):
        (tmp_path / name).write_bytes(b"\0asm\x01\0\0\0")
    (tmp_path / "dlp.json").write_text('{"detectors": ["card", "iban"]}')
    return tmp_path


def test_bare_path_names_the_filter_after_the_file(module_dir: Path) -> None:
    config = parse_plugin_spec("meshveil-dlp.wasm", module_dir)
    assert config.name == "meshveil-dlp"
    assert config.module == module_dir / "meshveil-dlp.wasm"
    assert config.configuration == b""
    assert config.failure_policy is FailurePolicy.FAIL_CLOSED


def test_settings_fill_every_plugin_field(module_dir: Path) -> None:
    config = parse_plugin_spec(
        "name=dlp,module=meshveil-dlp.wasm,config=@dlp.json,vm_config=fast,root_id=r1,vm_id=shared,"
        "failure=fail_open,deadline_ms=250,memory_limit=1048576,allow=proxy_log+proxy_get_buffer_bytes",
        module_dir,
    )
    assert config.name == "dlp"
    assert config.configuration == b'{"detectors": ["card", "iban"]}'
    assert config.vm_configuration == b"fast"
    assert (config.root_id, config.vm_id) == ("r1", "shared")
    assert config.failure_policy is FailurePolicy.FAIL_OPEN
    assert config.callback_deadline_ms == 250
    assert config.memory_limit_bytes == 1048576
    assert config.allowed_capabilities == frozenset({"proxy_log", "proxy_get_buffer_bytes"})


def test_chain_keeps_order(module_dir: Path) -> None:
    chain = parse_plugin_specs(["meshveil-mask.wasm", "name=dlp,module=meshveil-dlp.wasm"], module_dir)
    assert [config.name for config in chain] == ["meshveil-mask", "dlp"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("missing.wasm", "no such file"),
        ("name=dlp", "module=PATH is required"),
        ("module=meshveil-dlp.wasm,modul=x", "unknown setting 'modul' (known: allow, config,"),
        ("module=meshveil-dlp.wasm,name", "'name' is not key=value"),
        ("module=meshveil-dlp.wasm,name=a,name=b", "name is given twice"),
        (
            "module=meshveil-dlp.wasm,failure=explode",
            "failure 'explode' is not one of fail_closed, fail_open, fail_reload",
        ),
        ("module=meshveil-dlp.wasm,deadline_ms=-5", "'-5' is not a positive whole number"),
        ("module=meshveil-dlp.wasm,config=@nope.json", "no such file"),
        ("module=meshveil-dlp.wasm,memory_limit=1000", "memory_limit_bytes must be at least one page"),
    ],
)
def test_bad_specs_name_the_spec_and_the_problem(module_dir: Path, spec: str, message: str) -> None:
    with pytest.raises(PluginSpecError) as caught:
        parse_plugin_spec(spec, module_dir)
    assert str(caught.value).startswith(f"--plugin {spec!r}: ")
    assert message in str(caught.value)


def test_duplicate_filter_names_are_refused(module_dir: Path) -> None:
    with pytest.raises(PluginSpecError, match="a filter named 'meshveil-dlp' is already in the chain"):
        parse_plugin_specs(["meshveil-dlp.wasm", "meshveil-dlp.wasm"], module_dir)
