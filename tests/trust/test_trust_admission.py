"""Module admission: each reason to refuse a module is named, and a good module passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlplane.cli import main
from controlplane.modules.wasm_binary import custom_section, without_custom_sections
from controlplane.trust.admission import AdmissionRequest, admit_module, assess_module
from controlplane.trust.capability_restriction import allowed_capabilities, capability_restriction_config
from controlplane.trust.claims import CLAIMS_SECTION, module_hash
from controlplane.trust.errors import RefusedError
from controlplane.trust.module_signature import SIGNATURE_SECTION, sign_module
from controlplane.trust.module_signing import ClaimRequest, sign_with_claims
from controlplane.trust.policy import TrustPolicy
from controlplane.trust.trust_root import TrustRoot
from tests.modules.wat_modules import assemble, with_log_import
from tests.trust.conftest import NOW, KeyRing

DAY = 86400
POLICY = {
    "schema": "meshveil.trust-policy/v1",
    "environments": {
        "prod": {"module_issuers": ["release-1", "release-2"], "require_config_verification": True},
        "dev": {"module_issuers": ["ci", "release-1"]},
    },
}


def signed(data: bytes, key_ring: KeyRing, issuer: str = "release-1", **claims: object) -> bytes:
    request = ClaimRequest(now=NOW, valid_for_seconds=30 * DAY, **claims)  # type: ignore[arg-type]
    return sign_with_claims(data, key_ring[issuer], request=request).signed.module


def refusal_of(data: bytes, request: AdmissionRequest) -> str:
    with pytest.raises(RefusedError) as raised:
        admit_module(data, request)
    return raised.value.reason


def test_signed_module_is_admitted_with_its_claims(
    key_ring: KeyRing, trust_root: TrustRoot, small_module: bytes
) -> None:
    data = signed(small_module, key_ring, version="1.2.0")
    admitted = admit_module(data, AdmissionRequest(trust_root.current, NOW + DAY))
    claims = admitted.claims
    assert claims.issuer == key_ring["release-1"].public_key.key_id
    assert claims.subject == "test-module" and claims.version == "1.2.0"
    assert claims.capabilities == ("proxy_log",)
    assert claims.callbacks == ("proxy_on_context_create", "proxy_on_memory_allocate")
    assert claims.module_hash == module_hash(small_module)
    assert claims.not_before == NOW and claims.expires == NOW + 30 * DAY


def test_claims_ids_are_unique_per_issuance(key_ring: KeyRing, small_module: bytes) -> None:
    first = sign_with_claims(small_module, key_ring["release-1"], request=ClaimRequest(now=NOW)).claims
    second = sign_with_claims(small_module, key_ring["release-1"], request=ClaimRequest(now=NOW)).claims
    assert first.claims_id != second.claims_id


def test_unsigned_tampered_and_untrusted_modules_are_refused(
    key_ring: KeyRing, trust_root: TrustRoot, small_module: bytes
) -> None:
    request = AdmissionRequest(trust_root.current, NOW)
    assert refusal_of(small_module, request) == "unsigned_module"
    data = bytearray(signed(small_module, key_ring))
    data[-3] ^= 0x20  # inside the claims section at the end
    assert refusal_of(bytes(data), request) == "tampered_module"
    assert refusal_of(signed(small_module, key_ring, issuer="attacker"), request) == "untrusted_issuer"


def test_claims_outside_their_validity_are_refused(
    key_ring: KeyRing, trust_root: TrustRoot, small_module: bytes
) -> None:
    data = signed(small_module, key_ring, not_before=NOW + DAY)
    assert refusal_of(data, AdmissionRequest(trust_root.current, NOW)) == "claims_not_yet_valid"
    assert refusal_of(data, AdmissionRequest(trust_root.current, NOW + 31 * DAY)) == "claims_expired"
    admit_module(data, AdmissionRequest(trust_root.current, NOW + 2 * DAY))


def test_policy_allows_issuers_per_environment(
    key_ring: KeyRing, trust_root: TrustRoot, small_module: bytes
) -> None:
    policy = TrustPolicy.from_json(json.dumps(POLICY).encode(), "policy")
    data = signed(small_module, key_ring, issuer="ci")
    admit_module(data, AdmissionRequest(trust_root.current, NOW, policy.environment("dev")))
    prod = AdmissionRequest(trust_root.current, NOW, policy.environment("prod"))
    reasons = {refusal.reason for refusal in assess_module(data, prod).refusals}
    # A WAT module has no build record: prod also wants modules that verify their configs.
    assert reasons == {"issuer_not_allowed", "config_unverified"}


def test_imports_beyond_the_claims_are_refused(key_ring: KeyRing, trust_root: TrustRoot) -> None:
    extra = (
        '(import "env" "proxy_http_call" (func (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))'
    )
    data = assemble(with_log_import(extra), ["proxy_log", "proxy_http_call"])
    granted_log_only = signed(data, key_ring, capabilities=frozenset({"proxy_log"}))
    request = AdmissionRequest(trust_root.current, NOW)
    assert refusal_of(granted_log_only, request) == "unclaimed_capability"
    admit_module(signed(data, key_ring), request)


def test_claims_about_another_module_are_refused(
    key_ring: KeyRing, trust_root: TrustRoot, small_module: bytes
) -> None:
    # A trusted issuer signs claims copied from one module onto another: the hash gives it away.
    other = assemble(with_log_import("") + '(func (export "other"))', ["proxy_log"])
    claims = sign_with_claims(small_module, key_ring["release-1"], request=ClaimRequest(now=NOW)).claims
    grafted = without_custom_sections(other, {SIGNATURE_SECTION}) + custom_section(
        CLAIMS_SECTION, claims.to_json()
    )
    data = sign_module(grafted, key_ring["release-1"]).module
    assert refusal_of(data, AdmissionRequest(trust_root.current, NOW)) == "hash_mismatch"


def test_claims_must_be_signed_by_their_issuer(
    key_ring: KeyRing, trust_root: TrustRoot, small_module: bytes
) -> None:
    claims = sign_with_claims(small_module, key_ring["release-1"], request=ClaimRequest(now=NOW)).claims
    unsigned = small_module + custom_section(CLAIMS_SECTION, claims.to_json())
    data = sign_module(unsigned, key_ring["release-2"]).module  # issuer release-1 never signed
    assert refusal_of(data, AdmissionRequest(trust_root.current, NOW)) == "issuer_not_signer"


def test_capability_restriction_config_lists_functions_and_callbacks(
    key_ring: KeyRing, small_module: bytes
) -> None:
    claims = sign_with_claims(small_module, key_ring["release-1"], request=ClaimRequest(now=NOW)).claims
    expected = {"proxy_log", "proxy_on_context_create", "proxy_on_memory_allocate"}
    assert allowed_capabilities(claims) == expected
    assert capability_restriction_config(claims) == {
        "allowed_capabilities": {name: {} for name in sorted(expected)}
    }


def test_sign_verify_and_validate_cli(
    key_ring: KeyRing,
    trust_root_path: Path,
    small_module: bytes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    module = tmp_path / "m.wasm"
    module.write_bytes(small_module)
    key = str(key_ring.private_path("release-1"))
    assert main(["sign", str(module), "--key", key, "--now", str(NOW), "--valid-for", "30d"]) == 0
    assert "granted claims and signed" in capsys.readouterr().out
    assert main(["sign", str(module), "--key", str(key_ring.private_path("release-2"))]) == 0
    assert "co-signed" in capsys.readouterr().out
    root = ["--trust-root", str(trust_root_path), "--now", str(NOW)]
    assert main(["verify", str(module), *root]) == 0
    assert "release-1" in capsys.readouterr().out
    assert main(["verify", str(module), *root[:2], "--now", str(NOW + 31 * DAY)]) == 1
    assert "REFUSED [claims_expired]" in capsys.readouterr().out
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(POLICY))
    assert main(["validate", str(module), *root, "--policy", str(policy), "--environment", "dev"]) == 0
    assert main(["validate", str(module), *root, "--policy", str(policy), "--environment", "prod"]) == 1
    assert "[config-unverified]" in capsys.readouterr().out
    assert main(["verify", str(module), *root, "--policy", str(policy), "--environment", "qa"]) == 2
    assert "no environment 'qa'" in capsys.readouterr().err


def test_detached_signing_cli(
    key_ring: KeyRing,
    trust_root_path: Path,
    small_module: bytes,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    module, signature = tmp_path / "m.wasm", tmp_path / "m.sig"
    module.write_bytes(small_module)
    key = str(key_ring.private_path("ci"))
    assert main(["sign", str(module), "--key", key, "--detach", str(signature), "--now", str(NOW)]) == 0
    root = ["--trust-root", str(trust_root_path), "--now", str(NOW)]
    assert main(["verify", str(module), *root, "--signature", str(signature)]) == 0
    assert main(["verify", str(module), *root]) == 1
    assert "[unsigned_module]" in capsys.readouterr().out
