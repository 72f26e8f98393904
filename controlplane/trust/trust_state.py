"""A trust state: the keys trusted at one version, how many must sign, which keys are revoked.

Rotation and revocation are trust statements: DSSE envelopes whose payload is the next
state (version + 1), signed by the threshold of the current state. Applying a chain of
statements walks the versions one by one, as TUF does for root metadata, so a filter
compiled with an old state reaches today's keys without a rebuild. Revoked ids only
accumulate: no statement may trust a revoked key again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from controlplane.trust.dsse import Envelope, pae, sign_envelope
from controlplane.trust.encoding import (
    b64decode,
    b64encode,
    canonical_json,
    require,
    require_keys,
    strict_json_object,
)
from controlplane.trust.errors import RefusedError, TrustError
from controlplane.trust.keys import PublicKey, Signer, check_key_name

TRUST_PAYLOAD_TYPE = "application/vnd.meshveil.trust.v1+json"
# Bounds the filter compiles in; the control plane refuses to make a state beyond them.
KEYS_MAX = 8
REVOKED_MAX = 32
_KEY_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class TrustState:
    version: int
    threshold: int
    keys: tuple[PublicKey, ...]
    revoked: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.version < 1:
            raise TrustError(f"trust version must be at least 1, not {self.version}")
        if not 1 <= len(self.keys) <= KEYS_MAX:
            raise TrustError(f"a trust state holds 1 to {KEYS_MAX} keys, not {len(self.keys)}")
        if not 1 <= self.threshold <= len(self.keys):
            raise TrustError(f"threshold {self.threshold} must be between 1 and the {len(self.keys)} keys")
        ids = [key.key_id for key in self.keys]
        if len(set(ids)) != len(ids):
            raise TrustError("a key is listed twice")
        malformed = sorted(key_id for key_id in self.revoked if not _KEY_ID.fullmatch(key_id))
        if malformed:
            raise TrustError(f"revoked ids must be 32 lowercase hex digits: {', '.join(malformed)}")
        if len(self.revoked) > REVOKED_MAX:
            raise TrustError(f"at most {REVOKED_MAX} revoked keys can be tracked")
        again = sorted(set(ids) & self.revoked)
        if again:
            raise TrustError(f"revoked key(s) cannot be trusted: {', '.join(again)}")

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(key.key_id for key in self.keys)

    def key(self, key_id: str) -> PublicKey | None:
        return next((key for key in self.keys if key.key_id == key_id), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "threshold": self.threshold,
            "keys": [
                {"id": key.key_id, "name": key.name, "public_key": b64encode(key.raw)} for key in self.keys
            ],
            "revoked": sorted(self.revoked),
        }

    @classmethod
    def from_json(cls, document: Any, what: str) -> TrustState:
        if not isinstance(document, dict):
            raise TrustError(f"{what}: must be a JSON object")
        require_keys(document, {"version", "threshold", "keys", "revoked", "issued_at"}, what)
        keys = []
        for index, entry in enumerate(require(document, "keys", list, what)):
            where = f"{what} key {index}"
            if not isinstance(entry, dict):
                raise TrustError(f"{where}: must be a JSON object")
            require_keys(entry, {"id", "name", "public_key"}, where)
            raw = b64decode(require(entry, "public_key", str, where), f"{where} public_key")
            key = PublicKey(check_key_name(require(entry, "name", str, where)), raw)
            if require(entry, "id", str, where) != key.key_id:
                raise TrustError(f"{where}: id {entry['id']} is not the id of its public key ({key.key_id})")
            keys.append(key)
        revoked = require(document, "revoked", list, what)
        if not all(isinstance(item, str) for item in revoked) or len(set(revoked)) != len(revoked):
            raise TrustError(f"{what}: 'revoked' must list distinct key ids")
        return cls(
            version=require(document, "version", int, what),
            threshold=require(document, "threshold", int, what),
            keys=tuple(keys),
            revoked=frozenset(revoked),
        )

    def verified_signers(self, envelope: Envelope, what: str) -> frozenset[str]:
        """The distinct trusted keys whose signatures verify; refuses below the threshold.

        The reason names the most telling failure: a revoked signer, then a signature that
        does not verify (tampering), then signers nobody trusts, then too few signers.
        """
        if not envelope.signatures:
            raise RefusedError("not_signed", f"{what} carries no signature")
        message = pae(envelope.payload_type, envelope.payload)
        valid: set[str] = set()
        revoked_seen = unknown_seen = failed_seen = False
        for item in envelope.signatures:
            if item.key_id in self.revoked:
                revoked_seen = True
                continue
            key = self.key(item.key_id)
            if key is None:
                unknown_seen = True
            elif key.verifies(item.signature, message):
                valid.add(item.key_id)
            else:
                failed_seen = True
        if len(valid) >= self.threshold:
            return frozenset(valid)
        if revoked_seen:
            raise RefusedError("revoked_key", f"{what} is signed with a revoked key")
        if failed_seen:
            raise RefusedError("bad_signature", f"{what} has a signature that does not verify (tampered?)")
        if unknown_seen and not valid:
            raise RefusedError("unknown_key", f"{what} is signed only by keys that are not trusted")
        raise RefusedError(
            "below_threshold",
            f"{what} has {len(valid)} valid signature(s); "
            f"trust version {self.version} needs {self.threshold}",
        )


def next_state(
    current: TrustState,
    *,
    keys: Sequence[PublicKey] | None = None,
    threshold: int | None = None,
    revoke: Sequence[str] = (),
) -> TrustState:
    """The state after `current`: new keys (rotation) and/or more revoked ids (revocation)."""
    unknown = sorted(set(revoke) - current.key_ids - current.revoked)
    if unknown:
        raise TrustError(f"cannot revoke unknown key id(s): {', '.join(unknown)}")
    revoked = current.revoked | frozenset(revoke)
    chosen = list(keys) if keys is not None else [key for key in current.keys if key.key_id not in revoked]
    again = sorted(key.key_id for key in chosen if key.key_id in revoked)
    if again:
        raise TrustError(f"revoked key(s) cannot be trusted again: {', '.join(again)}")
    chosen_threshold = current.threshold if threshold is None else threshold
    return TrustState(current.version + 1, chosen_threshold, tuple(chosen), revoked)


def sign_statement(
    current: TrustState, new: TrustState, signers: Sequence[Signer], issued_at: int
) -> Envelope:
    """A statement moving from `current` to `new`, refused unless the signers meet `current`'s threshold."""
    if new.version != current.version + 1:
        raise TrustError(f"the next trust version is {current.version + 1}, not {new.version}")
    if not new.revoked >= current.revoked:
        raise TrustError("a statement cannot un-revoke a key")
    document = {**new.to_json(), "issued_at": issued_at}
    envelope = sign_envelope(TRUST_PAYLOAD_TYPE, canonical_json(document), signers)
    current.verified_signers(envelope, f"trust statement {new.version}")
    return envelope


def apply_statement(current: TrustState, envelope: Envelope) -> TrustState:
    """The state `envelope` moves to, after checking it is the next one and properly signed."""
    what = "trust statement"
    if envelope.payload_type != TRUST_PAYLOAD_TYPE:
        raise RefusedError("wrong_payload_type", f"{what} has payload type {envelope.payload_type!r}")
    current.verified_signers(envelope, what)
    new = TrustState.from_json(strict_json_object(envelope.payload, what), what)
    if new.version != current.version + 1:
        raise RefusedError(
            "trust_chain_gap",
            f"{what} is version {new.version}; after {current.version} comes {current.version + 1}",
        )
    if not new.revoked >= current.revoked:
        raise RefusedError("trust_unrevoke", f"{what} {new.version} drops revoked keys")
    return new


def statement_version(envelope: Envelope) -> int:
    """The version a statement claims, read before verifying it (to skip known ones)."""
    return int(
        require(strict_json_object(envelope.payload, "trust statement"), "version", int, "trust statement")
    )
