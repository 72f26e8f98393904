"""SPIFFE ids (spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT) from client certificates."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cryptography import x509

_WORKLOAD = re.compile(r"^spiffe://([a-z0-9._-]+)/ns/([a-z0-9-]+)/sa/([a-z0-9.-]+)$")


class SpiffeError(ValueError):
    pass


@dataclass(frozen=True)
class SpiffeId:
    trust_domain: str
    namespace: str
    service_account: str

    @property
    def uri(self) -> str:
        return f"spiffe://{self.trust_domain}/ns/{self.namespace}/sa/{self.service_account}"


def parse_spiffe_id(uri: str) -> SpiffeId:
    match = _WORKLOAD.match(uri)
    if match is None:
        raise SpiffeError(f"{uri!r} is not a workload SPIFFE id (spiffe://DOMAIN/ns/NS/sa/SA)")
    return SpiffeId(match.group(1), match.group(2), match.group(3))


def spiffe_from_certificate(pem: bytes, trust_domain: str | None) -> SpiffeId:
    """The one SPIFFE id in the certificate's URI SANs, in `trust_domain` when one is set."""
    certificate = x509.load_pem_x509_certificate(pem)
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound as error:
        raise SpiffeError("the client certificate has no subject alternative names") from error
    uris = [
        uri
        for uri in names.get_values_for_type(x509.UniformResourceIdentifier)
        if uri.startswith("spiffe://")
    ]
    if len(uris) != 1:
        raise SpiffeError(f"the client certificate carries {len(uris)} SPIFFE ids; exactly one is required")
    spiffe = parse_spiffe_id(uris[0])
    if trust_domain is not None and spiffe.trust_domain != trust_domain:
        raise SpiffeError(f"SPIFFE id {spiffe.uri} is not in trust domain {trust_domain!r}")
    return spiffe
