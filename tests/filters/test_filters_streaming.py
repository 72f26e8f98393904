"""JSON, SSE and form bodies through the real meshveil-mask and meshveil-dlp modules in the
harness: nested, escaped and unicode JSON; a value split across body chunks at every
offset is still found (DLP counts it) and masked (the client never sees it); streaming
routes pass the body on as it comes, buffered ones whole; the buffer limit is enforced as
the policy says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlplane.policy.model import Policy
from tests.filters.filters_support import CARD, CARD_2, EMAIL, Exchange, chunks, load, sidecar

CARDS_METRIC = "meshveil.dlp.route.orders.detector.credit-card.response.findings"


def orders_policy(
    mode: str = "streaming", extra_body: str = "", content_types: str = "[application/json]"
) -> Policy:
    return load(
        "  - name: orders\n"
        "    match: {paths: ['/v1/**']}\n"
        "    directions: [response]\n"
        f"    content_types: {content_types}\n"
        f"    body: {{mode: {mode}{extra_body}}}\n"
        "    detectors:\n"
        "      credit-card: {threshold: 100, action: alert, mask: {type: partial, keep_last: 4}}\n"
        "      email-address: {action: alert, mask: {type: redact}}\n"
    )


def test_nested_escaped_and_unicode_json_is_masked_and_stays_json(modules: dict[str, Path]) -> None:
    body = (
        '{"order": {"customer": {"name": "Zo\\u00eb \\"Z\\" \\u00dcnal", '
        '"contact": {"email": "ada.lovelace\\u0040example.com"}}, '
        '"payments": [{"card": "4111\\u00201111 1111 1111"}, '
        '{"note": "paid with 5500-0000-0000-0004 \u2713"}]}, '
        '"emoji": "\U0001f600 \\ud83d\\ude00", "empty": {}, "list": [[["x"]]]}'
    ).encode()
    with sidecar(modules, orders_policy()) as car:
        outcome = car.run(Exchange(response_chunks=chunks(body, [37, 101])).build())
        events = car.queued_events()
        metrics = car.host.metrics
    masked = json.loads(outcome.response_to_client.body)
    assert masked["order"]["customer"]["name"] == 'Zoë "Z" Ünal'
    assert masked["order"]["customer"]["contact"]["email"] == "[REDACTED:EMAIL_ADDRESS]"
    assert masked["order"]["payments"][0]["card"] == "**** **** **** 1111"
    assert masked["order"]["payments"][1]["note"] == "paid with ****-****-****-0004 \u2713"
    assert masked["emoji"] == "\U0001f600 \U0001f600"
    assert masked["list"] == [[["x"]]]
    assert outcome.response_to_client.header("content-length") is None
    assert metrics[CARDS_METRIC] == 2
    (event,) = events
    locations = {
        finding["detector"]: sorted(location["path"] for location in finding["locations"])
        for finding in event["findings"]
    }
    assert locations == {
        "credit-card": ["$.order.payments[*].card", "$.order.payments[*].note"],
        "email-address": ["$.order.customer.contact.email"],
    }


def test_a_card_split_at_every_offset_is_found_and_masked(modules: dict[str, Path]) -> None:
    body = json.dumps({"id": "o-1", "payment": {"card": CARD, "holder": "Ada"}, "n": 3}).encode()
    start = body.index(CARD.encode())
    with sidecar(modules, orders_policy()) as car:
        for cut in range(1, len(body)):
            before = car.host.metrics.get(CARDS_METRIC, 0)
            outcome = car.run(Exchange(response_chunks=chunks(body, [cut])).build(f"cut-{cut}"))
            sent = outcome.response_to_client.body
            assert json.loads(sent)["payment"]["card"] == "**** **** **** 1111", (cut, sent)
            assert car.host.metrics[CARDS_METRIC] == before + 1, cut
            # A cut inside the value: the part before the cut was held back, not sent.
            if start < cut < start + len(CARD):
                assert len(outcome.response_to_client.body_chunks[0]) <= start


def test_every_byte_its_own_chunk(modules: dict[str, Path]) -> None:
    body = json.dumps({"a": [CARD, {"b": EMAIL}], "c": CARD_2}).encode()
    with sidecar(modules, orders_policy()) as car:
        outcome = car.run(Exchange(response_chunks=chunks(body, range(1, len(body)))).build())
    assert json.loads(outcome.response_to_client.body) == {
        "a": ["**** **** **** 1111", {"b": "[REDACTED:EMAIL_ADDRESS]"}],
        "c": "**** **** **** 0004",
    }


def test_server_sent_events_split_mid_value(modules: dict[str, Path]) -> None:
    body = (
        b'data: {"delta": "your card ' + CARD.encode() + b' is on file"}\n\n'
        b'data: {"delta": "mail ' + EMAIL.encode() + b'"}\n\n'
        b"data: [DONE]\n\n"
    )
    policy = orders_policy(content_types="[text/event-stream]")
    with sidecar(modules, policy) as car:
        for cut in range(1, len(body), 7):
            outcome = car.run(
                Exchange(response_type="text/event-stream", response_chunks=chunks(body, [cut])).build()
            )
            sent = outcome.response_to_client.body
            assert CARD.encode() not in sent and EMAIL.encode() not in sent, (cut, sent)
            assert b"**** **** **** 1111" in sent and b"[REDACTED:EMAIL_ADDRESS]" in sent
            assert sent.endswith(b"data: [DONE]\n\n")


def test_streaming_passes_on_as_it_goes_buffered_holds_to_the_end(modules: dict[str, Path]) -> None:
    records = [{"i": index, "note": "nothing to see here " * 4} for index in range(40)]
    body = json.dumps(records).encode()
    cuts = list(range(1000, len(body), 1000))
    with sidecar(modules, orders_policy("streaming")) as car:
        streamed = car.run(Exchange(response_chunks=chunks(body, cuts)).build())
    with sidecar(modules, orders_policy("buffered")) as car:
        buffered = car.run(Exchange(response_chunks=chunks(body, cuts)).build())
    assert streamed.response_to_client.body == body == buffered.response_to_client.body
    assert len(streamed.response_to_client.body_chunks) == len(cuts) + 1
    assert len(buffered.response_to_client.body_chunks) == 1


@pytest.mark.parametrize(("overflow", "passes"), [("block", False), ("stream", True)])
def test_past_the_buffer_limit_the_policy_decides(
    modules: dict[str, Path], overflow: str, passes: bool
) -> None:
    records = [{"card": CARD, "pad": "x" * 200} for _ in range(20)]
    body = json.dumps(records).encode()
    policy = orders_policy("buffered", f", max_buffer_bytes: 1024, on_overflow: {overflow}")
    with sidecar(modules, policy) as car:
        outcome = car.run(Exchange(response_chunks=chunks(body, range(512, len(body), 512))).build())
    sent = outcome.response_to_client.body
    assert CARD.encode() not in sent
    if passes:
        assert [item["card"] for item in json.loads(sent)] == ["**** **** **** 1111"] * 20
    else:
        # Response headers had gone: Envoy resets the stream, and no body byte left.
        assert outcome.stream_reset and sent == b""
