"""meshveil-dlp's decisions at the policy's thresholds, per route, method, direction and
content type: block (a local reply naming the request id, nothing found in it), alert
(event, log line, counter) and tag (headers for the filters and services after it), and
the finding events it sends: detector, count, location, action, never the value."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from controlplane.policy.compile import FilterName
from controlplane.policy.model import Policy
from tests.filters.filters_support import CARD, CARD_2, EMAIL, TOKEN_KEY, Exchange, chunks, load, sidecar

DLP_ONLY = (FilterName.DLP,)


def cards_policy(threshold: int, action: str, mode: str = "streaming", extra: str = "") -> Policy:
    return load(
        "  - name: exports\n"
        "    match: {paths: ['/v1/export/**'], methods: [POST]}\n"
        "    content_types: [application/json]\n"
        f"    body: {{mode: {mode}}}\n"
        "    detectors:\n"
        f"      credit-card: {{threshold: {threshold}, action: {action}}}\n"
        "      email-address: {threshold: 1, action: tag}\n",
        extra=extra,
    )


def cards_body(count: int) -> bytes:
    return json.dumps({"rows": [{"card": CARD if index % 2 else CARD_2} for index in range(count)]}).encode()


@pytest.mark.parametrize(("cards", "blocked"), [(2, False), (3, True), (7, True)])
def test_block_at_the_threshold_with_a_reply_that_names_only_the_request(
    modules: dict[str, Path], cards: int, blocked: bool
) -> None:
    body = cards_body(cards)
    exchange = Exchange(
        path="/v1/export/all", request_chunks=chunks(body, range(10, len(body), 10)), request_id="req-77"
    )
    with sidecar(modules, cards_policy(3, "block"), DLP_ONLY) as car:
        outcome = car.run(exchange.build())
        metrics = car.host.metrics
        (event,) = car.queued_events()
    reply = outcome.local_reply
    if not blocked:
        assert reply is None and outcome.request_to_upstream is not None
        assert event["enforced"] is False
        assert event["findings"] == [
            {
                "detector": "credit-card",
                "count": cards,
                "action": "below_threshold",
                "locations": [{"where": "body", "path": "$.rows[*].card", "count": cards}],
            }
        ]
        return
    assert reply is not None and reply.status == 403 and reply.details == "meshveil-dlp_blocked"
    assert json.loads(reply.body) == {"error": "blocked by data protection policy", "request_id": "req-77"}
    assert ("x-meshveil-request-id", "req-77") in reply.headers
    assert metrics["meshveil.dlp.route.exports.detector.credit-card.request.block"] == 1
    assert event["enforced"] is True and event["request"] == {"id": "req-77", "method": "POST"}
    # Streaming: blocked at the chunk that completed the third card, not at the end.
    assert event["findings"][0]["count"] == 3
    assert outcome.request_to_upstream is None or len(outcome.request_to_upstream.body) < len(body)


def test_a_buffered_response_over_the_threshold_never_leaves(modules: dict[str, Path]) -> None:
    body = cards_body(5)
    exchange = Exchange(path="/v1/export/all", response_chunks=chunks(body, range(10, len(body), 10)))
    with sidecar(modules, cards_policy(3, "block", mode="buffered"), DLP_ONLY) as car:
        outcome = car.run(exchange.build())
    # The headers had gone on; Envoy resets the stream and no body byte reached the client.
    assert outcome.stream_reset
    assert outcome.response_to_client.body == b""


def test_other_methods_directions_and_content_types_are_not_this_routes(modules: dict[str, Path]) -> None:
    body = cards_body(5)
    cases = [
        Exchange(path="/v1/export/all", method="GET", request_chunks=[body]),
        Exchange(path="/v1/other", request_chunks=[body]),
        Exchange(path="/v1/export/all", request_type="text/csv", request_chunks=[body]),
    ]
    with sidecar(modules, cards_policy(1, "block"), DLP_ONLY) as car:
        for exchange in cases:
            assert car.run(exchange.build()).local_reply is None
        assert car.queued_events() == []
    response_only = load(
        "  - name: exports\n    directions: [response]\n    detectors: {credit-card: {action: block}}\n"
    )
    with sidecar(modules, response_only, DLP_ONLY) as car:
        assert car.run(Exchange(request_chunks=[body]).build()).local_reply is None


def test_alerts_are_events_log_lines_and_counters(modules: dict[str, Path]) -> None:
    exchange = Exchange(path="/v1/export/all", response_chunks=chunks(cards_body(4), [33]))
    with sidecar(modules, cards_policy(2, "alert"), DLP_ONLY) as car:
        outcome = car.run(exchange.build())
        metrics = car.host.metrics
        (event,) = car.queued_events()
        logs = car.log_text()
    assert outcome.local_reply is None
    assert event["type"] == "finding" and event["route"] == "exports" and event["direction"] == "response"
    assert event["findings"][0]["action"] == "alert"
    assert metrics["meshveil.dlp.route.exports.detector.credit-card.response.findings"] == 4
    assert metrics["meshveil.dlp.route.exports.detector.credit-card.response.alert"] == 1
    assert "meshveil-dlp: route exports response req-0001: credit-card=4 (alert)" in logs


def test_tags_for_the_filters_after_dlp_and_the_findings_header_for_ueba(modules: dict[str, Path]) -> None:
    exchange = Exchange(
        path=f"/v1/export/all?notify={EMAIL}",
        request_chunks=[cards_body(2)],
        request_headers=[("x-meshveil-dlp-tags", "forged")],
        response_headers=[("x-meshveil-findings", "credit-card=0")],
    )
    with sidecar(modules, cards_policy(5, "alert"), DLP_ONLY) as car:
        outcome = car.run(exchange.build())
    upstream = outcome.request_to_upstream
    assert upstream is not None
    # The e-mail in the query met its tag rule at the headers: upstream sees the tag.
    assert upstream.header("x-meshveil-dlp-tags") == "email-address"
    # The response carries what the exchange held so far: the request's cards and e-mail.
    client = outcome.response_to_client
    assert client.header("x-meshveil-findings") == "credit-card=2, email-address=1"
    assert client.header("x-meshveil-dlp-tags") == "email-address"


def test_fingerprints_let_analysts_join_without_the_value(modules: dict[str, Path]) -> None:
    policy = cards_policy(9, "alert", extra="telemetry: {fingerprint_key_ref: token-key}\n")
    exchange = Exchange(path="/v1/export/all", request_chunks=[cards_body(3)])
    with sidecar(modules, policy, DLP_ONLY) as car:
        car.run(exchange.build())
        (event,) = car.queued_events()
    (location,) = event["findings"][0]["locations"]
    expected = {
        hmac.new(TOKEN_KEY, b"meshveil-fingerprint-v1\x00" + card.encode(), hashlib.sha256).hexdigest()[:16]
        for card in (CARD, CARD_2)
    }
    assert set(location["fingerprints"]) == expected
