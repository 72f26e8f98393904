"""Module signatures in the WebAssembly tool-conventions format (Signatures.md), as wasmsign2
writes them, so modules signed here verify with wasmsign2 and the other way round.

A signed module starts with a custom section named `signature` whose payload is:

    spec_version (0x01) | content_type (0x01, module) | hash_fn (0x01, SHA-256)
    varuint32 count of signed hash sets, each a length-prefixed record of
        varuint32 hash count, the 32-byte hashes,
        varuint32 signature count, each a length-prefixed record of
            varuint32 key id length, key id, algorithm (0x01, Ed25519),
            varuint32 signature length, signature

(The length prefixes around each set and signature are wasmsign2's wire format; the
spec's table leaves them out.) Hashes are rolling SHA-256 over every section after the
signature section, taken at each `signature_delimiter` and at the end; a signature is
Ed25519 over "wasmsig" | spec_version | content_type | hash_fn | hashes. A detached
signature is the same payload kept outside the module. Several keys may sign the same
hashes; signing again adds a signature rather than replacing one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from controlplane.modules.wasm_binary import (
    SectionId,
    WasmFormatError,
    custom_section,
    encode_u32,
    parse,
)
from controlplane.trust.errors import RefusedError, TrustError
from controlplane.trust.keys import PublicKey, Signer

SIGNATURE_SECTION = "signature"
DELIMITER_SECTION = "signature_delimiter"
SPEC_VERSION = 0x01
CONTENT_TYPE_MODULE = 0x01
HASH_SHA256 = 0x01
ALGORITHM_ED25519 = 0x01
DOMAIN = b"wasmsig"
HASH_BYTES = 32
# wasmsign2's bounds, so neither side accepts what the other refuses.
HASHES_MAX = 64
SIGNATURES_MAX = 256


@dataclass(frozen=True)
class SignatureRecord:
    key_id: bytes
    signature: bytes
    algorithm: int = ALGORITHM_ED25519


@dataclass(frozen=True)
class SignedHashes:
    hashes: tuple[bytes, ...]
    signatures: tuple[SignatureRecord, ...]


@dataclass(frozen=True)
class SignatureData:
    signed_hashes: tuple[SignedHashes, ...]

    def serialize(self) -> bytes:
        out = bytearray([SPEC_VERSION, CONTENT_TYPE_MODULE, HASH_SHA256])
        out += encode_u32(len(self.signed_hashes))
        for signed in self.signed_hashes:
            body = bytearray(encode_u32(len(signed.hashes)))
            for digest in signed.hashes:
                body += digest
            body += encode_u32(len(signed.signatures))
            for record in signed.signatures:
                encoded = (
                    encode_u32(len(record.key_id))
                    + record.key_id
                    + bytes([record.algorithm])
                    + encode_u32(len(record.signature))
                    + record.signature
                )
                body += encode_u32(len(encoded)) + encoded
            out += encode_u32(len(body)) + body
        return bytes(out)

    @classmethod
    def parse(cls, raw: bytes) -> SignatureData:
        reader = _Reader(raw)
        for field, expected in (("spec version", SPEC_VERSION), ("content type", CONTENT_TYPE_MODULE)):
            found = reader.byte()
            if found != expected:
                raise TrustError(f"signature data: unsupported {field} 0x{found:02x}")
        hash_function = reader.byte()
        if hash_function != HASH_SHA256:
            raise TrustError(f"signature data: unsupported hash function 0x{hash_function:02x}")
        sets = []
        for _ in range(reader.count(HASHES_MAX, "signed hash sets")):
            sets.append(_parse_signed_hashes(_Reader(reader.sized())))
        if not reader.at_end():
            raise TrustError(f"signature data: {len(raw) - reader.offset} trailing bytes")
        return cls(tuple(sets))

    def signatures_by(self, key_id: bytes) -> bool:
        return any(record.key_id == key_id for signed in self.signed_hashes for record in signed.signatures)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def at_end(self) -> bool:
        return self.offset >= len(self.data)

    def byte(self) -> int:
        if self.at_end():
            raise TrustError(f"signature data: truncated at byte {self.offset}")
        value = self.data[self.offset]
        self.offset += 1
        return value

    def u32(self) -> int:
        result = 0
        for shift in range(0, 35, 7):
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
        raise TrustError(f"signature data: overlong integer at byte {self.offset}")

    def count(self, maximum: int, what: str) -> int:
        value = self.u32()
        if value > maximum:
            raise TrustError(f"signature data: {value} {what}, more than the {maximum} allowed")
        return value

    def take(self, size: int) -> bytes:
        if self.offset + size > len(self.data):
            raise TrustError(f"signature data: truncated at byte {self.offset}")
        value = self.data[self.offset : self.offset + size]
        self.offset += size
        return value

    def sized(self) -> bytes:
        return self.take(self.u32())


def _parse_signed_hashes(reader: _Reader) -> SignedHashes:
    hashes = tuple(reader.take(HASH_BYTES) for _ in range(reader.count(HASHES_MAX, "hashes")))
    records = []
    for _ in range(reader.count(SIGNATURES_MAX, "signatures")):
        record = _Reader(reader.sized())
        key_id = record.sized()
        algorithm = record.byte()
        signature = record.sized()
        if not record.at_end():
            raise TrustError("signature data: a signature record has trailing bytes")
        records.append(SignatureRecord(key_id, signature, algorithm))
    if not reader.at_end():
        raise TrustError("signature data: a signed hash set has trailing bytes")
    return SignedHashes(hashes, tuple(records))


def signed_message(hashes: Iterable[bytes]) -> bytes:
    return DOMAIN + bytes([SPEC_VERSION, CONTENT_TYPE_MODULE, HASH_SHA256]) + b"".join(hashes)


@dataclass(frozen=True)
class SplitModule:
    """A module with its embedded signature section taken out."""

    unsigned: bytes
    embedded: SignatureData | None


def split_signature(data: bytes) -> SplitModule:
    try:
        module = parse(data)
    except WasmFormatError as error:
        raise TrustError(f"not a WebAssembly module: {error}") from error
    signature_sections = [
        index
        for index, section in enumerate(module.sections)
        if section.id == SectionId.CUSTOM and section.name == SIGNATURE_SECTION
    ]
    if not signature_sections:
        return SplitModule(data, None)
    if signature_sections != [0]:
        raise RefusedError(
            "misplaced_signature", "the signature section must be the module's first section, and only one"
        )
    first = module.sections[0]
    embedded = SignatureData.parse(data[first.payload_start : first.end])
    return SplitModule(data[:8] + data[first.end :], embedded)


def module_hashes(unsigned: bytes) -> list[bytes]:
    """Rolling SHA-256 over the sections, taken at each delimiter and at the end."""
    hasher = hashlib.sha256()
    hashes = []
    ends_with_delimiter = False
    for section in parse(unsigned).sections:
        hasher.update(unsigned[section.start : section.end])
        ends_with_delimiter = section.id == SectionId.CUSTOM and section.name == DELIMITER_SECTION
        if ends_with_delimiter:
            hashes.append(hasher.copy().digest())
    if not ends_with_delimiter:
        hashes.append(hasher.digest())
    return hashes


@dataclass(frozen=True)
class SignedModule:
    module: bytes
    """The module, with the signature embedded unless it was signed detached."""
    signature: bytes
    """The signature data: the `signature` section's payload, or the detached signature file."""


