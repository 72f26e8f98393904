"""Reads detector definitions from YAML, with errors that name the file, detector and field."""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from controlplane.detectors.model import (
    DEFAULT_FLAGS,
    DEFAULT_THRESHOLD,
    Context,
    Detector,
    Examples,
    Pattern,
    PositiveExample,
    Validator,
)

CATALOG_PACKAGE = "controlplane.detectors"
CATALOG_DIR = "catalog"
DETECTOR_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ENTITY_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
CONTEXT_WORD = re.compile(r"^[a-z]+$")
KNOWN_FLAGS = {"IGNORECASE", "MULTILINE", "DOTALL", "VERBOSE"}


class DefinitionError(ValueError):
    pass


class _Fields:
    """One YAML mapping, read field by field, remembering where it is for messages."""

    def __init__(self, raw: object, where: str, allowed: Iterable[str]) -> None:
        if not isinstance(raw, dict):
            raise DefinitionError(f"{where}: expected a mapping, got {type(raw).__name__}")
        unknown = sorted(set(map(str, raw)) - set(allowed))
        if unknown:
            raise DefinitionError(f"{where}: unknown field(s) {', '.join(unknown)}")
        self.raw: dict[str, Any] = raw
        self.where = where

    def error(self, name: str, problem: str) -> DefinitionError:
        return DefinitionError(f"{self.where}: {name}: {problem}")

    def has(self, name: str) -> bool:
        return name in self.raw

    def text(self, name: str, default: str | None = None) -> str:
        value = self.raw.get(name, default)
        if not isinstance(value, str) or not value:
            raise self.error(
                name, "required, a non-empty string" if value is None else "must be a non-empty string"
            )
        return value

    def number(self, name: str, default: float, low: float, high: float) -> float:
        value = self.raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise self.error(name, f"must be a number from {low} to {high}, got {value!r}")
        return float(value)

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.error(name, f"must be a whole number from {low} to {high}, got {value!r}")
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.raw.get(name, default)
        if not isinstance(value, bool):
            raise self.error(name, f"must be true or false, got {value!r}")
        return value

    def items(self, name: str) -> list[Any]:
        value = self.raw.get(name, [])
        if not isinstance(value, list):
            raise self.error(name, "must be a list")
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        values = self.items(name)
        if not all(isinstance(value, str) and value for value in values):
            raise self.error(name, "must be a list of non-empty strings")
        return tuple(values)


def detector_from_mapping(raw: object, where: str, source: str) -> Detector:
    fields = _Fields(
        raw,
        where,
        ("id", "entity", "category", "description", "patterns", "context", "validator", "exclusions",
         "threshold", "examples"),
    )  # fmt: skip
    detector_id = fields.text("id")
    if not DETECTOR_ID.match(detector_id):
        raise fields.error("id", f"{detector_id!r} must be lower-case words joined by '-'")
    where = f"{where} ({detector_id})"
    fields.where = where
    entity = fields.text("entity")
    if not ENTITY_NAME.match(entity):
        raise fields.error("entity", f"{entity!r} must be an upper-case name like CREDIT_CARD")
    patterns = tuple(
        _pattern(item, f"{where}: patterns[{index}]") for index, item in enumerate(fields.items("patterns"))
    )
    if not patterns:
        raise fields.error("patterns", "a detector needs at least one pattern")
    return Detector(
        id=detector_id,
        entity=entity,
        description=fields.text("description"),
        category=fields.text("category", "pii"),
        patterns=patterns,
        context=_context(fields.raw.get("context", {}), f"{where}: context"),
        validator=_validator(fields.raw.get("validator"), f"{where}: validator"),
        exclusions=fields.strings("exclusions"),
        threshold=fields.number("threshold", DEFAULT_THRESHOLD, 0.001, 1.0),
        examples=_examples(fields.raw.get("examples", {}), f"{where}: examples"),
        source=source,
    )


def _pattern(raw: object, where: str) -> Pattern:
    fields = _Fields(raw, where, ("name", "regex", "score", "flags", "requires_context"))
    flags = fields.strings("flags") if fields.has("flags") else DEFAULT_FLAGS
    unknown = sorted(set(flags) - KNOWN_FLAGS)
    if unknown:
        raise fields.error(
            "flags", f"unknown flag(s) {', '.join(unknown)}; use {', '.join(sorted(KNOWN_FLAGS))}"
        )
    return Pattern(
        name=fields.text("name"),
        regex=fields.text("regex"),
        score=fields.number("score", -1, 0.0, 1.0),
        flags=flags,
        requires_context=fields.flag("requires_context"),
    )


def _context(raw: object, where: str) -> Context:
    fields = _Fields(raw, where, ("words", "words_before", "words_after", "max_bytes", "boost", "floor"))
    words = fields.strings("words")
    for word in words:
        if not CONTEXT_WORD.match(word):
            raise fields.error(
                "words", f"{word!r} can never match: context words are lower-case ASCII letters"
            )
    defaults = Context()
    return Context(
        words=words,
        words_before=fields.integer("words_before", defaults.words_before, 0, 32),
        words_after=fields.integer("words_after", defaults.words_after, 0, 32),
        max_bytes=fields.integer("max_bytes", defaults.max_bytes, 0, 1024),
        boost=fields.number("boost", defaults.boost, 0.0, 1.0),
        floor=fields.number("floor", defaults.floor, 0.0, 1.0),
    )


def _validator(raw: object, where: str) -> Validator | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return Validator(raw)
    fields = _Fields(raw, where, ("name", "parameter"))
    return Validator(fields.text("name"), fields.integer("parameter", 0, 0, 1 << 31))


def _examples(raw: object, where: str) -> Examples:
    fields = _Fields(raw, where, ("positive", "negative"))
    positive = []
    for index, item in enumerate(fields.items("positive")):
        example = _Fields(item, f"{where}: positive[{index}]", ("text", "finds"))
        text, finds = example.text("text"), example.text("finds")
        if finds not in text:
            raise example.error("finds", f"{finds!r} does not occur in the text")
        positive.append(PositiveExample(text, finds))
    return Examples(tuple(positive), fields.strings("negative"))


def load_file(path: Path) -> list[Detector]:
    return load_text(path.read_text(encoding="utf-8"), str(path))


def load_text(text: str, source: str) -> list[Detector]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise DefinitionError(f"{source}: not valid YAML: {error}") from error
    fields = _Fields(document, source, ("detectors",))
    return [
        detector_from_mapping(item, f"{source}: detectors[{index}]", source)
        for index, item in enumerate(fields.items("detectors"))
    ]


def builtin_catalog() -> list[Detector]:
    """Every built-in detector, in file order; ids are unique across files."""
    detectors: list[Detector] = []
    folder = resources.files(CATALOG_PACKAGE).joinpath(CATALOG_DIR)
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".yaml"):
            detectors.extend(load_text(entry.read_text(encoding="utf-8"), f"catalog/{entry.name}"))
    return unique_by_id(detectors)


def unique_by_id(detectors: list[Detector]) -> list[Detector]:
    seen: dict[str, str] = {}
    for detector in detectors:
        if detector.id in seen:
            raise DefinitionError(
                f"{detector.source}: detector id {detector.id} is already defined in {seen[detector.id]}"
            )
        seen[detector.id] = detector.source
    return detectors
