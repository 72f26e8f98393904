"""Turns a Presidio recognizer YAML into meshveil detectors.

Custom pattern recognizers (patterns with scores, context, deny lists, supported entity)
become detectors with Presidio's flags (global_regex_flags, default DOTALL | MULTILINE |
IGNORECASE). Predefined recognizers named in the file map to the built-in detectors with
the same Presidio entity. Every regex is compiled on import, so a pattern the in-filter
engine cannot run is refused here, naming the recognizer, the pattern and the feature.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from controlplane.compiler.compile import CompileError, CompileOptions, compile_detectors
from controlplane.detectors.model import Context, Detector, Pattern

PRESIDIO_DEFAULT_FLAGS = re.DOTALL | re.MULTILINE | re.IGNORECASE
_FLAG_NAMES = {
    re.IGNORECASE: "IGNORECASE",
    re.MULTILINE: "MULTILINE",
    re.DOTALL: "DOTALL",
    re.VERBOSE: "VERBOSE",
}
_WORD = re.compile(r"[a-z]+")


class PresidioImportError(ValueError):
    pass


@dataclass
class ImportResult:
    detectors: list[Detector] = field(default_factory=list)
    predefined: list[str] = field(default_factory=list)
    """Presidio recognizers that map to built-in detectors (by entity)."""
    notes: list[str] = field(default_factory=list)


def _flag_names(flags: int, source: str) -> tuple[str, ...]:
    unsupported = flags & ~sum(_FLAG_NAMES)
    if unsupported:
        raise PresidioImportError(
            f"{source}: global_regex_flags {flags} includes flags the engine cannot use"
        )
    return tuple(name for flag, name in _FLAG_NAMES.items() if flags & flag)


def detector_id_for(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug or "imported"


def deny_list_regex(words: list[str]) -> str:
    """Presidio's (?:^|(?<=\\W))(words)(?:(?=\\W)|$) without lookarounds: at a word
    character that is \\b, at a non-word character \\B; exactly equivalent under ASCII."""
    options = []
    for word in words:
        before = r"\b" if re.match(r"\w", word[0], re.ASCII) else r"\B"
        after = r"\b" if re.match(r"\w", word[-1], re.ASCII) else r"\B"
        options.append(f"{before}{re.escape(word)}{after}")
    return "(?:" + "|".join(options) + ")"


def _context_words(raw: list[Any], where: str, notes: list[str]) -> tuple[str, ...]:
    words: list[str] = []
    for item in raw:
        if not isinstance(item, str):
            raise PresidioImportError(f"{where}: context entries must be strings, got {item!r}")
        pieces = _WORD.findall(item.lower())
        if pieces != [item.lower()]:
            notes.append(f"{where}: context {item!r} matched per word as {', '.join(pieces) or 'nothing'}")
        words.extend(piece for piece in pieces if piece not in words)
    return tuple(words)


def _custom(raw: dict[str, Any], where: str, flags: tuple[str, ...], result: ImportResult) -> Detector:
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise PresidioImportError(f"{where}: a recognizer needs a name")
    where = f"{where} ({name})"
    entity = raw.get("supported_entity") or (raw.get("supported_entities") or [None])[0]
    if not isinstance(entity, str) or not entity:
        raise PresidioImportError(f"{where}: supported_entity is required")
    patterns = []
    for index, item in enumerate(raw.get("patterns") or []):
        if not isinstance(item, dict) or not {"name", "regex", "score"} <= set(item):
            raise PresidioImportError(f"{where}: patterns[{index}] needs name, regex and score")
        score = item["score"]
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
            raise PresidioImportError(f"{where}: patterns[{index}] score must be between 0 and 1")
        patterns.append(Pattern(str(item["name"]), str(item["regex"]), float(score), flags))
    deny_list = raw.get("deny_list") or []
    if deny_list:
        score = float(raw.get("deny_list_score", 1.0) or 1.0)
        patterns.append(
            Pattern("deny_list", deny_list_regex([str(word) for word in deny_list]), score, flags)
        )
    if not patterns:
        raise PresidioImportError(f"{where}: a recognizer needs patterns or a deny_list")
    context = _context_words(raw.get("context") or [], where, result.notes)
    return Detector(
        id=detector_id_for(name),
        entity=entity.upper(),
        description=f"Imported from Presidio recognizer {name!r}",
        category="imported",
        patterns=tuple(patterns),
        context=Context(words=context),
        # Presidio reports any score above 0; the threshold is the smallest score.
        threshold=0.001,
        source=where,
    )


def import_recognizers(text: str, source: str, builtin: list[Detector]) -> ImportResult:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PresidioImportError(f"{source}: not valid YAML: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("recognizers"), list):
        raise PresidioImportError(f"{source}: expected a mapping with a 'recognizers' list")
    flags = _flag_names(int(document.get("global_regex_flags", PRESIDIO_DEFAULT_FLAGS)), source)
    by_entity = {detector.entity: detector.id for detector in builtin}
    result = ImportResult()
    for index, raw in enumerate(document["recognizers"]):
        where = f"{source}: recognizers[{index}]"
        if isinstance(raw, str) or (isinstance(raw, dict) and raw.get("type", "custom") == "predefined"):
            name = raw if isinstance(raw, str) else str(raw.get("class_name") or raw.get("name"))
            result.predefined.append(name)
            continue
        if not isinstance(raw, dict):
            raise PresidioImportError(f"{where}: expected a mapping")
        if raw.get("enabled") is False:
            result.notes.append(f"{where}: disabled, skipped")
            continue
        detector = _custom(raw, where, flags, result)
        _check_compiles(detector)
        if detector.entity in by_entity:
            result.notes.append(
                f"{where}: entity {detector.entity} is also found by built-in {by_entity[detector.entity]}"
            )
        result.detectors.append(detector)
    return result


def _check_compiles(detector: Detector) -> None:
    """Refuses a recognizer whose regex the engine cannot run, naming pattern and feature."""
    try:
        compile_detectors([detector], CompileOptions())
    except CompileError as error:
        raise PresidioImportError(f"{detector.source}: {error}") from error


def detectors_to_yaml(detectors: list[Detector]) -> str:
    """The meshveil catalog YAML of imported detectors."""
    entries = []
    for detector in detectors:
        entry: dict[str, Any] = {
            "id": detector.id,
            "entity": detector.entity,
            "category": detector.category,
            "description": detector.description,
            "patterns": [
                {"name": p.name, "regex": p.regex, "score": p.score, "flags": list(p.flags)}
                for p in detector.patterns
            ],
            "threshold": detector.threshold,
        }
        if detector.context.words:
            entry["context"] = {"words": list(detector.context.words)}
        entries.append(entry)
    return yaml.safe_dump({"detectors": entries}, sort_keys=False, allow_unicode=True)
