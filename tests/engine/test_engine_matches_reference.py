"""The Zig engine inside Wasm finds exactly what the reference scanner finds: detector,
pattern, span and score, on the catalog's examples and on generated traffic, whatever
the chunking."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controlplane.compiler.tables import MatcherTables
from controlplane.compiler.wasm_engine import DirectEngine, PluginEngine
from controlplane.detectors.loader import builtin_catalog
from controlplane.detectors.model import Detector
from tests.engine.reference import as_indexed, reference_findings

EXAMPLE_TEXTS = [
    pytest.param(text, id=f"{detector.id}-{kind}{number}")
    for detector in builtin_catalog()
    for kind, texts in (
        ("positive", [example.text for example in detector.examples.positive]),
        ("negative", list(detector.examples.negative)),
    )
    for number, text in enumerate(texts)
]

# Values that look sensitive (valid and invalid) for generated traffic, from the catalog.
VALUES = sorted(
    {example.finds for detector in builtin_catalog() for example in detector.examples.positive}
    | {text for detector in builtin_catalog() for text in detector.examples.negative if len(text) < 60}
)
CONTEXT_WORDS = sorted({word for detector in builtin_catalog() for word in detector.context.words})
NOISE = ["order", "id", "status", "ok", "2024-05-01T12:00:00Z", "42", "19.99", "GET /api/v1", "\n", " ", ", "]


@pytest.mark.parametrize("text", EXAMPLE_TEXTS)
def test_plugin_path_matches_reference_on_catalog_examples(
    text: str, plugin_engine: PluginEngine, catalog_tables: MatcherTables
) -> None:
    data = text.encode()
    assert as_indexed(catalog_tables, plugin_engine.scan([data])) == reference_findings(catalog_tables, data)


def composite(catalog: list[Detector]) -> bytes:
    return "\n".join(example.text for d in catalog for example in d.examples.positive).encode()


def test_every_split_offset_finds_what_one_pass_finds(
    direct_engine: DirectEngine, catalog: list[Detector], catalog_tables: MatcherTables
) -> None:
    data = composite(catalog)[:1500]
    whole = reference_findings(catalog_tables, data)
    assert len(whole) > 20
    assert direct_engine.scan(data) == whole
    for cut in range(len(data) + 1):
        assert direct_engine.scan(data, [cut]) == whole, cut


def test_byte_at_a_time_and_the_plugin_path_in_chunks(
    direct_engine: DirectEngine,
    plugin_engine: PluginEngine,
    catalog: list[Detector],
    catalog_tables: MatcherTables,
) -> None:
    data = composite(catalog)
    whole = reference_findings(catalog_tables, data)
    assert direct_engine.scan(data, range(1, len(data))) == whole
    chunks = [data[offset : offset + 97] for offset in range(0, len(data), 97)]
    assert as_indexed(catalog_tables, plugin_engine.scan(chunks)) == whole


def traffic(draw: st.DrawFn) -> str:
    """JSON, log and form fragments with planted values and context words."""
    pieces = draw(
        st.lists(
            st.one_of(st.sampled_from(VALUES), st.sampled_from(CONTEXT_WORDS), st.sampled_from(NOISE)),
            min_size=1,
            max_size=24,
        )
    )
    shape = draw(st.sampled_from(["json", "log", "form", "chat"]))
    if shape == "json":
        return json.dumps({f"k{index}": piece for index, piece in enumerate(pieces)})
    if shape == "form":
        return "&".join(f"f{index}={piece}" for index, piece in enumerate(pieces))
    if shape == "log":
        return " ".join(["2024-05-01T12:00:00Z", "INFO", *pieces])
    return "\n".join(f"{'user' if index % 2 else 'assistant'}: {piece}" for index, piece in enumerate(pieces))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.composite(traffic)(), seed=st.integers(0, 2**32 - 1))
def test_generated_traffic_matches_reference_at_random_cuts(
    direct_engine: DirectEngine, catalog_tables: MatcherTables, text: str, seed: int
) -> None:
    data = text.encode()
    cuts = sorted(random.Random(seed).sample(range(len(data) + 1), min(4, len(data) + 1)))
    assert direct_engine.scan(data, cuts) == reference_findings(catalog_tables, data)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_match_reference(
    direct_engine: DirectEngine, catalog_tables: MatcherTables, data: bytes
) -> None:
    assert direct_engine.scan(data, [len(data) // 2]) == reference_findings(catalog_tables, data)


@pytest.mark.parametrize("value", ["4111 1111 1111 1111", "536-22-1234", "jane.doe@example.com"])
def test_a_planted_value_is_found_at_every_split(
    direct_engine: DirectEngine, catalog_tables: MatcherTables, value: str
) -> None:
    data = f'{{"note": "customer wrote {value} in the form", "n": 1}}'.encode()
    whole = reference_findings(catalog_tables, data)
    start = data.index(value.encode())
    assert any(f.start == start and f.end == start + len(value) for f in whole)
    for cut in range(len(data) + 1):
        assert direct_engine.scan(data, [cut]) == whole, cut
