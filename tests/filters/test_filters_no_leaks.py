"""Nothing the filters emit carries a value they found: every log line, metric name, finding
event, local reply and header they add is scanned for the planted values (in every form
they were planted in), with values in bodies, JSON keys, the query, cookies, headers, the
path and the request id itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.host.outcome import ExchangeOutcome
from tests.filters.filters_support import CARD, EMAIL, IBAN, SSN, Exchange, chunks, load, sidecar

CARD_DIGITS = CARD.replace(" ", "")
PLANTED = (CARD, CARD_DIGITS, EMAIL, IBAN, IBAN.replace(" ", ""), SSN, "ada.lovelace", "536221234")


def routes_with(action: str) -> str:
    return (
        "  - name: everything\n"
        "    content_types: [application/json, text/*]\n"
        "    detectors:\n"
        f"      credit-card: {{threshold: 1, action: {action}, mask: {{type: partial}}}}\n"
        f"      email-address: {{threshold: 1, action: {action}, mask: {{type: hash, key_ref: token-key}}}}\n"
        f"      iban-code: {{threshold: 1, action: {action}, mask: {{type: redact}}}}\n"
        f"      us-ssn: {{threshold: 1, action: {action},\n"
        "                mask: {type: format_preserving, key_ref: fpe-key}}\n"
    )


def planted_exchange(where: str) -> Exchange:
    document = {
        "customer": {"email": EMAIL, "ssn": SSN, "iban": IBAN},
        EMAIL: {"card": CARD},
        "note": f"pay {CARD_DIGITS} from {IBAN}",
    }
    body = json.dumps(document).encode()
    headers = [("x-card", CARD), ("cookie", f"sid=1; mail={EMAIL}"), ("x-ssn", SSN)]
    exchange = Exchange(
        path=f"/v1/users/{CARD_DIGITS}?mail={EMAIL}&{IBAN.replace(' ', '')}=1",
        request_id=CARD_DIGITS,
    )
    if where == "request":
        exchange.request_chunks = chunks(body, [41, 97])
        exchange.request_headers = headers
    else:
        exchange.response_chunks = chunks(body, [41, 97])
        exchange.response_headers = [("set-cookie", f"mail={EMAIL}; Path=/"), ("x-iban", IBAN)]
    return exchange


def emitted(
    outcome: ExchangeOutcome, logs: str, metrics: dict[str, int], events: list[dict[str, Any]]
) -> list[str]:
    """Everything the filters said, as text."""
    texts = [logs, json.dumps(metrics), json.dumps(events)]
    reply = outcome.local_reply
    if reply is not None:
        texts += [reply.body.decode("utf-8", "replace"), reply.details, json.dumps(reply.headers)]
    for message in (outcome.request_to_upstream, outcome.response_to_client):
        if message is not None:
            texts += [f"{name}: {value}" for name, value in message.headers if name.startswith("x-meshveil-")]
    for observation in outcome.filters:
        texts += [record.message for record in observation.logs]
    return texts


@pytest.mark.parametrize("action", ["block", "alert", "tag"])
@pytest.mark.parametrize("where", ["request", "response"])
def test_no_planted_value_in_anything_the_filters_emit(
    modules: dict[str, Path], action: str, where: str
) -> None:
    policy = load(routes_with(action), extra="telemetry: {fingerprint_key_ref: token-key}\n")
    with sidecar(modules, policy) as car:
        outcome = car.run(planted_exchange(where).build())
        events = car.queued_events()
        texts = emitted(outcome, car.log_text(), car.host.metrics, events)
    assert events, "the planted values were found and reported"
    assert any("fingerprints" in json.dumps(event) for event in events)
    if action == "block":
        assert outcome.local_reply is not None or outcome.stream_reset
    for text in texts:
        for value in PLANTED:
            assert value not in text, f"{value!r} leaked in: {text[:300]}"
    # The request id was a card number: it is replaced, not echoed.
    for event in events:
        assert event["request"]["id"] == "-"
