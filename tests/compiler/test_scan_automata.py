"""What the scan automata look for: suffixes that start on rare bytes, open-ended last
repetitions, and dense patterns kept apart; the findings stay exactly the same."""

from __future__ import annotations

import re

from controlplane.compiler.compile import CompileOptions as Options
from controlplane.compiler.compile import compile_detectors, open_ended, parse_pattern, scan_node
from controlplane.compiler.regex_syntax import Concat, Repeat, parse
from controlplane.compiler.scan_suffix import first_bytes
from controlplane.compiler.scanner import scan
from controlplane.compiler.tables import SCAN_DENSE, decode
from controlplane.detectors.loader import builtin_catalog
from controlplane.detectors.model import Detector, Pattern


def detector(regex: str, name: str = "d") -> Detector:
    return Detector(id=name, entity="TEST", description="t", patterns=(Pattern("p", regex, 1.0, ()),))


def catalog_scan_node(detector_id: str) -> frozenset[int]:
    found = next(d for d in builtin_catalog() if d.id == detector_id)
    return first_bytes(scan_node(parse_pattern(found, found.patterns[0], Options()), Options()))


def test_scan_automata_start_on_rare_bytes() -> None:
    assert catalog_scan_node("email-address") == {ord("@")}
    assert catalog_scan_node("jwt") == {ord("J")}  # `\beyJ...` is scanned from its 'J'
    assert catalog_scan_node("password-hash") == {ord("$")}


def test_the_last_repetition_is_left_open() -> None:
    node = parse(r"ab{2,5}\b")
    assert isinstance(node, Concat)
    opened = open_ended(node)
    assert isinstance(opened, Concat) and opened.items[1] == Repeat(node.items[1].item, 2, None)  # type: ignore[union-attr]


def test_suffix_scanning_finds_what_full_scanning_finds() -> None:
    """An email's start is found by the reverse automaton, not the scan automaton."""
    compiled = decode(compile_detectors([detector(r"\b[a-z0-9.]+@[a-z]+\.com\b")]).encoded)
    text = b"mail x.y@ab.com and z@cd.com, not @ef.com or q@gh.org"
    assert [text[f.start : f.end] for f in scan(compiled, text)] == [b"x.y@ab.com", b"z@cd.com"]
    assert [m.group() for m in re.finditer(rb"\b[a-z0-9.]+@[a-z]+\.com\b", text)] == [
        b"x.y@ab.com",
        b"z@cd.com",
    ]


def test_dense_patterns_get_their_own_flagged_automaton() -> None:
    catalog = [d for d in builtin_catalog() if d.id in ("generic-api-key", "password-hash", "us-ssn")]
    tables = decode(compile_detectors(catalog).encoded)
    groups = {}
    for index, automaton in enumerate(tables.scan_automata):
        members = frozenset(
            tables.detectors[tables.patterns[pattern].detector].id
            for patterns in tables.automata[automaton].matches
            for pattern in patterns
        )
        groups[members] = tables.scan_flag(index)
    # Starts on any letter or digit: kept apart, stepped on its own.
    assert groups[frozenset({"generic-api-key"})] == SCAN_DENSE
    # '$' is rare: it waits in the shared skip pass.
    assert groups[frozenset({"password-hash"})] == 0