def sign_module(
    data: bytes, signer: Signer, *, detached: bytes | None = None, detach: bool = False
) -> SignedModule:
    """Adds `signer`'s signature over the whole module to the existing ones (if any).

    `detached` is an existing detached signature to add to; `detach` keeps the result
    out of the module.
    """
    split = split_signature(data)
    if detached is not None and split.embedded is not None:
        raise TrustError("the module already embeds a signature; do not also give a detached one")
    existing = SignatureData.parse(detached) if detached is not None else split.embedded
    hashes = tuple(module_hashes(split.unsigned))
    key_id = signer.public_key.key_id.encode("ascii")
    record = SignatureRecord(key_id, signer.sign(signed_message(hashes)))
    sets = list(existing.signed_hashes) if existing else []
    for index, signed in enumerate(sets):
        if signed.hashes == hashes:
            if any(item.key_id == key_id for item in signed.signatures):
                raise TrustError(f"key {signer.public_key.key_id} has already signed this module")
            sets[index] = SignedHashes(hashes, (*signed.signatures, record))
            break
    else:
        sets.append(SignedHashes(hashes, (record,)))
    signature = SignatureData(tuple(sets)).serialize()
    if detach:
        return SignedModule(split.unsigned, signature)
    embedded = split.unsigned[:8] + custom_section(SIGNATURE_SECTION, signature) + split.unsigned[8:]
    return SignedModule(embedded, signature)


@dataclass(frozen=True)
class ModuleSignatures:
    unsigned: bytes
    """The module without its signature section: what the signatures cover."""
    valid_key_ids: frozenset[str]
    """Trusted keys with a valid signature over the entire module."""
    present_key_ids: frozenset[str]
    """Every key id named by a signature, valid or not."""


def verify_module_signatures(
    data: bytes, trusted: Iterable[PublicKey], *, detached: bytes | None = None
) -> ModuleSignatures:
    """Which trusted keys signed the entire module; refuses an unsigned module."""
    split = split_signature(data)
    if detached is not None and split.embedded is not None:
        raise RefusedError("two_signatures", "the module embeds a signature and a detached one was given too")
    signature_data = SignatureData.parse(detached) if detached is not None else split.embedded
    if signature_data is None or not signature_data.signed_hashes:
        raise RefusedError(
            "unsigned_module", "the module carries no signature (sign it with `meshveil sign`)"
        )
    whole = module_hashes(split.unsigned)[-1]
    keys = list(trusted)
    valid: set[str] = set()
    present: set[str] = set()
    for signed in signature_data.signed_hashes:
        message = signed_message(signed.hashes)
        covers_module = whole in signed.hashes
        for record in signed.signatures:
            named = record.key_id.decode("ascii", errors="replace")
            if named:
                present.add(named)
            if record.algorithm != ALGORITHM_ED25519 or not covers_module:
                continue
            candidates = [key for key in keys if not named or key.key_id == named]
            for key in candidates:
                if key.verifies(record.signature, message):
                    valid.add(key.key_id)
    return ModuleSignatures(split.unsigned, frozenset(valid), frozenset(present))
