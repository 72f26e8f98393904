"""`--policy policy.yaml`: the plugin chain a policy deploys, with the configs compiled
from it, so a platform team can try a policy on recorded traffic in one command.

The chain is what the control plane serves (controlplane/policy/compile.py): the filters
the policy needs, in Envoy's chain order, each with its compiled config and the policy's
failure mode. Keys the policy names (hash tokens, format-preserving masks, fingerprints,
the behaviour filter's identity key) come from a key file, or are generated afresh for
the run (tokens then join within the run only, as they should for a trial). A replay
sends no telemetry unless a `TelemetrySink` says where (the demo gives each sidecar one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from controlplane.policy.compile import CHAIN_ORDER, FilterName, compile_filter_config, filters_for
from controlplane.policy.detector_ids import BuiltinCatalog
from controlplane.policy.errors import PolicyError
from controlplane.policy.filter_config import FilterConfigError
from controlplane.policy.load import load_policy
from controlplane.policy.mask_keys import EphemeralKeys, KeySource, MappedKeys
from controlplane.policy.model import FailureMode, Policy
from controlplane.policy.telemetry_sink import TelemetrySink
from harness.host.config import FailurePolicy, PluginConfig

REPLAYED_FILTERS = (FilterName.UEBA, FilterName.MASK, FilterName.DLP)
"""Filters a policy replay runs: every one a policy compiles to."""


class PolicyChainError(ValueError):
    """The policy, its keys or its modules cannot make a chain; the message says which."""


@dataclass(frozen=True)
class PolicyChain:
    plugins: list[PluginConfig]
    policy: Policy
    skipped: tuple[str, ...]
    """Filters the policy asks for that a replay does not run (with the reason in README)."""
    generated_keys: tuple[str, ...]
    """Names of keys made up for this run because no key file was given."""


def chain_from_policy(
    policy_path: Path,
    modules_dir: Path,
    key_file: Path | None = None,
    *,
    keys: KeySource | None = None,
    telemetry: TelemetrySink | None = None,
) -> PolicyChain:
    """`keys` (else the key file, else keys made up for the run) and `telemetry` go to the
    compiler as they are."""
    policy = read_policy(policy_path)
    if keys is None:
        keys = read_keys(key_file) if key_file is not None else EphemeralKeys()
    needed = filters_for(policy)
    plugins = []
    for name in CHAIN_ORDER:
        if name not in needed or name not in REPLAYED_FILTERS:
            continue
        module = modules_dir / f"{name.value}.wasm"
        if not module.is_file():
            raise PolicyChainError(
                f"{module}: no such module; build the filters first (meshveil build --out {modules_dir})"
            )
        try:
            configuration = compile_filter_config(policy, name, keys, telemetry=telemetry)
        except FilterConfigError as error:
            raise PolicyChainError(f"{policy_path}: {error}") from error
        plugins.append(
            PluginConfig(
                name=name.value, module=module, configuration=configuration, failure_policy=_failure(policy)
            )
        )
    skipped = tuple(name.value for name in needed if name not in REPLAYED_FILTERS)
    generated = keys.names() if isinstance(keys, EphemeralKeys) else ()
    return PolicyChain(plugins, policy, skipped, generated)


def read_policy(path: Path) -> Policy:
    try:
        text = path.read_bytes()
    except OSError as error:
        raise PolicyChainError(f"{path}: cannot read the policy ({error.strerror})") from error
    media_type = "application/json" if path.suffix == ".json" else "application/yaml"
    try:
        return load_policy(text, media_type, BuiltinCatalog(), base_dir=path.parent)
    except PolicyError as error:
        raise PolicyChainError(f"{path}: {error}") from error


def read_keys(path: Path) -> MappedKeys:
    """A YAML or JSON mapping of key name to the key as hex (16 to 64 bytes)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise PolicyChainError(f"{path}: cannot read the key file ({error})") from error
    if not isinstance(document, dict):
        raise PolicyChainError(f"{path}: a key file maps key names to hex keys")
    keys = {}
    for name, value in document.items():
        try:
            keys[str(name)] = bytes.fromhex(str(value))
        except ValueError as error:
            raise PolicyChainError(f"{path}: key {name!r} is not hex") from error
    try:
        return MappedKeys(keys)
    except ValueError as error:
        raise PolicyChainError(f"{path}: {error}") from error


def _failure(policy: Policy) -> FailurePolicy:
    return FailurePolicy.FAIL_OPEN if policy.failure is FailureMode.FAIL_OPEN else FailurePolicy.FAIL_CLOSED


def describe(chain: PolicyChain) -> str:
    """One line for the report's head: what runs, what was left out, which keys are made up."""
    parts = [
        f"policy {chain.policy.tenant}/{chain.policy.name}: " + " -> ".join(p.name for p in chain.plugins)
    ]
    if chain.skipped:
        parts.append(f"not replayed: {', '.join(chain.skipped)}")
    if chain.generated_keys:
        parts.append(f"keys generated for this run: {', '.join(chain.generated_keys)}")
    return "; ".join(parts)
