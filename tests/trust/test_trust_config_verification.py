"""The control plane's mirror of the filter's config checks: one test per refusal reason."""

from __future__ import annotations

import json

import pytest

from controlplane.trust.config_statement import BUNDLE_BYTES_MAX, Targets, Workload
from controlplane.trust.config_verification import verify_bundle
from controlplane.trust.errors import RefusedError, TrustError
from controlplane.trust.trust_root import TrustRoot
from controlplane.trust.trust_state import next_state, sign_statement
from tests.trust.bundles import HOUR, Target, bundle
from tests.trust.conftest import NOW, KeyRing

TARGET = Target("meshveil-dlp", "ab" * 32)


def reason(raw: bytes, trust_root: TrustRoot, last_version: int | None = None, now: int = NOW) -> str:
    with pytest.raises(RefusedError) as raised:
        verify_bundle(raw, trust_root.current, TARGET.facts(now), last_version)
    return raised.value.reason


def test_a_good_bundle_is_accepted(key_ring: KeyRing, trust_root: TrustRoot) -> None:
    verified = verify_bundle(bundle(TARGET, key_ring, 3, b"cfg"), trust_root.current, TARGET.facts(), 2)
    assert verified.statement.config == b"cfg" and verified.statement.version == 3
    assert len(verified.signers) == 2


def test_each_refusal_has_its_reason(key_ring: KeyRing, trust_root: TrustRoot) -> None:
    good = bundle(TARGET, key_ring, 3, b"cfg")
    assert reason(b"detectors: everything off", trust_root) == "not_signed"
    assert reason(good, trust_root, last_version=3) == "rollback"
    assert reason(good, trust_root, now=NOW + HOUR) == "expired"
    assert reason(good, trust_root, now=NOW - 200) == "not_yet_valid"
    assert reason(bundle(TARGET, key_ring, 3, b"x", signers=("attacker",)), trust_root) == "unknown_key"
    assert reason(bundle(TARGET, key_ring, 3, b"x", signers=("release-1",)), trust_root) == "below_threshold"
    other_module = Target("meshveil-mask", "ab" * 32)
    assert reason(bundle(other_module, key_ring, 3, b"x"), trust_root) == "wrong_module"
    other_build = Target("meshveil-dlp", "cd" * 32)
    assert reason(bundle(other_build, key_ring, 3, b"x"), trust_root) == "wrong_module"
    elsewhere = Targets(workloads=(Workload("shop", "cart"),), nodes=("sidecar~10.9.9.9~x",))
    assert reason(bundle(TARGET, key_ring, 3, b"x", targets=elsewhere), trust_root) == "wrong_target"
    assert reason(bundle(TARGET, key_ring, 3, b"x", plugin="dlp-outbound"), trust_root) == "wrong_plugin"
    assert reason(b" " * (BUNDLE_BYTES_MAX + 1), trust_root) == "too_large"


def test_tampering_with_the_signed_payload_is_caught(key_ring: KeyRing, trust_root: TrustRoot) -> None:
    document = json.loads(bundle(TARGET, key_ring, 3, b"cfg"))
    other = json.loads(bundle(TARGET, key_ring, 4, b"attacker's cfg", signers=("release-3", "ci")))
    document["config"]["payload"] = other["config"]["payload"]
    assert reason(json.dumps(document).encode(), trust_root) == "bad_signature"


def test_workload_wildcards_cover_a_namespace(key_ring: KeyRing, trust_root: TrustRoot) -> None:
    everyone = Targets(workloads=(Workload("shop", "*"),))
    verify_bundle(
        bundle(TARGET, key_ring, 3, b"x", targets=everyone), trust_root.current, TARGET.facts(), None
    )


def test_rotated_keys_sign_once_the_statement_travels_along(key_ring: KeyRing, trust_root: TrustRoot) -> None:
    current = trust_root.current
    rotated = next_state(
        current, keys=[key_ring["release-3"].public_key, key_ring["ci"].public_key], threshold=1
    )
    statement = sign_statement(current, rotated, [key_ring["release-1"], key_ring["release-2"]], NOW)
    alone = bundle(TARGET, key_ring, 3, b"x", signers=("ci",))
    assert reason(alone, trust_root) == "below_threshold"
    with_statement = bundle(TARGET, key_ring, 3, b"x", signers=("ci",), trust=[statement])
    verified = verify_bundle(with_statement, current, TARGET.facts(), None)
    assert verified.trust == rotated


def test_the_control_plane_refuses_to_make_what_filters_refuse(key_ring: KeyRing) -> None:
    with pytest.raises(TrustError, match="limit is"):
        bundle(TARGET, key_ring, 3, b"x" * (512 * 1024 + 1))
    with pytest.raises(TrustError, match="name the nodes or workloads"):
        Targets()
    with pytest.raises(TrustError, match="key_ids must be exactly"):
        bundle(TARGET, key_ring, 3, b"x", key_ids=("0" * 32,))
