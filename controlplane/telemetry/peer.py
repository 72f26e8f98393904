"""The mTLS peer a batch came from, when the control plane sits behind a mesh proxy:
Envoy (an Istio sidecar or gateway) terminates the sidecar's mTLS and passes the peer's
certificate identity on in `x-forwarded-client-cert` (XFCC), whose last element is the
hop that reached it. A node credential is then only good from a workload of the node's own
namespace, so a token copied out of one sidecar's config cannot be used from elsewhere.

Only ever a further restriction: without the header, or when the node id or the peer does
not say a namespace, the credential alone decides (a forged header cannot help a sender
that lacks the node's token).
"""

from __future__ import annotations

from controlplane.telemetry.nodes import namespace_of
from controlplane.xds.spiffe import SpiffeError, SpiffeId, parse_spiffe_id

XFCC_BYTES_MAX = 16 * 1024


def peer_of(xfcc: str | None) -> SpiffeId | None:
    """The SPIFFE id of the last hop's client certificate in an XFCC header, if any."""
    if not xfcc or len(xfcc) > XFCC_BYTES_MAX:
        return None
    last_hop = _split_outside_quotes(xfcc, ",")[-1]
    for pair in _split_outside_quotes(last_hop, ";"):
        name, _, value = pair.partition("=")
        if name.strip().lower() != "uri":
            continue
        try:
            return parse_spiffe_id(value.strip().strip('"'))
        except SpiffeError:
            continue
    return None


def peer_mismatch(node_id: str, peer: SpiffeId | None) -> str | None:
    """Why `peer` may not send for `node_id`, or None when it may."""
    if peer is None:
        return None
    namespace = namespace_of(node_id)
    if namespace is None or namespace == peer.namespace:
        return None
    return (
        f"the telemetry credential of a node in namespace {namespace!r} was sent by mTLS peer "
        f"{peer.uri}, a workload of namespace {peer.namespace!r}"
    )


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    """XFCC values may be quoted and contain separators (a subject's commas)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts
