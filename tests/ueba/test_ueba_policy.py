"""A policy's `behaviour` section is what meshveil-ueba runs: compiled by the control plane,
signed the way the ECDS server signs it, verified and applied by the real module in the
harness, which then throttles or blocks a planted exfiltration and leaves a normal
identity alone. Bad behaviour sections are refused with the field named."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from controlplane.modules.build import BuiltModule
from controlplane.policy.compile import FilterName, compile_filter_config, filters_for
from controlplane.policy.derived_keys import SECRET_FILE, DataKeyError, DerivedKeys, load_or_create_secret
from controlplane.policy.errors import PolicyError
from controlplane.policy.filter_config import FilterConfigError
from controlplane.policy.load import load_policy
from controlplane.policy.mask_keys import MappedKeys, NoKeys
from controlplane.policy.model import Policy
from controlplane.policy.telemetry_sink import TelemetrySink
from controlplane.trust.config_statement import ConfigStatement, ModuleIdentity, sign_config
from controlplane.xds.statement import signed_targets
from harness.host import FilterChain, Host, HostConfig, PluginConfig
from harness.host.clock import VirtualClock
from harness.host.outcome import ExchangeOutcome
from tests.trust.keys import NOW, KeyRing
from tests.ueba.ueba_support import (
    COLLECTOR,
    MODULE,
    Client,
    Collector,
    Deployment,
    Step,
    refused,
    steady_schedule,
)

PLUGIN = "meshveil-ueba"
NODE_ID = "sidecar~10.0.0.7~checkout-7d9f8b6c5-x2x9z.shop~shop.svc.cluster.local"
NODE_TOKEN = "mvn_" + "n0de-credential-for-test"
KEY_NAME = "shop-identity-key"

POLICY = f"""
api_version: meshveil.io/v1alpha1
kind: DataProtectionPolicy
name: shop-behaviour
tenant: shop
targets: {{workloads: [{{namespace: shop}}]}}
telemetry: {{delivery: {{batch_events: 4, timeout_ms: 2000}}}}
routes:
  - name: cards
    detectors:
      credit-card: {{action: alert}}
behaviour:
  enabled: true
  identity_key_ref: {KEY_NAME}
  entity_sources: [{{source: bearer_jwt}}, {{source: source_ip}}]
  group_sources: [{{source: peer_principal}}]
  window_seconds: 60
  warmup_windows: 5
  ewma_alpha: 0.2
  max_entities: 64
  min_stddev: {{findings: 5}}
  bands:
    - {{min_score: 6, action: tag}}
    - {{min_score: 10, action: throttle}}
    - {{min_score: 20, action: block}}
  rules:
    - {{name: card-volume, feature: findings, detector: credit-card, threshold: 500,
       window_seconds: 3600, action: block}}
""".encode()

ALICE = Client("alice", address="10.0.0.1:40001")
MALLORY = Client("mallory", address="10.0.0.3:40003")


def policy(text: bytes = POLICY) -> Policy:
    return load_policy(text, "application/yaml")


def signed(policy: Policy, module: BuiltModule, key_ring: KeyRing, config: bytes) -> bytes:
    """The bundle as controlplane/xds/statement.py builds it (targets by namespace), signed by
    the two release keys the session's trust root requires."""
    signers = [key_ring["release-1"], key_ring["release-2"]]
    statement = ConfigStatement(
        plugin=PLUGIN,
        version=1,
        issued_at=NOW - 60,
        expires=NOW + 3600,
        module=ModuleIdentity(module.name, module.build_id, module.sha256),
        targets=signed_targets(policy.targets),
        key_ids=tuple(signer.public_key.key_id for signer in signers),
        config=config,
    )
    return sign_config(statement, signers, ())


def test_a_compiled_behaviour_section_runs_in_the_filter_and_stops_a_planted_exfiltration(
    trusted_modules: dict[str, BuiltModule], key_ring: KeyRing
) -> None:
    compiled = policy()
    assert FilterName.UEBA in filters_for(compiled)
    keys = MappedKeys({KEY_NAME: secrets.token_bytes(32)})
    config = compile_filter_config(
        compiled, FilterName.UEBA, keys, telemetry=TelemetrySink(cluster=COLLECTOR, token=NODE_TOKEN)
    )
    module = trusted_modules[MODULE]
    collector = Collector()
    host = Host(
        HostConfig(
            workers=2,
            clock=VirtualClock(wall_nanos=NOW * 1_000_000_000),
            node_id=NODE_ID,
            node_metadata={"NAMESPACE": "shop", "WORKLOAD_NAME": "checkout"},
            upstreams={COLLECTOR: collector.upstream()},
        )
    )
    with host:
        plugin = host.load_plugin(
            PluginConfig(
                name=PLUGIN, module=module.path, configuration=signed(compiled, module, key_ring, config)
            )
        )
        messages = [record.message for record in host.logs]
        assert any("configuration version 1 accepted" in message for message in messages), messages
        assert any("configured: 2 entity sources, 1 rules" in message for message in messages), messages
        deployment = Deployment(host, plugin, FilterChain(host, [plugin]), collector)
        warm = steady_schedule([ALICE, MALLORY], minutes=7, per_minute=10, cards=(1, 3), workers=2, seed=3)
        results = _play_cards(deployment, warm)
        quiet = steady_schedule([ALICE], minutes=3, per_minute=10, cards=(1, 3), workers=2, seed=4)
        surge = steady_schedule([MALLORY], minutes=3, per_minute=10, cards=(50, 150), workers=2, seed=5)
        later = sorted(quiet + surge, key=lambda step: step.at_ms)
        results += _play_cards(deployment, later, start_ms=7 * 60_000)
        host.advance_time(10_000)

    assert all(refused(outcome) is None for step, outcome in results if step.client is ALICE)
    exfiltration = [outcome for step, outcome in results if step.client is MALLORY and step.cards >= 50]
    first = next(index for index, outcome in enumerate(exfiltration) if refused(outcome))
    assert first < 5, "the planted exfiltration was not stopped within five requests"
    statuses = [refused(outcome) for outcome in exfiltration[first:]]
    # A throttle ends after throttle_seconds (60): one response a minute may get through
    # and is scored again, until the policy's card-volume rule blocks the identity.
    assert statuses.count(None) <= 3, statuses
    assert statuses[-1] == 403, statuses
    # Its anomaly events reached the collector with the node's credential from the compile.
    assert collector.accepted, "no anomaly event was delivered"
    assert all(("authorization", f"Bearer {NODE_TOKEN}") in request.headers for request in collector.batches)
    assert "mallory" not in json.dumps(list(collector.accepted.values()))


