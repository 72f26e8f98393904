"""Every built-in detector finds its positive examples and ignores its negative ones."""

from __future__ import annotations

import re

import pytest

from controlplane.compiler.scanner import StreamScanner, scan
from controlplane.compiler.tables import MatcherTables
from controlplane.detectors.loader import builtin_catalog
from controlplane.detectors.model import Detector

DETECTOR_IDS = [detector.id for detector in builtin_catalog()]


def found_by(tables: MatcherTables, detector_id: str, text: str) -> list[str]:
    data = text.encode()
    return [data[f.start : f.end].decode() for f in scan(tables, data) if f.detector == detector_id]


def test_catalog_has_forty_detectors_with_presidio_entities(catalog: list[Detector]) -> None:
    assert len(catalog) >= 40
    for detector in catalog:
        assert re.fullmatch(r"[A-Z][A-Z0-9_]+", detector.entity)
    entities = {detector.entity for detector in catalog}
    assert {
        "CREDIT_CARD",
        "US_SSN",
        "EMAIL_ADDRESS",
        "IBAN_CODE",
        "PHONE_NUMBER",
        "IP_ADDRESS",
        "UK_NHS",
    } <= entities


@pytest.mark.parametrize("detector_id", DETECTOR_IDS)
def test_detector_examples(detector_id: str, catalog: list[Detector], catalog_tables: MatcherTables) -> None:
    detector = next(d for d in catalog if d.id == detector_id)
    assert detector.examples.positive, "every detector carries positive examples"
    assert detector.examples.negative, "every detector carries negative examples"
    for example in detector.examples.positive:
        assert example.finds in found_by(catalog_tables, detector_id, example.text), example.text
    for text in detector.examples.negative:
        assert found_by(catalog_tables, detector_id, text) == [], text


def test_numeric_json_ids_are_not_findings(catalog_tables: MatcherTables) -> None:
    body = (
        '{"items": [{"id": 48213907, "sku": 100234561, "qty": 3, "order": 9912345678901, "ts": 1714665234}]}'
    )
    assert scan(catalog_tables, body.encode()) == []


def test_international_phone_number_is_one_finding(catalog_tables: MatcherTables) -> None:
    # The national number inside it is not reported again.
    assert found_by(catalog_tables, "phone-number", "mobile: +1 415-555-0123.") == ["+1 415-555-0123"]
    assert found_by(catalog_tables, "phone-number", "fax (212) 555-0123") == ["(212) 555-0123"]


@pytest.mark.parametrize(
    ("text", "iban"),
    [
        ("pay ES9121000418450200051332 EUR now", "ES9121000418450200051332"),
        ("pay ES91 2100 0418 4502 0005 1332 EU", "ES91 2100 0418 4502 0005 1332"),
        ("pay DE89 3704 0044 0532 0130 00 EUR", "DE89 3704 0044 0532 0130 00"),
        ("pay DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 00"),
    ],
)
def test_iban_before_a_short_uppercase_token_is_found_once(
    catalog_tables: MatcherTables, text: str, iban: str
) -> None:
    assert found_by(catalog_tables, "iban-code", text) == [iban]


def composite_text(catalog: list[Detector]) -> bytes:
    return "\n".join(example.text for d in catalog for example in d.examples.positive).encode()


def test_chunk_boundaries_at_every_offset_find_what_one_pass_finds(
    catalog: list[Detector], catalog_tables: MatcherTables
) -> None:
    data = composite_text(catalog)[:1500]
    whole = scan(catalog_tables, data)
    assert len(whole) > 20
    for cut in range(len(data) + 1):
        scanner = StreamScanner(catalog_tables)
        assert scanner.feed(data[:cut]) + scanner.feed(data[cut:], final=True) == whole, cut


def test_byte_at_a_time_keeps_a_bounded_window(
    catalog: list[Detector], catalog_tables: MatcherTables
) -> None:
    data = composite_text(catalog)
    scanner = StreamScanner(catalog_tables)
    found = []
    for offset in range(len(data)):
        found += scanner.feed(data[offset : offset + 1])
        assert len(scanner.buffer) <= catalog_tables.history_bytes + catalog_tables.lookahead_bytes + 1
    found += scanner.feed(b"", final=True)
    assert found == scan(catalog_tables, data)
