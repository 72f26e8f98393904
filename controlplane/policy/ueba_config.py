"""meshveil-ueba's config: what a policy's `behaviour` section compiles to.

The format is the one `filters/ueba/config.zig` parses (documented at its top): compact
JSON, every key the filter knows and nothing else. The identity hashing key comes from
the control plane's key material (`behaviour.identity_key_ref`, looked up in a
`KeySource`), the collector's address and the node's credential from whoever deploys the
config (`TelemetrySink`); neither is ever written in a policy.
"""

from __future__ import annotations

import hashlib
from typing import Any

from controlplane.policy.behaviour import Behaviour, IdentitySource
from controlplane.policy.filter_config import FilterConfigError
from controlplane.policy.mask_keys import KEY_BYTES_MAX, KEY_BYTES_MIN, KeySource
from controlplane.policy.model import Policy
from controlplane.policy.telemetry_sink import TelemetrySink
from controlplane.trust.encoding import canonical_json

STATE_NAMESPACE_BYTES_MAX = 64
"""filters/ueba/limits.zig, name_bytes_max."""
UEBA_CONFIG_BYTES_MAX = 64 * 1024
"""filters/ueba/limits.zig, config_bytes_max."""


def build_ueba_config(policy: Policy, keys: KeySource, sink: TelemetrySink | None) -> bytes:
    """The filter's config; without a sink the filter keeps its events to itself (and
    still records, tags, throttles and blocks)."""
    behaviour = policy.behaviour
    document: dict[str, Any] = {
        "identity_key": _identity_key(behaviour, keys),
        "state_namespace": state_namespace(policy),
        "entity_sources": [_source(source) for source in behaviour.identity_sources()],
        "group_sources": [_source(source) for source in behaviour.group_sources],
        "reveal_identities": sorted({kind.value for kind in behaviour.reveal_identities}),
        "tag_header": behaviour.tag_header,
        "window_seconds": behaviour.window_seconds,
        "warmup_windows": behaviour.warmup_windows,
        "ewma_alpha": behaviour.ewma_alpha,
        "max_entities": behaviour.max_entities,
        "max_groups": behaviour.max_groups,
        "entity_ttl_seconds": behaviour.entity_ttl_seconds,
        "score_features": [feature.value for feature in behaviour.score_features],
        "min_stddev": behaviour.min_stddev.model_dump(mode="json"),
        "bands": [band.model_dump(mode="json") for band in behaviour.score_bands()],
        "rules": [rule.model_dump(mode="json", exclude_none=True) for rule in behaviour.rules],
        "throttle_seconds": behaviour.throttle_seconds,
        "block_seconds": behaviour.block_seconds,
        "event_interval_seconds": behaviour.event_interval_seconds,
    }
    if sink is not None:
        document["telemetry"] = sink.document(policy.telemetry.delivery)
    config = canonical_json(document)
    if len(config) > UEBA_CONFIG_BYTES_MAX:
        raise FilterConfigError(
            f"behaviour: the compiled config takes {len(config)} bytes, over {UEBA_CONFIG_BYTES_MAX}"
        )
    return config


def state_namespace(policy: Policy) -> str:
    """Names the filter's shared data and queues: one per policy, so two policies' baselines
    never mix in one VM."""
    name = f"{policy.tenant}.{policy.name}"
    if len(name) <= STATE_NAMESPACE_BYTES_MAX:
        return name
    return f"{policy.tenant[:20]}.{hashlib.sha256(name.encode()).hexdigest()[:32]}"


def _identity_key(behaviour: Behaviour, keys: KeySource) -> str:
    key = keys.key(behaviour.identity_key_ref)
    if key is None:
        raise FilterConfigError(
            f"behaviour.identity_key_ref: no key named {behaviour.identity_key_ref!r} is available"
        )
    if not KEY_BYTES_MIN <= len(key) <= KEY_BYTES_MAX:
        raise FilterConfigError(
            f"behaviour.identity_key_ref: key {behaviour.identity_key_ref!r} has {len(key)} bytes; "
            f"expected {KEY_BYTES_MIN} to {KEY_BYTES_MAX}"
        )
    return key.hex()


def _source(source: IdentitySource) -> dict[str, str]:
    return source.model_dump(mode="json", exclude_none=True)
