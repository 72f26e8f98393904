"""What the compiler refuses, and the binary tables' round trip and bounds checks."""

from __future__ import annotations

import re
import struct

import pytest

from controlplane.compiler.compile import CompileError, CompileOptions, TablesTooLargeError, compile_detectors
from controlplane.compiler.regex_syntax import UnsupportedRegexError, parse
from controlplane.compiler.scanner import scan
from controlplane.compiler.tables import HEADER, TableFormatError, decode, encode
from controlplane.detectors.model import Context, Detector, Pattern, Validator


@pytest.mark.parametrize(
    ("regex", "feature"),
    [
        (r"(a)\1", "backreference"),
        (r"(?<=x)a", "lookahead or lookbehind"),
        (r"a(?!b)", "negative lookahead"),
        (r"(?>ab)", "atomic group"),
        (r"a++", "possessive quantifier"),
        (r"(a)?(?(1)b|c)", "backreference or conditional"),
        (r"ab$", "'$' without MULTILINE"),
        (r"a*", "empty string"),
        (r"a{1001}", "repetition bound over 1000"),
    ],
)
def test_unsupported_features_are_refused_by_name(regex: str, feature: str) -> None:
    with pytest.raises(UnsupportedRegexError) as error:
        parse(regex)
    assert feature in str(error.value) and repr(regex) in str(error.value)


def detector(regex: str, detector_id: str = "d", **extra: object) -> Detector:
    return Detector(
        id=detector_id, entity="TEST", description="t", patterns=(Pattern("p", regex, 0.6, ()),), **extra
    )  # type: ignore[arg-type]


def test_compile_errors_name_detector_and_pattern() -> None:
    with pytest.raises(CompileError, match=r"detector bad-one, pattern 'p': .*lookahead"):
        compile_detectors([detector("x(?=y)", "bad-one")])
    with pytest.raises(CompileError, match="unknown validator 'nope'"):
        compile_detectors([detector("x", validator=Validator("nope"))])


def test_size_bound_refuses_and_names_the_largest_detectors() -> None:
    big = detector(r"[a-z]{200,400}x", "big-one")
    small = detector(r"abc", "small-one")
    with pytest.raises(TablesTooLargeError) as error:
        compile_detectors([small, big], CompileOptions(max_table_bytes=8_000))
    assert "over the bound of 8000" in str(error.value) and "big-one" in str(error.value)
    assert len(compile_detectors([small], CompileOptions(max_table_bytes=8_000)).encoded) <= 8_000


def test_state_budget_splits_the_scan_automata_and_still_finds_everything() -> None:
    detectors = [
        detector(rf"\b{prefix}\d{{3}}{re.escape(separator)}\d{{4}}\b", f"d{index}")
        for index, (prefix, separator) in enumerate(zip("abcdef", "@$%^~!", strict=True))
    ]
    split = compile_detectors(detectors, CompileOptions(state_budget=16))
    whole = compile_detectors(detectors)
    assert len(split.scan_automata) > 1 == len(whole.scan_automata)
    text = b"a123@4567 c999%0000 f111!2222 x000!0000"
    assert scan(decode(split.encoded), text) == scan(decode(whole.encoded), text)
    assert len(scan(decode(whole.encoded), text)) == 3


def test_encode_decode_round_trip() -> None:
    compiled = compile_detectors(
        [detector(r"\bk\d+\b", context=Context(words=("key",)), exclusions=("k0+",)), detector("zz", "other")]
    )
    assert decode(compiled.encoded) == compiled.tables
    assert encode(decode(compiled.encoded)) == compiled.encoded
    assert len(compiled.encoded) % 8 == 0


def test_decode_rejects_damaged_tables() -> None:
    encoded = bytearray(compile_detectors([detector("abc")]).encoded)
    with pytest.raises(TableFormatError, match="magic"):
        decode(b"XXXX" + bytes(encoded[4:]))
    version = bytearray(encoded)
    struct.pack_into("<H", version, 4, 99)
    with pytest.raises(TableFormatError, match="version 99"):
        decode(bytes(version))
    with pytest.raises(TableFormatError):
        decode(bytes(encoded[:-8]))
    automaton = struct.unpack_from("<I", encoded, HEADER.unpack_from(encoded)[11])[0]
    struct.pack_into("<H", encoded, automaton + 32 + 256, 0xFFFF)
    with pytest.raises(TableFormatError, match="state that does not exist"):
        decode(bytes(encoded))
