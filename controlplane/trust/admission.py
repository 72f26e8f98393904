"""Whether a module may run: its signature, claims, issuer, validity and capabilities.

`assess_module` lists every reason to refuse (for `meshveil validate`); `admit_module`
raises the first one (for deployment and the harness). Each refusal has a stable code:

    unsigned_module, misplaced_signature, two_signatures  the signature itself
    tampered_module      a trusted key's signature does not match the bytes
    untrusted_issuer     nobody the trust root trusts has signed
    no_claims, bad_claims, issuer_not_signer, hash_mismatch
    claims_not_yet_valid, claims_expired
    issuer_not_allowed   the environment's policy does not allow this issuer
    config_unverified    the policy wants configs verified, the module was built without a trust root
    unclaimed_capability an import the claims do not grant
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from controlplane.modules.wasm_binary import WasmFormatError, parse
from controlplane.trust.build_info import BuildInfo, read_build_info
from controlplane.trust.claims import ModuleClaims, module_hash, read_claims
from controlplane.trust.errors import RefusedError, TrustError
from controlplane.trust.module_signature import verify_module_signatures
from controlplane.trust.policy import EnvironmentPolicy
from controlplane.trust.trust_state import TrustState


@dataclass(frozen=True)
class AdmissionRequest:
    trust: TrustState
    now: int
    policy: EnvironmentPolicy | None = None
    detached_signature: bytes | None = None


@dataclass(frozen=True)
class AdmittedModule:
    claims: ModuleClaims
    signers: frozenset[str]
    build: BuildInfo | None
    module_hash: str


@dataclass
class _Progress:
    claims: ModuleClaims | None = None
    signers: frozenset[str] = frozenset()
    build: BuildInfo | None = None


def admit_module(data: bytes, request: AdmissionRequest) -> AdmittedModule:
    progress = _Progress()
    for refusal in _checks(data, request, progress):
        raise refusal
    assert progress.claims is not None
    return AdmittedModule(progress.claims, progress.signers, progress.build, module_hash(data))


@dataclass(frozen=True)
class Assessment:
    refusals: list[RefusedError]
    claims: ModuleClaims | None
    """The claims, when a trusted signature covers them (valid or not in other ways)."""


def assess_module(data: bytes, request: AdmissionRequest) -> Assessment:
    """Every reason to refuse the module, for reports that list them all."""
    progress = _Progress()
    refusals = list(_checks(data, request, progress))
    return Assessment(refusals, progress.claims)


def _checks(data: bytes, request: AdmissionRequest, progress: _Progress) -> Iterator[RefusedError]:
    try:
        signatures = verify_module_signatures(data, request.trust.keys, detached=request.detached_signature)
    except RefusedError as refusal:
        yield refusal
        return
    except TrustError as error:
        yield RefusedError("bad_signature_data", str(error))
        return
    if not signatures.valid_key_ids:
        named_trusted = sorted(signatures.present_key_ids & request.trust.key_ids)
        if named_trusted:
            yield RefusedError(
                "tampered_module",
                f"the signature by trusted key {named_trusted[0]} does not match the module: "
                "it changed after signing",
            )
        else:
            signers = ", ".join(sorted(signatures.present_key_ids)) or "unnamed keys"
            yield RefusedError(
                "untrusted_issuer",
                f"no key of trust version {request.trust.version} signed it ({signers} did)",
            )
        return
    progress.signers = signatures.valid_key_ids
    try:
        module = parse(signatures.unsigned)
        claims = read_claims(module)
        progress.build = read_build_info(module)
    except (TrustError, WasmFormatError) as error:
        yield RefusedError("bad_claims", str(error))
        return
    if claims is None:
        yield RefusedError(
            "no_claims", "the module carries no meshveil.claims section; sign it with `meshveil sign`"
        )
        return
    progress.claims = claims
    yield from _claim_checks(data, claims, signatures.valid_key_ids, request)
    verifies_configs = progress.build is not None and progress.build.verifies_configs
    if request.policy is not None and request.policy.require_config_verification and not verifies_configs:
        yield RefusedError(
            "config_unverified",
            f"environment {request.policy.name!r} requires config verification; build with --trust-root",
        )
    for item in module.imported_functions:
        if item.name not in claims.capabilities:
            yield RefusedError(
                "unclaimed_capability", f"imports {item.module}.{item.name}, which its claims do not grant"
            )


def _claim_checks(
    data: bytes, claims: ModuleClaims, signers: frozenset[str], request: AdmissionRequest
) -> Iterator[RefusedError]:
    if claims.issuer not in signers:
        yield RefusedError(
            "issuer_not_signer", f"the claims name issuer {claims.issuer}, who has not signed the module"
        )
    actual = module_hash(data)
    if claims.module_hash != actual:
        yield RefusedError(
            "hash_mismatch", f"the claims are for module {claims.module_hash[:16]}…, this is {actual[:16]}…"
        )
    if request.now < claims.not_before:
        yield RefusedError(
            "claims_not_yet_valid", f"the claims become valid at {claims.not_before} (now {request.now})"
        )
    if request.now >= claims.expires:
        yield RefusedError("claims_expired", f"the claims expired at {claims.expires} (now {request.now})")
    if request.policy is not None:
        allowed = request.policy.allowed_issuer_ids(request.trust)
        if claims.issuer not in allowed:
            yield RefusedError(
                "issuer_not_allowed",
                f"environment {request.policy.name!r} does not allow issuer {claims.issuer}",
            )
