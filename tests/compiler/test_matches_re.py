"""Property tests: for every catalog regex, the compiled tables find what re finds."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controlplane.compiler.compile import CompileOptions, compile_detectors, regex_flags
from controlplane.compiler.scanner import StreamScanner, scan
from controlplane.compiler.tables import MatcherTables, decode
from controlplane.detectors.loader import builtin_catalog
from controlplane.detectors.model import Detector, Pattern
from tests.compiler.oracle import char_spans, leftmost_longest

CATALOG_PATTERNS = [
    pytest.param(pattern, id=f"{detector.id}/{pattern.name}")
    for detector in builtin_catalog()
    for pattern in detector.patterns
]


def tables_for(pattern: Pattern) -> MatcherTables:
    """One pattern, no validator, context or threshold: every match is a finding."""
    bare = Pattern(pattern.name, pattern.regex, 1.0, pattern.flags)
    detector = Detector(id="under-test", entity="TEST", description="property test", patterns=(bare,))
    return decode(compile_detectors([detector]).encoded)


def noise_alphabet(regex: str) -> str:
    return "".join(
        sorted(set("0123456789 -./:@_+aAzZ\n\té€😀" + "".join(c for c in regex if c.isprintable())))
    )


def texts(regex: str, flags: int) -> st.SearchStrategy[str]:
    matching = st.from_regex(re.compile(regex, flags), fullmatch=True)
    noise = st.text(alphabet=noise_alphabet(regex), max_size=6)
    return st.lists(st.one_of(matching, noise, noise), max_size=5).map("".join)


@pytest.mark.parametrize("pattern", CATALOG_PATTERNS)
def test_compiled_tables_find_the_spans_re_finds(pattern: Pattern) -> None:
    flags = regex_flags(pattern.flags) | re.ASCII
    tables = tables_for(pattern)

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(text=texts(pattern.regex, flags))
    def check(text: str) -> None:
        found = [(f.start, f.end) for f in scan(tables, text.encode())]
        assert char_spans(text, found) == leftmost_longest(pattern.regex, flags, text)

    check()


AWKWARD = [
    (r"b|abc", (), "abc b xabcx", [(0, 3), (4, 5), (7, 10)]),
    (r"\d{3}|\d{3}-\d{4}", (), "555-1234 555", [(0, 8), (9, 12)]),
    (r"\bcat\b", ("IGNORECASE",), "Cat concat CAT_ cat.", [(0, 3), (16, 19)]),
    (r"^ab$", ("MULTILINE",), "ab\nab x\nab", [(0, 2), (8, 10)]),
    (r"\Aab|ab\Z", (), "ab ab ab", [(0, 2), (6, 8)]),
    (r"a\Bb|a b", (), "ab a b", [(0, 2), (3, 6)]),
    (r"é+", (), "xééy é", [(1, 3), (5, 6)]),
    (r"[^a]+", (), "aaxyaa€", [(2, 4), (6, 7)]),
    (r"[^a-c]x", ("IGNORECASE",), "Bx dx", [(3, 5)]),
]


@pytest.mark.parametrize(("regex", "flags", "text", "expected"), AWKWARD)
def test_leftmost_longest_on_awkward_patterns(
    regex: str, flags: tuple[str, ...], text: str, expected: list[tuple[int, int]]
) -> None:
    tables = tables_for(Pattern("awkward", regex, 1.0, flags))
    found = char_spans(text, [(f.start, f.end) for f in scan(tables, text.encode())])
    assert found == expected == leftmost_longest(regex, regex_flags(flags) | re.ASCII, text)


def test_matches_longer_than_the_cap_are_not_reported() -> None:
    detector = Detector(
        id="long", entity="TEST", description="cap", patterns=(Pattern("run", r"x[a-z]+y", 1.0, ()),)
    )
    tables = decode(compile_detectors([detector], CompileOptions(max_match_bytes=10)).encoded)
    assert [(f.start, f.end) for f in scan(tables, b"xabcdefgy xabcdefghijy")] == [(0, 9)]


@settings(max_examples=60, deadline=None)
@given(text=st.text(alphabet="ab c\n", max_size=30), cuts=st.lists(st.integers(0, 40), max_size=4))
def test_any_chunking_finds_what_one_pass_finds(text: str, cuts: list[int]) -> None:
    tables = tables_for(Pattern("p", r"\ba[ab]*b\b|c\n?a", 1.0, ()))
    data = text.encode()
    scanner = StreamScanner(tables)
    found, previous = [], 0
    for cut in sorted(min(cut, len(data)) for cut in cuts):
        found += scanner.feed(data[previous:cut])
        previous = cut
    found += scanner.feed(data[previous:], final=True)
    assert found == scan(tables, data)
