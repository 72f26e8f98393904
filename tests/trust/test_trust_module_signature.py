"""The tool-conventions signature format, checked against the spec's definitions directly."""

from __future__ import annotations

import contextlib
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from controlplane.modules.wasm_binary import custom_section, parse
from controlplane.trust.errors import RefusedError, TrustError
from controlplane.trust.module_signature import (
    SIGNATURE_SECTION,
    SignatureData,
    sign_module,
    verify_module_signatures,
)
from tests.trust.conftest import KeyRing


def test_signature_section_comes_first_and_follows_the_spec(key_ring: KeyRing, small_module: bytes) -> None:
    signer = key_ring["release-1"]
    signed = sign_module(small_module, signer).module
    sections = parse(signed).sections
    assert sections[0].name == SIGNATURE_SECTION
    payload = signed[sections[0].payload_start : sections[0].end]
    # spec_version 1, content_type 1 (module), hash_fn 1 (SHA-256), one signed hash set.
    assert payload[:4] == bytes([1, 1, 1, 1])
    data = SignatureData.parse(payload)
    (signed_hashes,) = data.signed_hashes
    # The hash covers every section after the signature section, not the 8-byte header.
    expected = hashlib.sha256(signed[sections[0].end :]).digest()
    assert signed_hashes.hashes == (expected,)
    (record,) = signed_hashes.signatures
    assert record.key_id == signer.public_key.key_id.encode() and record.algorithm == 1
    message = b"wasmsig" + bytes([1, 1, 1]) + expected
    Ed25519PublicKey.from_public_bytes(signer.public_key.raw).verify(record.signature, message)


def test_signatures_accumulate_and_each_verifies(key_ring: KeyRing, small_module: bytes) -> None:
    once = sign_module(small_module, key_ring["release-1"]).module
    twice = sign_module(once, key_ring["release-2"]).module
    keys = [key_ring[name].public_key for name in ("release-1", "release-2", "release-3")]
    result = verify_module_signatures(twice, keys)
    assert result.valid_key_ids == {
        key_ring["release-1"].public_key.key_id,
        key_ring["release-2"].public_key.key_id,
    }
    assert result.unsigned == small_module
    with pytest.raises(TrustError, match="already signed"):
        sign_module(twice, key_ring["release-1"])


def test_detached_signature_is_the_section_payload(key_ring: KeyRing, small_module: bytes) -> None:
    signer = key_ring["release-1"]
    embedded = sign_module(small_module, signer)
    detached = sign_module(small_module, signer, detach=True)
    assert detached.module == small_module
    keys = [signer.public_key]
    assert verify_module_signatures(small_module, keys, detached=detached.signature).valid_key_ids
    assert verify_module_signatures(embedded.module, keys).valid_key_ids
    # Ed25519 is deterministic, so both forms carry the very same signature data.
    assert embedded.signature == detached.signature
    with pytest.raises(RefusedError, match="no signature") as raised:
        verify_module_signatures(small_module, keys)
    assert raised.value.reason == "unsigned_module"


def test_any_changed_byte_breaks_the_signature(key_ring: KeyRing, small_module: bytes) -> None:
    signed = sign_module(small_module, key_ring["release-1"]).module
    start = parse(signed).sections[0].end
    keys = [key_ring["release-1"].public_key]
    for offset in range(start, len(signed), 7):
        tampered = bytearray(signed)
        tampered[offset] ^= 0x01
        with contextlib.suppress(TrustError):  # no longer a module at all: refused all the same
            assert not verify_module_signatures(bytes(tampered), keys).valid_key_ids, offset


def test_delimiters_give_one_hash_per_part(key_ring: KeyRing, small_module: bytes) -> None:
    delimiter = custom_section("signature_delimiter", bytes(range(16)))
    module = small_module + delimiter
    signed = sign_module(module, key_ring["release-1"])
    (signed_hashes,) = SignatureData.parse(signed.signature).signed_hashes
    assert signed_hashes.hashes == (hashlib.sha256(module[8:]).digest(),)
    assert verify_module_signatures(signed.module, [key_ring["release-1"].public_key]).valid_key_ids
    # A section appended after the last delimiter is not covered: the whole module no longer verifies.
    extended = signed.module + custom_section("extra", b"x")
    assert not verify_module_signatures(extended, [key_ring["release-1"].public_key]).valid_key_ids


def test_signature_section_elsewhere_and_oversized_counts_are_refused(
    key_ring: KeyRing, small_module: bytes
) -> None:
    signed = sign_module(small_module, key_ring["release-1"])
    misplaced = small_module + custom_section(SIGNATURE_SECTION, signed.signature)
    with pytest.raises(RefusedError, match="first section"):
        verify_module_signatures(misplaced, [key_ring["release-1"].public_key])
    with pytest.raises(TrustError, match="more than the 64"):
        SignatureData.parse(bytes([1, 1, 1, 65]))
    with pytest.raises(TrustError, match="unsupported hash function"):
        SignatureData.parse(bytes([1, 1, 2, 0]))
