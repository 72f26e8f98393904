"""What `meshveil bench scan` measures meshveil's engine against, on the same corpus:
Presidio's predefined pattern recognizers (no NLP model: regexes, validators, no context
enhancement), Python's `re` running the catalog's own regexes, and Hyperscan running them
natively. Each answers the seconds it took and, for Presidio, what it found.
"""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from controlplane.compiler.compile import regex_flags
from controlplane.detectors.model import Detector


class BaselineUnavailableError(RuntimeError):
    """A comparison's package is not installed (they come with meshveil's dev extra)."""


@dataclass(frozen=True)
class Span:
    entity: str
    start: int
    end: int


def _import(name: str, package: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise BaselineUnavailableError(f"{package} is not installed (pip install '{package}')") from error


class PresidioPatterns:
    """Presidio's predefined pattern recognizers for the entities meshveil's catalog covers."""

    def __init__(self, entities: set[str]) -> None:
        analyzer = _import("presidio_analyzer", "presidio-analyzer")
        predefined = _import("presidio_analyzer.predefined_recognizers", "presidio-analyzer")
        _offline_public_suffixes()
        recognizers = []
        for name in sorted(dir(predefined)):
            kind = getattr(predefined, name)
            if not (isinstance(kind, type) and issubclass(kind, analyzer.PatternRecognizer)):
                continue
            if kind is analyzer.PatternRecognizer:
                continue
            recognizer = kind()
            if set(recognizer.supported_entities) & entities:
                recognizers.append(recognizer)
        self.recognizers = recognizers
        self.entities = {entity for r in recognizers for entity in r.supported_entities}

    def find(self, text: str) -> list[Span]:
        found = []
        for recognizer in self.recognizers:
            for result in recognizer.analyze(
                text, entities=recognizer.supported_entities, nlp_artifacts=None
            ):
                if result.score > 0:
                    found.append(Span(result.entity_type, result.start, result.end))
        return found

    def seconds(self, text: str) -> float:
        started = time.perf_counter()
        for recognizer in self.recognizers:
            recognizer.analyze(text, entities=recognizer.supported_entities, nlp_artifacts=None)
        return time.perf_counter() - started


def _offline_public_suffixes() -> None:
    """Presidio's e-mail validation asks tldextract, which would fetch the public suffix
    list over the network; the snapshot it ships is used instead."""
    tldextract = _import("tldextract", "tldextract")
    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


class PythonRe:
    """The catalog's regexes compiled by Python's `re`, each run over the whole text."""

    def __init__(self, detectors: Sequence[Detector]) -> None:
        self.patterns = [
            re.compile(pattern.regex, regex_flags(pattern.flags) | re.ASCII)
            for detector in detectors
            for pattern in detector.patterns
        ]

    def seconds(self, text: str) -> float:
        started = time.perf_counter()
        for pattern in self.patterns:
            for _ in pattern.finditer(text):
                pass
        return time.perf_counter() - started


class Hyperscan:
    """The catalog's regexes in one Hyperscan database (block mode, each pattern reported
    once per scan so Python callbacks cost nothing next to the native scan)."""

    def __init__(self, detectors: Sequence[Detector]) -> None:
        hyperscan = _import("hyperscan", "hyperscan")
        self._hyperscan = hyperscan
        expressions, flags, self.unsupported = [], [], []
        for detector in detectors:
            for pattern in detector.patterns:
                flag = hyperscan.HS_FLAG_SINGLEMATCH
                names = {name.upper() for name in pattern.flags}
                flag |= hyperscan.HS_FLAG_CASELESS if "IGNORECASE" in names else 0
                flag |= hyperscan.HS_FLAG_DOTALL if "DOTALL" in names else 0
                flag |= hyperscan.HS_FLAG_MULTILINE if "MULTILINE" in names else 0
                probe = hyperscan.Database()
                try:
                    probe.compile(expressions=[pattern.regex.encode()], ids=[0], elements=1, flags=[flag])
                except hyperscan.error:
                    self.unsupported.append(f"{detector.id}/{pattern.name}")
                    continue
                expressions.append(pattern.regex.encode())
                flags.append(flag)
        self.database = hyperscan.Database()
        self.database.compile(
            expressions=expressions, ids=list(range(len(expressions))), elements=len(expressions), flags=flags
        )
        self.pattern_count = len(expressions)

    def seconds(self, data: bytes) -> float:
        def on_match(*_arguments: object) -> None:
            return None

        started = time.perf_counter()
        self.database.scan(data, match_event_handler=on_match)
        return time.perf_counter() - started
