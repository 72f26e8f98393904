"""The detector model: one detector is patterns + context + validator + examples."""

from __future__ import annotations

from dataclasses import dataclass, field

# Presidio's context enhancer defaults: +0.35 with a floor of 0.4, 5 words before, none after.
DEFAULT_CONTEXT_BOOST = 0.35
DEFAULT_CONTEXT_FLOOR = 0.4
DEFAULT_WORDS_BEFORE = 5
DEFAULT_WORDS_AFTER = 0
DEFAULT_CONTEXT_BYTES = 64
DEFAULT_THRESHOLD = 0.5
# Presidio's default flags; the engine adds re.ASCII semantics.
DEFAULT_FLAGS = ("IGNORECASE", "MULTILINE", "DOTALL")


@dataclass(frozen=True)
class Pattern:
    name: str
    regex: str
    score: float
    flags: tuple[str, ...] = DEFAULT_FLAGS
    requires_context: bool = False
    """A match of this pattern is dropped unless a context word supports it."""


@dataclass(frozen=True)
class Context:
    words: tuple[str, ...] = ()
    """Lower-case ASCII; a word supports a finding if it occurs inside a nearby token."""
    words_before: int = DEFAULT_WORDS_BEFORE
    words_after: int = DEFAULT_WORDS_AFTER
    max_bytes: int = DEFAULT_CONTEXT_BYTES
    """How far (in bytes) on each side of a finding the words are looked for."""
    boost: float = DEFAULT_CONTEXT_BOOST
    floor: float = DEFAULT_CONTEXT_FLOOR


@dataclass(frozen=True)
class Validator:
    name: str
    parameter: int = 0


@dataclass(frozen=True)
class PositiveExample:
    text: str
    finds: str
    """The exact text of the finding this detector must report."""


@dataclass(frozen=True)
class Examples:
    positive: tuple[PositiveExample, ...] = ()
    negative: tuple[str, ...] = ()


@dataclass(frozen=True)
class Detector:
    id: str
    entity: str
    """The Presidio entity name (CREDIT_CARD, US_SSN, ...) so findings are comparable."""
    description: str
    patterns: tuple[Pattern, ...]
    category: str = "pii"
    context: Context = field(default_factory=Context)
    validator: Validator | None = None
    exclusions: tuple[str, ...] = ()
    """Regexes; a finding whose whole text matches one is dropped (test values, placeholders)."""
    threshold: float = DEFAULT_THRESHOLD
    examples: Examples = field(default_factory=Examples)
    source: str = ""
    """Where the definition came from (a catalog file, an imported YAML)."""
