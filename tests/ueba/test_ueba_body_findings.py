"""meshveil-ueba counts the card numbers meshveil-dlp finds in response bodies: the DLP
filter's findings tag is written at the response headers, before any body is scanned, so
the behaviour filter reads the totals DLP leaves in the filter state at the end of the
stream. Both real modules, in Envoy's chain order (UEBA before DLP; responses pass DLP
first). A surge of card numbers in one identity's response bodies is caught; an identity
returning a card now and then is not."""

from __future__ import annotations

import json
from collections.abc import Callable

from controlplane.modules.build import BuiltModule
from controlplane.policy.compile import CHAIN_ORDER, FilterName, compile_filter_config
from controlplane.policy.load import load_policy
from harness.host import FilterChain, Host, PluginConfig
from harness.host.outcome import ExchangeOutcome
from tests.harness.host_support import make_host, wasm_runtime
from tests.ueba.ueba_support import Client, Collector, exchange, refused, ueba_code, ueba_config

__all__ = ["make_host", "ueba_code", "wasm_runtime"]

CARD = "4111 1111 1111 1111"
ALICE = Client("alice", address="10.0.0.1:40001")
MALLORY = Client("mallory", address="10.0.0.3:40003")

DLP_POLICY = (
    b"api_version: meshveil.io/v1alpha1\n"
    b"kind: DataProtectionPolicy\n"
    b"name: cards\n"
    b"tenant: shop\n"
    b"targets: {workloads: [{namespace: shop}]}\n"
    b"routes:\n"
    b"  - name: cards\n"
    b"    directions: [response]\n"
    b"    content_types: [application/json]\n"
    b"    detectors: {credit-card: {action: alert}}\n"
)
CARD_RULE = {
    "name": "card-volume",
    "feature": "findings",
    "detector": "credit-card",
    "threshold": 500,
    "window_seconds": 3600,
    "action": "block",
}


def cards_body(cards: int) -> bytes:
    return json.dumps({"rows": [{"card": CARD} for _ in range(cards)]}).encode()


def chain_with_dlp(
    make_host: Callable[..., Host], ueba_code: bytes, dlp_code: bytes
) -> tuple[Host, FilterChain]:
    collector = Collector()
    host = make_host(workers=1, upstreams={"meshveil-collector": collector.upstream()})
    dlp_config = compile_filter_config(load_policy(DLP_POLICY, "application/yaml"), FilterName.DLP)
    configs = {
        FilterName.UEBA: PluginConfig(
            name="ueba", module=ueba_code, configuration=ueba_config(rules=[CARD_RULE])
        ),
        FilterName.DLP: PluginConfig(name="dlp", module=dlp_code, configuration=dlp_config),
    }
    plugins = [host.load_plugin(configs[name]) for name in CHAIN_ORDER if name in configs]
    return host, FilterChain(host, plugins)


def run(chain: FilterChain, client: Client, exchange_id: str, cards: int) -> ExchangeOutcome:
    return chain.run(exchange(client, exchange_id, body=cards_body(cards)))


def test_a_surge_of_card_numbers_in_response_bodies_is_caught(
    make_host: Callable[..., Host], ueba_code: bytes, built_modules: dict[str, BuiltModule]
) -> None:
    dlp_code = built_modules["meshveil-dlp"].path.read_bytes()
    host, chain = chain_with_dlp(make_host, ueba_code, dlp_code)
    normal = [refused(run(chain, ALICE, f"alice-{index}", 1)) for index in range(8)]
    surge = [refused(run(chain, MALLORY, f"mallory-{index}", 120)) for index in range(8)]
    # 120 cards a response, found in the bodies: after five the hour is past 500, and the
    # sixth response is blocked at its headers; the requests after it at once.
    assert normal == [None] * 8
    assert surge == [None] * 5 + [403] * 3
    # Every card DLP found reached the behaviour filter; the blocked response's body never
    # left the upstream side, so neither filter saw it.
    dlp_found = host.metrics["meshveil.dlp.route.cards.detector.credit-card.response.findings"]
    assert dlp_found == host.metrics["meshveil.ueba.body_findings"] == 8 + 5 * 120
