"""Importing Presidio recognizer YAML: patterns, context, deny lists, predefined, refusals."""

from __future__ import annotations

import re

import pytest

from controlplane.compiler.compile import compile_detectors
from controlplane.compiler.scanner import scan
from controlplane.compiler.tables import decode
from controlplane.detectors.loader import load_text
from controlplane.detectors.model import Detector
from controlplane.detectors.presidio_import import (
    PresidioImportError,
    deny_list_regex,
    detectors_to_yaml,
    import_recognizers,
)

SAMPLE = r"""
recognizers:
  - name: "Zip code Recognizer"
    supported_language: "en"
    patterns:
      - name: "zip code (weak)"
        regex: "(\\b\\d{5}(?:\\-\\d{4})?\\b)"
        score: 0.01
    context:
      - zip
      - code
    supported_entity: "ZIP"
  - name: "Titles recognizer"
    supported_language: "en"
    supported_entity: "TITLE"
    deny_list:
      - Mr.
      - Mrs.
      - Dr.
  - CreditCardRecognizer
  - name: UsSsnRecognizer
    type: predefined
"""

REFUSED = r"""
recognizers:
  - name: "Lookbehind recognizer"
    supported_entity: "EMPLOYEE_ID"
    patterns:
      - name: "employee id"
        regex: "(?<=EMP)\\d{6}"
        score: 0.6
"""


def test_sample_yaml_imports_patterns_context_and_deny_list(catalog: list[Detector]) -> None:
    result = import_recognizers(SAMPLE, "sample.yaml", catalog)
    assert [d.id for d in result.detectors] == ["zip-code-recognizer", "titles-recognizer"]
    assert result.predefined == ["CreditCardRecognizer", "UsSsnRecognizer"]
    zip_code = result.detectors[0]
    assert zip_code.entity == "ZIP" and zip_code.context.words == ("zip", "code")
    assert zip_code.patterns[0].flags == ("IGNORECASE", "MULTILINE", "DOTALL")
    tables = decode(compile_detectors(result.detectors).encoded)
    text = b"ship to zip 98052-6399 via Dr. Who, not Drs. or Mr.x but mr. y"
    found = {(f.detector, text[f.start : f.end].decode(), f.score) for f in scan(tables, text)}
    # Presidio's numbers: 0.01 + 0.35 context boost, floored at 0.4; deny-list score 1.0.
    assert found == {("zip-code-recognizer", "98052-6399", 400), ("titles-recognizer", "Dr.", 1000),
                     ("titles-recognizer", "mr.", 1000)}  # fmt: skip


def test_refused_pattern_names_recognizer_pattern_and_feature(catalog: list[Detector]) -> None:
    with pytest.raises(PresidioImportError) as error:
        import_recognizers(REFUSED, "refused.yaml", catalog)
    message = str(error.value)
    assert "Lookbehind recognizer" in message
    assert "'employee id'" in message
    assert "lookahead or lookbehind" in message


@pytest.mark.parametrize(
    "text", ["Mr. Smith", "(Dr.)", "Dr.X", "xMr. y", "Mrs.", "Mr.\nDr.", "Dr..", "a Mrs.b"]
)
def test_deny_list_regex_matches_presidio_lookaround_form(text: str) -> None:
    words = ["Mr.", "Mrs.", "Dr."]
    presidio = r"(?:^|(?<=\W))(" + "|".join(map(re.escape, words)) + r")(?:(?=\W)|$)"
    flags = re.ASCII | re.MULTILINE | re.IGNORECASE
    expected = [m.span() for m in re.finditer(presidio, text, flags)]
    assert [m.span() for m in re.finditer(deny_list_regex(words), text, flags)] == expected


def test_imported_detectors_round_trip_through_catalog_yaml(catalog: list[Detector]) -> None:
    result = import_recognizers(SAMPLE, "sample.yaml", catalog)
    reloaded = load_text(detectors_to_yaml(result.detectors), "imported.yaml")
    assert [(d.id, d.entity, d.patterns, d.context.words) for d in reloaded] == [
        (d.id, d.entity, d.patterns, d.context.words) for d in result.detectors
    ]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("recognizers: 3", "expected a mapping with a 'recognizers' list"),
        ("recognizers:\n  - name: x\n    patterns: []\n", "supported_entity is required"),
        ("recognizers:\n  - name: x\n    supported_entity: X\n", "needs patterns or a deny_list"),
        ("recognizers:\n  - name: x\n    supported_entity: X\n    patterns:\n"
         "      - name: p\n        regex: a\n",
         "needs name, regex and score"),
        ("recognizers: [\n", "not valid YAML"),
    ],
)  # fmt: skip
def test_bad_recognizer_files_say_what_is_wrong(document: str, message: str, catalog: list[Detector]) -> None:
    with pytest.raises(PresidioImportError, match=re.escape(message)):
        import_recognizers(document, "bad.yaml", catalog)
