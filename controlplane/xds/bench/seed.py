"""What a control plane needs before it serves anything: a trust root that admits modules,
signed modules, tenants and policies. Used by the benchmark and the tests."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from controlplane.trust.keys import FileSigner, generate_key_files, load_signer
from controlplane.trust.module_signing import ClaimRequest, sign_with_claims
from controlplane.trust.trust_root import TrustRoot
from controlplane.trust.trust_state import TrustState

CLOCK_SKEW_SECONDS = 60
"""Claims start a minute in the past, so a module signed now is valid now everywhere."""

_POLICY = """\
api_version: meshveil.io/v1alpha1
kind: DataProtectionPolicy
name: {name}
tenant: {tenant}
priority: 10
targets:
  workloads:
    - namespace: {namespace}
      labels:
        app: checkout
failure: fail_closed
routes:
  - name: card-api
    match:
      paths: ["/v1/cards/**"]
      methods: [GET]
    directions: [response]
    content_types: [application/json]
    detectors:
      credit-card:
        threshold: {threshold}
        action: block
        mask: {{type: partial, character: "*", keep_last: 4}}
"""


@dataclass(frozen=True)
class TrustSetup:
    root_file: Path
    signer: FileSigner
    key_file: Path
    """The root key's private half, to sign trust statements (e.g. adding a config key)."""


def make_trust(folder: Path) -> TrustSetup:
    """A one-key trust root in `folder` (keys.pub) and the signer of that key."""
    generated = generate_key_files(folder, "module-root")
    root = TrustRoot(TrustState(version=1, threshold=1, keys=(generated.public_key,)))
    root_file = folder / "keys.pub"
    root.save(root_file)
    return TrustSetup(root_file, load_signer(generated.private_path), generated.private_path)


def signed_module(module: bytes, signer: FileSigner) -> bytes:
    """The module with claims granting what its embedded manifest declares."""
    request = ClaimRequest(now=int(time.time()) - CLOCK_SKEW_SECONDS)
    return sign_with_claims(module, signer, request=request).signed.module


def policy_yaml(name: str, tenant: str, namespace: str, threshold: int) -> bytes:
    """A small policy that configures the DLP and mask filters for app=checkout pods."""
    return _POLICY.format(name=name, tenant=tenant, namespace=namespace, threshold=threshold).encode()
