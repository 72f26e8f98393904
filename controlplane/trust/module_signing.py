"""`meshveil sign`: grant a module its claims and sign module and claims together.

A module without claims gets them (issuer = the signing key); a module that has them is
co-signed, leaving the claims as they are, unless new claims are asked for, which
replaces the claims and drops the signatures over the old ones.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from controlplane.modules.capabilities import CAPABILITIES_SECTION, CapabilityManifest, ManifestError
from controlplane.modules.wasm_binary import (
    ExternalKind,
    WasmFormatError,
    custom_section,
    parse,
    without_custom_sections,
)
from controlplane.trust.build_info import read_build_info
from controlplane.trust.claims import CLAIMS_SECTION, ModuleClaims, module_hash, read_claims
from controlplane.trust.errors import TrustError
from controlplane.trust.keys import Signer
from controlplane.trust.module_signature import SIGNATURE_SECTION, SignedModule, sign_module, split_signature
from harness.abi.catalog import ABI_VERSION_MARKERS, CALLBACKS

DEFAULT_VALIDITY_SECONDS = 90 * 24 * 3600


@dataclass(frozen=True)
class ClaimRequest:
    """What new claims should say; None fields come from the module itself."""

    now: int
    valid_for_seconds: int = DEFAULT_VALIDITY_SECONDS
    not_before: int | None = None
    version: str = "0.0.0"
    subject: str | None = None
    capabilities: frozenset[str] | None = None
    """Granted host functions; None grants what the module's embedded manifest declares."""


@dataclass(frozen=True)
class SigningResult:
    signed: SignedModule
    claims: ModuleClaims
    new_claims: bool


def sign_with_claims(
    data: bytes,
    signer: Signer,
    *,
    request: ClaimRequest | None,
    detached: bytes | None = None,
    detach: bool = False,
) -> SigningResult:
    """Signs `data`. `request` makes new claims; None co-signs existing claims (or makes
    default ones when there are none yet)."""
    unsigned = split_signature(data).unsigned if detached is None else data
    try:
        module = parse(unsigned)
    except WasmFormatError as error:
        raise TrustError(f"not a WebAssembly module: {error}") from error
    existing = read_claims(module)
    if existing is not None and request is None:
        return SigningResult(sign_module(data, signer, detached=detached, detach=detach), existing, False)
    if request is None:
        raise TrustError("the module has no claims yet; give the claims to grant")
    bare = without_custom_sections(unsigned, {SIGNATURE_SECTION, CLAIMS_SECTION})
    claims = _new_claims(bare, signer, request)
    with_claims = bare + custom_section(CLAIMS_SECTION, claims.to_json())
    return SigningResult(sign_module(with_claims, signer, detach=detach), claims, True)


def _new_claims(bare: bytes, signer: Signer, request: ClaimRequest) -> ModuleClaims:
    module = parse(bare)
    build = read_build_info(module)
    manifest = _embedded_manifest(module.custom_sections.get(CAPABILITIES_SECTION, []))
    capabilities = request.capabilities
    if capabilities is None:
        if manifest is None:
            raise TrustError(
                f"the module embeds no {CAPABILITIES_SECTION} manifest; name the capabilities to grant"
            )
        capabilities = manifest.capabilities
    subject = request.subject or (build.module if build else None) or (manifest.module if manifest else None)
    if not subject:
        raise TrustError("the module does not say its name; give the subject")
    callbacks = sorted(
        export.name
        for export in module.exports
        if export.kind is ExternalKind.FUNCTION
        and export.name in CALLBACKS
        and export.name not in ABI_VERSION_MARKERS  # a marker, never called
    )
    not_before = request.now if request.not_before is None else request.not_before
    if request.valid_for_seconds <= 0:
        raise TrustError("claims must be valid for a positive duration")
    return ModuleClaims(
        issuer=signer.public_key.key_id,
        subject=subject,
        module_hash=module_hash(bare),
        capabilities=tuple(sorted(capabilities)),
        callbacks=tuple(callbacks),
        version=request.version,
        issued_at=request.now,
        not_before=not_before,
        expires=not_before + request.valid_for_seconds,
        claims_id=uuid.uuid4().hex,
        build_id=build.build_id if build else "",
    )


def _embedded_manifest(sections: list[bytes]) -> CapabilityManifest | None:
    if not sections:
        return None
    if len(sections) > 1:
        raise TrustError(f"the module has {len(sections)} {CAPABILITIES_SECTION} sections")
    try:
        return CapabilityManifest.from_json(sections[0], f"section {CAPABILITIES_SECTION}")
    except ManifestError as error:
        raise TrustError(str(error)) from error
