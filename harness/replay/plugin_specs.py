"""`--plugin` values: a module path, or settings that describe one plugin of the chain.

    --plugin build/filters/meshveil-dlp.wasm
    --plugin name=dlp,module=build/filters/meshveil-dlp.wasm,config=@dlp.json,failure=fail_open

Settings (comma-separated key=value; a value cannot contain a comma, so put long
configurations in a file and write `config=@FILE`):

    name          the filter's name in reports (default: the module's file name without .wasm)
    module        path of the .wasm module (required)
    config        plugin configuration: text, or @FILE for a file's bytes
    vm_config     VM configuration: text, or @FILE
    root_id       root context id the plugin's configuration is addressed to
    vm_id         VM id; plugins with the same vm_id and module share a VM, as in Envoy
    failure       fail_closed (default), fail_open or fail_reload
    deadline_ms   per-callback deadline in milliseconds
    memory_limit  linear memory ceiling in bytes
    allow         capabilities the plugin may use, separated by '+' (default: all)

The result is a `PluginConfig` per plugin, in chain order; a policy file (a later
`--policy` option) only needs to produce the same list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.host.config import FailurePolicy, PluginConfig

_FAILURE_POLICIES = {policy.value: policy for policy in FailurePolicy}


class PluginSpecError(ValueError):
    pass


def parse_plugin_specs(specs: Sequence[str], base_dir: Path | None = None) -> list[PluginConfig]:
    """One `PluginConfig` per spec, in chain order; filter names must be unique."""
    configs = [parse_plugin_spec(spec, base_dir) for spec in specs]
    seen: set[str] = set()
    for spec, config in zip(specs, configs, strict=True):
        if config.name in seen:
            raise PluginSpecError(
                f"--plugin {spec!r}: a filter named {config.name!r} is already in the chain"
            )
        seen.add(config.name)
    return configs


def parse_plugin_spec(spec: str, base_dir: Path | None = None) -> PluginConfig:
    base = base_dir or Path.cwd()
    settings = _settings(spec)
    module = settings.pop("module", None)
    if module is None:
        raise PluginSpecError(f"--plugin {spec!r}: module=PATH is required")
    module_path = _existing_file(base / module, spec)
    arguments: dict[str, Any] = {"name": settings.pop("name", None) or module_path.name.removesuffix(".wasm")}
    for key, value in settings.items():
        arguments[_KEYWORDS[key][0]] = _KEYWORDS[key][1](value, spec, base)
    try:
        return PluginConfig(module=module_path, **arguments)
    except ValueError as error:
        raise PluginSpecError(f"--plugin {spec!r}: {error}") from error


def _settings(spec: str) -> dict[str, str]:
    if "=" not in spec:
        return {"module": spec}
    settings: dict[str, str] = {}
    for part in spec.split(","):
        key, separator, value = part.partition("=")
        key = key.strip()
        if not separator or not key:
            raise PluginSpecError(f"--plugin {spec!r}: {part!r} is not key=value")
        if key not in _KEYWORDS and key not in ("module", "name"):
            known = ", ".join(sorted([*_KEYWORDS, "module", "name"]))
            raise PluginSpecError(f"--plugin {spec!r}: unknown setting {key!r} (known: {known})")
        if key in settings:
            raise PluginSpecError(f"--plugin {spec!r}: {key} is given twice")
        settings[key] = value.strip()
    return settings


def _existing_file(path: Path, spec: str) -> Path:
    if not path.is_file():
        raise PluginSpecError(f"--plugin {spec!r}: no such file {path}")
    return path


def _bytes_or_file(value: str, spec: str, base: Path) -> bytes:
    if value.startswith("@"):
        path = _existing_file(base / value[1:], spec)
        return path.read_bytes()
    return value.encode("utf-8")


def _text(value: str, spec: str, base: Path) -> str:
    return value


def _failure(value: str, spec: str, base: Path) -> FailurePolicy:
    if value not in _FAILURE_POLICIES:
        raise PluginSpecError(
            f"--plugin {spec!r}: failure {value!r} is not one of {', '.join(_FAILURE_POLICIES)}"
        )
    return _FAILURE_POLICIES[value]


def _positive_int(value: str, spec: str, base: Path) -> int:
    if not value.isdigit() or int(value) <= 0:
        raise PluginSpecError(f"--plugin {spec!r}: {value!r} is not a positive whole number")
    return int(value)


def _capabilities(value: str, spec: str, base: Path) -> frozenset[str]:
    return frozenset(name.strip() for name in value.split("+") if name.strip())


_KEYWORDS: dict[str, tuple[str, Callable[[str, str, Path], Any]]] = {
    "config": ("configuration", _bytes_or_file),
    "vm_config": ("vm_configuration", _bytes_or_file),
    "root_id": ("root_id", _text),
    "vm_id": ("vm_id", _text),
    "failure": ("failure_policy", _failure),
    "deadline_ms": ("callback_deadline_ms", _positive_int),
    "memory_limit": ("memory_limit_bytes", _positive_int),
    "allow": ("allowed_capabilities", _capabilities),
}
