"""Every mask action through meshveil-mask, checked against what it promises: partial
masks keep the last N, redaction names what was removed, hash tokens are the documented
HMAC and join across services sharing the key, format-preserving replacements keep shape
and Luhn validity, dropped fields leave valid JSON; headers, the query and cookies are
masked too, and a rewritten body loses its content-length."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from controlplane.policy.compile import FilterName
from controlplane.policy.model import Policy
from tests.filters.filters_support import (
    CARD,
    CARD_2,
    EMAIL,
    IBAN,
    TOKEN_KEY,
    Exchange,
    chunks,
    load,
    sidecar,
)

MASK_ONLY = (FilterName.MASK,)


def route(mask: str, mode: str = "streaming", detector: str = "credit-card") -> Policy:
    return load(
        "  - name: api\n"
        "    match: {paths: ['/**']}\n"
        "    content_types: [application/json, application/x-www-form-urlencoded]\n"
        f"    body: {{mode: {mode}}}\n"
        "    detectors:\n"
        f"      {detector}: {{mask: {mask}}}\n"
    )


def masked_response(
    modules: dict[str, Path], policy: Policy, document: object, cuts: list[int] | None = None
) -> bytes:
    body = json.dumps(document).encode()
    with sidecar(modules, policy, MASK_ONLY) as car:
        outcome = car.run(Exchange(response_chunks=chunks(body, cuts or [len(body) // 2])).build())
    assert outcome.response_to_client.header("content-length") is None
    return outcome.response_to_client.body


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def test_partial_mask_keeps_the_last_digits_and_the_shape(modules: dict[str, Path]) -> None:
    sent = masked_response(
        modules, route("{type: partial, character: '#', keep_last: 4}"), {"c": [CARD, CARD_2]}
    )
    assert json.loads(sent) == {"c": ["#### #### #### 1111", "#### #### #### 0004"]}


def test_redaction_names_the_entity_by_default(modules: dict[str, Path]) -> None:
    sent = masked_response(
        modules, route("{type: redact}", detector="email-address"), {"to": f"mail {EMAIL} now"}
    )
    assert json.loads(sent) == {"to": "mail [REDACTED:EMAIL_ADDRESS] now"}
    custom = masked_response(
        modules, route("{type: redact, placeholder: '<gone>'}", detector="email-address"), {"to": EMAIL}
    )
    assert json.loads(custom) == {"to": "<gone>"}


def test_hash_tokens_are_keyed_hmac_and_join_across_services(modules: dict[str, Path]) -> None:
    policy = route(
        "{type: hash, key_ref: token-key, truncate_bytes: 12, prefix: 'tok_'}", detector="iban-code"
    )
    first = json.loads(masked_response(modules, policy, {"iban": IBAN}))["iban"]
    # A second service (another sidecar, another VM) with the same key: the same token.
    second = json.loads(masked_response(modules, policy, {"account": {"iban": IBAN}}, [3]))["account"]["iban"]
    expected = (
        "tok_"
        + hmac.new(TOKEN_KEY, b"meshveil-token-v1\x00" + IBAN.encode(), hashlib.sha256).hexdigest()[:24]
    )
    assert first == second == expected


def test_format_preserving_keeps_shape_and_luhn_and_is_stable(modules: dict[str, Path]) -> None:
    policy = route("{type: format_preserving, key_ref: fpe-key, keep_last: 4}")
    replaced = json.loads(masked_response(modules, policy, {"card": CARD}))["card"]
    again = json.loads(masked_response(modules, policy, {"card": CARD}, [2]))["card"]
    assert replaced == again != CARD
    assert len(replaced) == len(CARD) and replaced.endswith("1111")
    assert [char == " " for char in replaced] == [char == " " for char in CARD]
    assert luhn_valid(replaced.replace(" ", ""))


@pytest.mark.parametrize("position", ["first", "middle", "last", "only"])
def test_dropped_fields_leave_valid_json(modules: dict[str, Path], position: str) -> None:
    members = {
        "first": ["card", "a", "b"],
        "middle": ["a", "card", "b"],
        "last": ["a", "b", "card"],
        "only": ["card"],
    }
    document = {name: (CARD if name == "card" else name.upper()) for name in members[position]}
    body = json.dumps({"user": document, "tail": [1, 2]}).encode()
    policy = route("{type: drop_field}", mode="buffered")
    with sidecar(modules, policy, MASK_ONLY) as car:
        for cut in range(1, len(body), 5):
            outcome = car.run(Exchange(response_chunks=chunks(body, [cut])).build())
            expected = {name: value for name, value in document.items() if name != "card"}
            assert json.loads(outcome.response_to_client.body) == {"user": expected, "tail": [1, 2]}, cut


def test_form_bodies_headers_query_and_cookies_are_masked(modules: dict[str, Path]) -> None:
    policy = load(
        "  - name: checkout\n"
        "    match: {paths: ['/checkout/**']}\n"
        "    directions: [request]\n"
        "    content_types: [application/x-www-form-urlencoded]\n"
        "    detectors:\n"
        "      credit-card: {mask: {type: partial}}\n"
        "      email-address: {mask: {type: redact}}\n"
    )
    form = f"name=Ada&card={CARD.replace(' ', '+')}&mail={EMAIL.replace('@', '%40')}".encode()
    exchange = Exchange(
        path=f"/checkout/pay?card={CARD.replace(' ', '%20')}&step=2",
        request_type="application/x-www-form-urlencoded",
        request_chunks=chunks(form, [12, 30]),
        request_headers=[("x-card-on-file", CARD), ("cookie", f"sid=abc123; contact={EMAIL}")],
    )
    with sidecar(modules, policy, MASK_ONLY) as car:
        outcome = car.run(exchange.build())
    upstream = outcome.request_to_upstream
    assert upstream is not None
    assert parse_qs(upstream.body.decode()) == {
        "name": ["Ada"],
        "card": ["**** **** **** 1111"],
        "mail": ["[REDACTED:EMAIL_ADDRESS]"],
    }
    assert parse_qs(urlsplit(upstream.header(":path") or "").query) == {
        "card": ["**** **** **** 1111"],
        "step": ["2"],
    }
    assert upstream.header("x-card-on-file") == "**** **** **** 1111"
    assert upstream.header("cookie") == "sid=abc123; contact=[REDACTED:EMAIL_ADDRESS]"
    assert upstream.header("content-length") is None


def test_a_route_without_findings_passes_bodies_untouched(modules: dict[str, Path]) -> None:
    body = json.dumps({"nothing": "to see", "n": [1, 2, 3]}).encode()
    with sidecar(modules, route("{type: partial}"), MASK_ONLY) as car:
        outcome = car.run(Exchange(response_chunks=chunks(body, [5, 17])).build())
    # Byte for byte, still in three chunks (a value cut by a chunk is held back until whole).
    assert outcome.response_to_client.body == body
    assert len(outcome.response_to_client.body_chunks) == 3
