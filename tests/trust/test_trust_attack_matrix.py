"""The attack matrix: each attack on what the control plane ships, run through the harness
against the real built filter. Every test asserts who refused it and why, and that traffic
still flows through the filter under the last good configuration.

Config rows follow TUF's attack list; module rows are refused by the control plane's gate
(and, for capabilities, by the host's capability restriction as well). Each config
refusal is also checked against the control plane's Python mirror of the filter's checks,
so the two cannot drift apart.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator

import pytest

from controlplane.modules.build import BuiltModule
from controlplane.modules.wasm_binary import SectionId, parse
from controlplane.policy.compile import FilterName, compile_filter_config
from controlplane.policy.load import load_policy
from controlplane.trust.admission import AdmissionRequest
from controlplane.trust.capability_restriction import allowed_capabilities
from controlplane.trust.claims import module_hash, read_claims
from controlplane.trust.config_statement import BUNDLE_BYTES_MAX, Targets, Workload
from controlplane.trust.config_verification import verify_bundle
from controlplane.trust.errors import RefusedError
from controlplane.trust.module_signing import ClaimRequest, sign_with_claims
from controlplane.trust.trust_root import TrustRoot
from controlplane.trust.trust_state import next_state, sign_statement
from harness.host.errors import PluginLoadError
from tests.trust.bundles import HOUR, Target, bundle
from tests.trust.conftest import NOW, KeyRing
from tests.trust.sidecar import Sidecar, passed_through

DAY = 86400
GOOD_POLICY = (
    b"api_version: meshveil.io/v1alpha1\n"
    b"kind: DataProtectionPolicy\n"
    b"name: attack-matrix\n"
    b"tenant: shop\n"
    b"targets: {workloads: [{namespace: shop}]}\n"
    b"routes:\n"
    b"  - name: exports\n"
    b"    detectors: {credit-card: {action: block, threshold: 10}, iban-code: {action: alert}}\n"
)


@functools.cache
def good_config() -> bytes:
    """A real compiled DLP config (cards blocked above 10, IBANs alerted): what version 1 runs."""
    return compile_filter_config(load_policy(GOOD_POLICY, "application/yaml"), FilterName.DLP)


def signed_module(
    module: BuiltModule, key_ring: KeyRing, issuer: str = "release-1", **claims: object
) -> bytes:
    request = ClaimRequest(now=NOW, valid_for_seconds=30 * DAY, version="1.0.0", **claims)  # type: ignore[arg-type]
    return sign_with_claims(module.path.read_bytes(), key_ring[issuer], request=request).signed.module


@pytest.fixture(scope="module")
def dlp_module(trusted_modules: dict[str, BuiltModule], key_ring: KeyRing) -> bytes:
    return signed_module(trusted_modules["meshveil-dlp"], key_ring)


@pytest.fixture(scope="module")
def target(trusted_modules: dict[str, BuiltModule], dlp_module: bytes) -> Target:
    return Target("meshveil-dlp", trusted_modules["meshveil-dlp"].build_id, module_hash(dlp_module))


@pytest.fixture
def sidecar(target: Target, dlp_module: bytes, key_ring: KeyRing, trust_root: TrustRoot) -> Iterator[Sidecar]:
    """A sidecar running the admitted dlp module with config version 1."""
    running = Sidecar(target, NOW)
    running.deploy_module(dlp_module, AdmissionRequest(trust_root.current, NOW))
    running.push_config(bundle(target, key_ring, 1, good_config()))
    assert running.config_version == 1 and running.refusals() == []
    yield running
    running.host.close()


def assert_still_serving(sidecar: Sidecar, version: int = 1) -> None:
    assert sidecar.config_version == version
    outcome = sidecar.serve()
    assert passed_through(outcome, sidecar.target.plugin), outcome


def assert_config_refused(sidecar: Sidecar, raw: bytes, reason: str, trust_root: TrustRoot) -> None:
    """The filter refuses `raw` for `reason`, the Python mirror agrees, and version 1 keeps serving."""
    with pytest.raises(RefusedError) as mirrored:
        verify_bundle(raw, trust_root.current, sidecar.target.facts(sidecar.now), sidecar.config_version)
    assert mirrored.value.reason == reason
    sidecar.push_config(raw)
    assert sidecar.refusals()[-1:] == [reason]
    assert_still_serving(sidecar)


# -- Configs: TUF's attacks ---------------------------------------------------------------


def test_arbitrary_config_signed_by_an_unknown_key(
    sidecar: Sidecar, key_ring: KeyRing, trust_root: TrustRoot
) -> None:
    attack = bundle(sidecar.target, key_ring, 2, b"detectors: none", signers=("attacker",))
    assert_config_refused(sidecar, attack, "unknown_key", trust_root)


def test_unsigned_config(sidecar: Sidecar, trust_root: TrustRoot) -> None:
    assert_config_refused(sidecar, b"detectors: none", "not_signed", trust_root)


def test_tampered_config(sidecar: Sidecar, key_ring: KeyRing, trust_root: TrustRoot) -> None:
    document = json.loads(bundle(sidecar.target, key_ring, 2, good_config()))
    forged = json.loads(bundle(sidecar.target, key_ring, 2, b"detectors: none", signers=("attacker",)))
    document["config"]["payload"] = forged["config"]["payload"]
    assert_config_refused(sidecar, json.dumps(document).encode(), "bad_signature", trust_root)


def test_rollback_to_an_older_signed_config(
    sidecar: Sidecar, key_ring: KeyRing, trust_root: TrustRoot
) -> None:
    old = bundle(sidecar.target, key_ring, 1, b"detectors: cards only")
    sidecar.push_config(bundle(sidecar.target, key_ring, 2, good_config()))
    assert sidecar.config_version == 2
    sidecar.push_config(old)
    assert sidecar.refusals() == ["rollback"]
    assert_still_serving(sidecar, version=2)
    with pytest.raises(RefusedError, match="not newer"):
        verify_bundle(old, trust_root.current, sidecar.target.facts(NOW), 2)


def test_fast_forward_with_one_compromised_key(
    sidecar: Sidecar, key_ring: KeyRing, trust_root: TrustRoot
) -> None:
    # One stolen key signs a version far ahead, to lock out every later legitimate update.
    attack = bundle(sidecar.target, key_ring, 2**52, b"detectors: none", signers=("release-3",))
    assert_config_refused(sidecar, attack, "below_threshold", trust_root)
    sidecar.push_config(bundle(sidecar.target, key_ring, 2, good_config()))
    assert_still_serving(sidecar, version=2)


def test_indefinite_freeze_replaying_an_expired_config(
    sidecar: Sidecar, key_ring: KeyRing, trust_root: TrustRoot
) -> None:
    # The attacker keeps serving the config of an hour ago once it has expired.
    stale = bundle(sidecar.target, key_ring, 2, good_config())
    sidecar.advance(HOUR + 1)
    assert_config_refused(sidecar, stale, "expired", trust_root)


def test_config_dated_in_the_future(sidecar: Sidecar, key_ring: KeyRing, trust_root: TrustRoot) -> None:
    future = bundle(sidecar.target, key_ring, 2, good_config(), issued_at=NOW + DAY, expires=NOW + 2 * DAY)
    assert_config_refused(sidecar, future, "not_yet_valid", trust_root)


def test_mix_and_match_a_config_for_another_module(
    sidecar: Sidecar, key_ring: KeyRing, trust_root: TrustRoot, trusted_modules: dict[str, BuiltModule]
) -> None:
    mask = Target("meshveil-mask", trusted_modules["meshveil-mask"].build_id)
    assert_config_refused(sidecar, bundle(mask, key_ring, 2, b"mask: all"), "wrong_module", trust_root)


def test_mix_and_match_a_config_for_another_build(
    sidecar: Sidecar, key_ring: KeyRing, trust_root: TrustRoot
) -> None:
    older_build = Target("meshveil-dlp", "0" * 64)
    assert_config_refused(
        sidecar, bundle(older_build, key_ring, 2, good_config()), "wrong_module", trust_root
    )


def test_config_for_another_target(sidecar: Sidecar, key_ring: KeyRing, trust_root: TrustRoot) -> None:
    elsewhere = Targets(
        nodes=("sidecar~10.9.9.9~payments-1.pay~pay.svc.cluster.local",), workloads=(Workload("pay", "*"),)
    )
    attack = bundle(sidecar.target, key_ring, 2, b"detectors: none", targets=elsewhere)
    assert_config_refused(sidecar, attack, "wrong_target", trust_root)


def test_config_for_another_plugin(sidecar: Sidecar, key_ring: KeyRing, trust_root: TrustRoot) -> None:
    attack = bundle(sidecar.target, key_ring, 2, b"detectors: none", plugin="dlp-outbound")
    assert_config_refused(sidecar, attack, "wrong_plugin", trust_root)


def test_endless_data(sidecar: Sidecar, trust_root: TrustRoot) -> None:
    assert_config_refused(sidecar, b"{" + b" " * BUNDLE_BYTES_MAX + b"}", "too_large", trust_root)


def test_key_compromise_below_threshold(sidecar: Sidecar, key_ring: KeyRing, trust_root: TrustRoot) -> None:
    attack = bundle(sidecar.target, key_ring, 2, b"detectors: none", signers=("release-2", "attacker"))
    assert_config_refused(sidecar, attack, "below_threshold", trust_root)


def test_config_signed_with_a_revoked_key(sidecar: Sidecar, key_ring: KeyRing, trust_root: TrustRoot) -> None:
    current = trust_root.current
    revoked = next_state(current, revoke=[key_ring["release-3"].public_key.key_id])
    revocation = sign_statement(current, revoked, [key_ring["release-1"], key_ring["release-2"]], NOW)
    sidecar.push_config(bundle(sidecar.target, key_ring, 2, good_config(), trust=[revocation]))
    assert sidecar.config_version == 2
    attack = bundle(
        sidecar.target, key_ring, 3, b"detectors: none", signers=("release-3", "ci"), trust=[revocation]
    )
    sidecar.push_config(attack)
    assert sidecar.refusals() == ["revoked_key"]
    assert_still_serving(sidecar, version=2)


def test_rotation_moves_trust_without_a_rebuild_and_travels_with_configs(
    sidecar: Sidecar, key_ring: KeyRing, trust_root: TrustRoot, dlp_module: bytes
) -> None:
    current = trust_root.current
    rotated = next_state(
        current, keys=[key_ring["ci"].public_key, key_ring["release-3"].public_key], threshold=1
    )
    rotation = sign_statement(current, rotated, [key_ring["release-1"], key_ring["release-2"]], NOW)
    sidecar.push_config(bundle(sidecar.target, key_ring, 2, good_config(), signers=("ci",), trust=[rotation]))
    assert sidecar.config_version == 2 and sidecar.refusals() == []
    # The old keys are out, even with the threshold of them.
    sidecar.push_config(bundle(sidecar.target, key_ring, 3, good_config(), trust=[rotation]))
    assert sidecar.refusals() == ["unknown_key"]
    assert_still_serving(sidecar, version=2)
    # A restarted VM starts from the compiled keys: the statement must come along again.
    restarted = Sidecar(sidecar.target, NOW)
    restarted.deploy_module(dlp_module, AdmissionRequest(trust_root.current, NOW))
    with pytest.raises(PluginLoadError, match="rejected its configuration"):
        restarted.push_config(bundle(sidecar.target, key_ring, 3, good_config(), signers=("ci",)))
    restarted.push_config(
        bundle(sidecar.target, key_ring, 3, good_config(), signers=("ci",), trust=[rotation])
    )
    assert_still_serving(restarted, version=3)
    restarted.host.close()


def test_a_fresh_vm_with_nothing_to_keep_rejects_the_config(
    target: Target, dlp_module: bytes, key_ring: KeyRing, trust_root: TrustRoot
) -> None:
    # Envoy's configuration canary is a fresh VM: a refusal there answers false, so Envoy
    # rejects the update and the previous filter config stays in service.
    fresh = Sidecar(target, NOW)
    fresh.deploy_module(dlp_module, AdmissionRequest(trust_root.current, NOW))
    with pytest.raises(PluginLoadError, match="rejected its configuration"):
        fresh.push_config(bundle(target, key_ring, 1, good_config(), signers=("attacker",)))
    assert fresh.refusals() == ["unknown_key"]
    fresh.host.close()


# -- Modules ------------------------------------------------------------------------------


def assert_module_refused(sidecar: Sidecar, module: bytes, reason: str, trust_root: TrustRoot) -> None:
    running = sidecar.module
    with pytest.raises(RefusedError) as refused:
        sidecar.deploy_module(module, AdmissionRequest(trust_root.current, sidecar.now))
    assert refused.value.reason == reason
    assert sidecar.module == running
    assert_still_serving(sidecar)


def test_tampered_module(sidecar: Sidecar, dlp_module: bytes, trust_root: TrustRoot) -> None:
    code = next(section for section in parse(dlp_module).sections if section.id == SectionId.CODE)
    tampered = bytearray(dlp_module)
    tampered[code.end - 2] ^= 0x01
    assert_module_refused(sidecar, bytes(tampered), "tampered_module", trust_root)


def test_unsigned_module(
    sidecar: Sidecar, trusted_modules: dict[str, BuiltModule], trust_root: TrustRoot
) -> None:
    unsigned = trusted_modules["meshveil-dlp"].path.read_bytes()
    assert_module_refused(sidecar, unsigned, "unsigned_module", trust_root)


def test_expired_claims(sidecar: Sidecar, dlp_module: bytes, trust_root: TrustRoot) -> None:
    sidecar.now = NOW + 31 * DAY
    assert_module_refused(sidecar, dlp_module, "claims_expired", trust_root)


def test_untrusted_issuer(
    sidecar: Sidecar, trusted_modules: dict[str, BuiltModule], key_ring: KeyRing, trust_root: TrustRoot
) -> None:
    forged = signed_module(trusted_modules["meshveil-dlp"], key_ring, issuer="attacker")
    assert_module_refused(sidecar, forged, "untrusted_issuer", trust_root)


def test_module_importing_an_unclaimed_capability(
    sidecar: Sidecar, trusted_modules: dict[str, BuiltModule], key_ring: KeyRing, trust_root: TrustRoot
) -> None:
    granted = frozenset(trusted_modules["meshveil-dlp"].capabilities) - {"proxy_get_property"}
    narrow = signed_module(trusted_modules["meshveil-dlp"], key_ring, capabilities=granted)
    assert_module_refused(sidecar, narrow, "unclaimed_capability", trust_root)
    # Deployed past the gate anyway, the host holds it to its claims: the call is denied,
    # the filter cannot learn where it runs, and it takes no config.
    bypass = Sidecar(sidecar.target, NOW)
    claims = read_claims(parse(narrow))
    assert claims is not None
    bypass.module, bypass.capabilities = narrow, allowed_capabilities(claims)
    with pytest.raises(PluginLoadError):
        bypass.push_config(bundle(sidecar.target, key_ring, 2, good_config()))
    messages = [record.message for record in bypass.host.logs]
    assert any("restricted proxy-wasm capability: proxy_get_property" in message for message in messages)
    assert bypass.refusals() == ["wrong_target"]
    bypass.host.close()
