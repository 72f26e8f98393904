"""The hand-written DiscoveryRequest reader and DiscoveryResponse writer agree with
envoy-data-plane's (betterproto) encoding, and refuse malformed bytes."""

from __future__ import annotations

import pytest
from envoy_data_plane.envoy.service.discovery.v3 import DiscoveryRequest, DiscoveryResponse
from envoy_data_plane.google.rpc import Status

from controlplane.xds.sotw import decode_request, encode_response
from controlplane.xds.wire import length_delimited
from tests.xds.conftest import ECDS_TYPE, node

REQUESTS = {
    "first": DiscoveryRequest(
        node=node(), resource_names=["meshveil-dlp", "meshveil-mask"], type_url=ECDS_TYPE
    ),
    "ack": DiscoveryRequest(
        version_info="7.abc", response_nonce="s1-2", resource_names=["a"], type_url=ECDS_TYPE
    ),
    "nack": DiscoveryRequest(
        version_info="7.abc",
        response_nonce="s1-3",
        type_url=ECDS_TYPE,
        error_detail=Status(code=13, message="Failed to load Wasm module: ünknown import"),
    ),
    "negative-code": DiscoveryRequest(response_nonce="n", error_detail=Status(code=-2, message="odd")),
    "empty": DiscoveryRequest(),
}


@pytest.mark.parametrize("name", REQUESTS)
def test_decoding_matches_betterproto(name: str) -> None:
    raw = bytes(REQUESTS[name])
    assert decode_request(raw) == DiscoveryRequest.parse(raw)


def test_unknown_fields_are_skipped() -> None:
    raw = bytes(REQUESTS["ack"])
    # resource_locators (7) and a fixed64 field 99 that this reader does not know.
    extra = length_delimited(7, b"\x0a\x01x") + bytes([(99 << 3 | 1) & 0x7F | 0x80, 99 >> 4]) + bytes(8)
    assert decode_request(raw + extra) == decode_request(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"\x0a\x05ab",
        b"\x0a",
        b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
        b"\x0b",
        b"\x0a\x02\xff\xfe",
    ],
    ids=["truncated-string", "missing-length", "overlong-varint", "group-wire-type", "not-utf8"],
)
def test_malformed_requests_are_value_errors(raw: bytes) -> None:
    with pytest.raises(ValueError):
        decode_request(raw)


def test_encoded_response_parses_as_the_same_discovery_response() -> None:
    encoded = encode_response("7.abc", "s1-4", ECDS_TYPE, {})
    assert DiscoveryResponse.parse(encoded) == DiscoveryResponse(
        version_info="7.abc", type_url=ECDS_TYPE, nonce="s1-4"
    )
