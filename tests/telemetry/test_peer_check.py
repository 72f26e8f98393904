"""Behind a mesh proxy the collector also checks a node credential against the mTLS peer
the proxy names in x-forwarded-client-cert: a credential copied out of a shop sidecar is
refused when it arrives from a workload of another namespace."""

from __future__ import annotations

import pytest

from controlplane.telemetry.peer import XFCC_BYTES_MAX, XfccError, peer_mismatch, peer_of
from tests.telemetry.support import LEDGER_NODE, Collector, anomaly, collector

__all__ = ["collector"]

SHOP_XFCC = (
    'By=spiffe://cluster.local/ns/meshveil/sa/controlplane;Hash=1a2b;Subject="O=shop,CN=web";'
    "URI=spiffe://cluster.local/ns/shop/sa/checkout"
)
WEB = "spiffe://cluster.local/ns/shop/sa/web"
PAYMENTS_XFCC = (
    "By=spiffe://cluster.local/ns/meshveil/sa/controlplane;URI=spiffe://cluster.local/ns/payments/sa/ledger"
)


def test_a_credential_is_good_only_from_a_peer_of_its_nodes_namespace(collector: Collector) -> None:
    ledger = collector.issue_node(LEDGER_NODE, tenant="payments")
    assert collector.send(ledger, LEDGER_NODE, [anomaly()], xfcc=PAYMENTS_XFCC).status_code == 200
    refused = collector.send(ledger, LEDGER_NODE, [anomaly()], xfcc=SHOP_XFCC)
    assert refused.status_code == 403, refused.text
    assert "mTLS peer spiffe://cluster.local/ns/shop/sa/checkout" in refused.json()["detail"]
    # Without a mesh proxy in front there is no peer to check: the credential decides.
    assert collector.send(ledger, LEDGER_NODE, [anomaly()]).status_code == 200


@pytest.mark.parametrize(
    ("xfcc", "namespace"),
    [
        (SHOP_XFCC, "shop"),
        # Chained proxies: the last element is the hop that reached the control plane.
        (f"{PAYMENTS_XFCC},{SHOP_XFCC}", "shop"),
        ("By=spiffe://cluster.local/ns/a/sa/b;Hash=00", None),
        ("URI=https://example.com/not-spiffe", None),
        ("", None),
    ],
)
def test_the_peer_is_the_last_hops_spiffe_id(xfcc: str, namespace: str | None) -> None:
    peer = peer_of(xfcc)
    assert (peer.namespace if peer is not None else None) == namespace


def test_node_ids_that_name_no_namespace_are_left_to_the_credential() -> None:
    peer = peer_of(SHOP_XFCC)
    assert peer_mismatch("sidecar~10.0.1.3~ledger-6f5d4c3b2-a1b2c.payments~payments.svc.cluster.local", peer)
    assert peer_mismatch("gateway-7", peer) is None


def test_a_header_that_cannot_be_read_for_sure_is_refused_not_ignored(collector: Collector) -> None:
    """A proxy that appends its hop to the client's header must not be outwitted: a client
    that leaves a quote open would swallow the proxy's hop (its own forged element then
    counting as the last), and one that pads the header past the limit would switch the
    check off."""
    node = LEDGER_NODE.replace("a1b2c", "x9y8z")  # a node of its own: the plane is shared
    ledger = collector.issue_node(node, tenant="payments")
    swallowed = f'{PAYMENTS_XFCC};Note=",{SHOP_XFCC}'
    oversized = f"By=x;Hash={'0' * XFCC_BYTES_MAX},{SHOP_XFCC}"
    for xfcc in (swallowed, oversized):
        refused = collector.send(ledger, node, [anomaly()], xfcc=xfcc)
        assert refused.status_code == 400, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert "x-forwarded-client-cert" in refused.json()["detail"]


def test_an_escaped_quote_does_not_end_a_quoted_value() -> None:
    forged = 'Subject="CN=a\\",URI=spiffe://cluster.local/ns/payments/sa/x"'
    peer = peer_of(f"By=spiffe://cluster.local/ns/meshveil/sa/cp;{forged};URI={WEB}")
    assert peer is not None and peer.uri == WEB
    with pytest.raises(XfccError, match="unclosed quote"):
        peer_of('URI=spiffe://cluster.local/ns/payments/sa/x;Subject="CN=a\\"')
