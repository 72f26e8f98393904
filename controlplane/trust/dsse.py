"""DSSE envelopes (secure-systems-lab/dsse v1): a payload, its type, and signatures over
PAE(type, payload) = "DSSEv1" SP len(type) SP type SP len(payload) SP payload.

The JSON form is the standard one: `payloadType`, base64 `payload`, and `signatures` with
`keyid` and base64 `sig`. meshveil's filters read exactly this shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from controlplane.trust.encoding import b64decode, b64encode, require, require_keys
from controlplane.trust.errors import TrustError
from controlplane.trust.keys import Signer

# The filter refuses envelopes with more signatures than this; so does the control plane.
SIGNATURES_MAX = 16


def pae(payload_type: str, payload: bytes) -> bytes:
    encoded_type = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(encoded_type), encoded_type, len(payload), payload)


@dataclass(frozen=True)
class EnvelopeSignature:
    key_id: str
    signature: bytes


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[EnvelopeSignature, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "payloadType": self.payload_type,
            "payload": b64encode(self.payload),
            "signatures": [
                {"keyid": item.key_id, "sig": b64encode(item.signature)} for item in self.signatures
            ],
        }

    @classmethod
    def from_json(cls, document: Any, what: str) -> Envelope:
        if not isinstance(document, dict):
            raise TrustError(f"{what}: a DSSE envelope must be a JSON object")
        require_keys(document, {"payloadType", "payload", "signatures"}, what)
        payload_type = require(document, "payloadType", str, what)
        payload = b64decode(require(document, "payload", str, what), f"{what} payload")
        raw_signatures = require(document, "signatures", list, what)
        if len(raw_signatures) > SIGNATURES_MAX:
            raise TrustError(
                f"{what}: {len(raw_signatures)} signatures, more than the {SIGNATURES_MAX} allowed"
            )
        signatures = []
        for index, item in enumerate(raw_signatures):
            where = f"{what} signature {index}"
            if not isinstance(item, dict):
                raise TrustError(f"{where}: must be a JSON object")
            require_keys(item, {"keyid", "sig"}, where)
            key_id = require(item, "keyid", str, where)
            signatures.append(EnvelopeSignature(key_id, b64decode(require(item, "sig", str, where), where)))
        return cls(payload_type, payload, tuple(signatures))

    def with_signatures(self, signers: Sequence[Signer]) -> Envelope:
        """This envelope with one more signature per signer (co-signing the same payload)."""
        message = pae(self.payload_type, self.payload)
        present = {item.key_id for item in self.signatures}
        added = []
        for signer in signers:
            key_id = signer.public_key.key_id
            if key_id in present:
                raise TrustError(f"key {key_id} ({signer.public_key.name}) already signed this envelope")
            present.add(key_id)
            added.append(EnvelopeSignature(key_id, signer.sign(message)))
        signatures = (*self.signatures, *added)
        if len(signatures) > SIGNATURES_MAX:
            raise TrustError(f"an envelope holds at most {SIGNATURES_MAX} signatures")
        return Envelope(self.payload_type, self.payload, signatures)


def sign_envelope(payload_type: str, payload: bytes, signers: Sequence[Signer]) -> Envelope:
    if not signers:
        raise TrustError("at least one key must sign")
    return Envelope(payload_type, payload, ()).with_signatures(signers)
