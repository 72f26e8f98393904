"""Trust roots: thresholds, rotation and revocation statements, and the chain that loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlplane.cli import main
from controlplane.trust.dsse import Envelope, pae, sign_envelope
from controlplane.trust.errors import RefusedError, TrustError
from controlplane.trust.trust_root import TrustRoot
from controlplane.trust.trust_state import TrustState, apply_statement, next_state, sign_statement
from tests.trust.conftest import NOW, KeyRing


def test_pae_matches_the_dsse_specification() -> None:
    # The example in secure-systems-lab/dsse protocol.md.
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_threshold_refusals_name_the_reason(key_ring: KeyRing, trust_root: TrustRoot) -> None:
    state = trust_root.current
    payload = b'{"a":1}'

    def reason(envelope: Envelope) -> str:
        with pytest.raises(RefusedError) as raised:
            state.verified_signers(envelope, "test")
        return raised.value.reason

    signed_by = lambda *names: sign_envelope("t", payload, [key_ring[name] for name in names])  # noqa: E731
    assert state.verified_signers(signed_by("release-1", "release-2"), "ok") == {
        key_ring["release-1"].public_key.key_id,
        key_ring["release-2"].public_key.key_id,
    }
    assert reason(Envelope("t", payload, ())) == "not_signed"
    assert reason(signed_by("attacker")) == "unknown_key"
    assert reason(signed_by("release-1")) == "below_threshold"
    assert reason(signed_by("release-1", "attacker")) == "below_threshold"
    tampered = signed_by("release-1", "release-2")
    assert reason(Envelope("t", b'{"a":2}', tampered.signatures)) == "bad_signature"


def test_rotation_moves_trust_and_is_refused_below_threshold(
    key_ring: KeyRing, trust_root: TrustRoot
) -> None:
    current = trust_root.current
    new = next_state(current, keys=[key_ring["release-3"].public_key, key_ring["ci"].public_key], threshold=1)
    with pytest.raises(RefusedError, match="1 valid signature"):
        sign_statement(current, new, [key_ring["release-1"]], NOW)
    statement = sign_statement(current, new, [key_ring["release-1"], key_ring["release-2"]], NOW)
    assert apply_statement(current, statement) == new
    # Replaying it against the new state is a gap, not an update.
    with pytest.raises(RefusedError) as raised:
        apply_statement(new, statement)
    assert raised.value.reason in {"trust_chain_gap", "unknown_key", "below_threshold"}


def test_revoked_keys_stay_revoked(key_ring: KeyRing, trust_root: TrustRoot) -> None:
    current = trust_root.current
    revoked_id = key_ring["release-1"].public_key.key_id
    revoked = next_state(current, revoke=[revoked_id])
    assert revoked_id in revoked.revoked and revoked_id not in revoked.key_ids
    with pytest.raises(TrustError, match="cannot be trusted again"):
        next_state(revoked, keys=[key_ring["release-1"].public_key])
    with pytest.raises(TrustError, match="revoked key"):
        TrustState(3, 1, (key_ring["release-1"].public_key,), frozenset({revoked_id}))


def test_trust_root_file_round_trips_and_refuses_a_tampered_chain(
    key_ring: KeyRing, trust_root: TrustRoot, tmp_path: Path
) -> None:
    current = trust_root.current
    new = next_state(current, revoke=[key_ring["ci"].public_key.key_id])
    statement = sign_statement(current, new, [key_ring["release-1"], key_ring["release-2"]], NOW)
    updated = trust_root.appended(statement)
    path = tmp_path / "keys.pub"
    updated.save(path)
    assert TrustRoot.load(path).current == new
    assert updated.statements_after(1) == (statement,)
    assert updated.statements_after(2) == ()
    document = json.loads(path.read_text())
    document["statements"][0]["payload"] = document["statements"][0]["payload"][:-4] + "AAA="
    path.write_text(json.dumps(document))
    with pytest.raises(TrustError, match=str(path)):
        TrustRoot.load(path)


def test_keys_cli_root_rotate_and_revoke(
    key_ring: KeyRing, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "keys.pub"
    publics = [str(key_ring.public_path(name)) for name in ("release-1", "release-2", "release-3")]
    assert main(["keys", "root", *publics, "--threshold", "2", "--out", str(root)]) == 0
    sign_with = ["--sign-with", str(key_ring.private_path("release-1")), "--sign-with"]
    rotate = ["keys", "rotate", "--root", str(root), *sign_with, str(key_ring.private_path("release-2"))]
    assert main([*rotate, "--add", str(key_ring.public_path("ci")), "--remove", "release-3"]) == 0
    state = TrustRoot.load(root).current
    assert state.version == 2 and {key.name for key in state.keys} == {"release-1", "release-2", "ci"}
    revoke = [
        "keys",
        "revoke",
        "--root",
        str(root),
        *sign_with,
        str(key_ring.private_path("ci")),
        "release-2",
    ]
    assert main([*revoke, "--threshold", "1"]) == 0
    state = TrustRoot.load(root).current
    assert state.version == 3 and key_ring["release-2"].public_key.key_id in state.revoked
    capsys.readouterr()
    # A revoked key can no longer sign the next statement on its own.
    lone = [
        "keys",
        "revoke",
        "--root",
        str(root),
        "--sign-with",
        str(key_ring.private_path("release-2")),
        "ci",
    ]
    assert main(lone) == 2
    assert "revoked key" in capsys.readouterr().err
