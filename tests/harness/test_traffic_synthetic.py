"""Synthetic benchmark traffic is reproducible and exactly the size asked for."""

from __future__ import annotations

import json

import pytest

from harness.traffic.rechunk import rechunk
from harness.traffic.synthetic import json_exchanges


def test_bodies_are_json_of_exactly_the_requested_size() -> None:
    for size in (256, 1024, 4096):
        for exchange in json_exchanges(20, size):
            for message in (exchange.request, exchange.response):
                assert len(message.body) == size
                assert isinstance(json.loads(message.body), dict)
                assert message.header("content-length") in (None, str(size))


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    first, again, other = json_exchanges(5), json_exchanges(5), json_exchanges(5, seed=7)
    assert [exchange.request.body for exchange in first] == [exchange.request.body for exchange in again]
    assert [exchange.request.body for exchange in first] != [exchange.request.body for exchange in other]
    assert len({exchange.request.body for exchange in first}) == 5


def test_exchanges_are_post_requests_as_envoy_presents_them() -> None:
    exchange = json_exchanges(1)[0]
    assert exchange.request.headers[:4] == [
        (":authority", "orders.shop.svc:8080"),
        (":path", "/api/v1/orders?page=0"),
        (":method", "POST"),
        (":scheme", "https"),
    ]
    assert exchange.response.header(":status") == "200"


def test_too_small_a_body_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be as small as 40 bytes"):
        json_exchanges(1, 40)


def test_rechunk_cuts_bodies_without_changing_them() -> None:
    exchange = json_exchanges(1)[0]
    cut = rechunk(exchange, 100)
    assert [len(chunk) for chunk in cut.request.body_chunks] == [100] * 10 + [24]
    assert cut.request.body == exchange.request.body
    assert cut.response.body == exchange.response.body
    assert exchange.request.body_chunks == [exchange.request.body]