def _play_cards(
    deployment: Deployment, steps: list[Step], start_ms: int = 0
) -> list[tuple[Step, ExchangeOutcome]]:
    """As `play`, with the findings tag named as the DLP filter names the policy's detector."""
    results = []
    for step in steps:
        wait = start_ms + step.at_ms - deployment.host.clock.monotonic_ms
        if wait > 0:
            deployment.host.advance_time(wait)
        findings = {"credit-card": step.cards} if step.cards else None
        results.append((step, deployment.run(step.client, step.worker, findings=findings)))
    return results


def test_the_compiled_config_takes_its_secrets_from_the_control_plane() -> None:
    compiled = policy()
    key = secrets.token_bytes(32)
    config = json.loads(compile_filter_config(compiled, FilterName.UEBA, MappedKeys({KEY_NAME: key})))
    assert config["identity_key"] == key.hex()
    assert "telemetry" not in config, "without a sink the filter has nowhere to send"
    assert config["rules"] == [
        {
            "name": "card-volume",
            "feature": "findings",
            "detector": "credit-card",
            "threshold": 500,
            "window_seconds": 3600,
            "action": "block",
        }
    ]
    assert config["state_namespace"] == "shop.shop-behaviour"
    with pytest.raises(
        FilterConfigError, match=r"behaviour\.identity_key_ref: no key named 'shop-identity-key'"
    ):
        compile_filter_config(compiled, FilterName.UEBA, NoKeys())


def test_the_shorthand_fields_compile_to_one_band_and_a_header_source() -> None:
    text = POLICY.split(b"behaviour:")[0] + b"behaviour:\n  enabled: true\n  identity_header: x-user-id\n"
    text += b"  anomaly_threshold: 5\n  action: throttle\n"
    key = MappedKeys({"behaviour-identity-key": secrets.token_bytes(16)})
    config = json.loads(compile_filter_config(policy(text), FilterName.UEBA, key))
    assert config["bands"] == [{"min_score": 5.0, "action": "throttle"}]
    assert config["entity_sources"][0] == {"source": "header", "header": "x-user-id"}


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ("detector: credit-card", "behaviour.rules[0].detector", "'iban-code' is not enabled on any route"),
        (
            "entity_sources: [{source: bearer_jwt}, {source: source_ip}]",
            "behaviour.entity_sources[0]",
            "needs a header",
        ),
        ("warmup_windows: 5", "behaviour.warmup_windows", "must be >= 1"),
        (
            "- {min_score: 20, action: block}",
            "behaviour",
            "bands[2].min_score: must be above the band before it",
        ),
    ],
)
def test_bad_behaviour_sections_are_refused_naming_the_field(change: str, path: str, message: str) -> None:
    replacements = {
        "detector: credit-card": "detector: iban-code",
        "entity_sources: [{source: bearer_jwt}, {source: source_ip}]": (
            "entity_sources: [{source: api_key_header}]"
        ),
        "warmup_windows: 5": "warmup_windows: 0",
        "- {min_score: 20, action: block}": "- {min_score: 9, action: block}",
    }
    text = POLICY.replace(change.encode(), replacements[change].encode())
    with pytest.raises(PolicyError) as raised:
        policy(text)
    problems = [str(problem) for problem in raised.value.problems]
    assert any(said.startswith(path) and message in said for said in problems), problems


def test_the_control_plane_derives_each_tenants_keys_from_its_own_secret(tmp_path: Path) -> None:
    secret = load_or_create_secret(tmp_path / "keys")
    assert (tmp_path / "keys" / SECRET_FILE).stat().st_mode & 0o777 == 0o600
    assert load_or_create_secret(tmp_path / "keys") == secret, (
        "a restart (or a replica) reads the same secret"
    )
    shop, other = DerivedKeys(secret, "shop"), DerivedKeys(secret, "payments")
    assert shop.key(KEY_NAME) == DerivedKeys(secret, "shop").key(KEY_NAME)
    assert shop.key(KEY_NAME) != other.key(KEY_NAME) != shop.key("another-name")
    config = json.loads(compile_filter_config(policy(), FilterName.UEBA, shop))
    assert config["identity_key"] == shop.key(KEY_NAME).hex()  # type: ignore[union-attr]
    (tmp_path / "keys" / SECRET_FILE).chmod(0o644)
    with pytest.raises(DataKeyError, match="accessible by others"):
        load_or_create_secret(tmp_path / "keys")
