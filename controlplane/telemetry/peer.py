"""The mTLS peer a batch came from, when the control plane sits behind a mesh proxy:
Envoy (an Istio sidecar or gateway) terminates the sidecar's mTLS and passes the peer's
certificate identity on in `x-forwarded-client-cert` (XFCC), whose last element is the
hop that reached it. A node credential is then only good from a workload of the node's own
namespace, so a token copied out of one sidecar's config cannot be used from elsewhere.

Only ever a further restriction: without the header, or when the node id or the peer does
not say a namespace, the credential alone decides (a forged header cannot help a sender
that lacks the node's token). A header that cannot be read for sure (too long, an
unclosed quote) is refused rather than ignored: a proxy that appends to a client's header
would otherwise let the client hide or replace the hop the proxy added.
"""

from __future__ import annotations

from controlplane.telemetry.nodes import namespace_of
from controlplane.xds.spiffe import SpiffeError, SpiffeId, parse_spiffe_id

XFCC_BYTES_MAX = 16 * 1024


class XfccError(ValueError):
    """The header cannot be parsed; the message says why (and holds none of its value)."""


def peer_of(xfcc: str | None) -> SpiffeId | None:
    """The SPIFFE id of the last hop's client certificate in an XFCC header, if any."""
    if not xfcc:
        return None
    if len(xfcc) > XFCC_BYTES_MAX:
        raise XfccError(f"the x-forwarded-client-cert header is over {XFCC_BYTES_MAX} bytes")
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
    """XFCC values may be quoted and contain separators (a subject's commas), and a quote
    inside a quoted value is escaped with a backslash (Envoy's encoding)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if quoted:
        raise XfccError("the x-forwarded-client-cert header has an unclosed quote")
    parts.append("".join(current))
    return parts
