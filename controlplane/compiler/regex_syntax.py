"""Parses the subset of Python regex syntax the in-filter engine can run.

Python's own parser (`re._parser`) reads the syntax, so Presidio's patterns mean what they
mean in Python; this module turns its tree into a small IR and refuses what a DFA cannot
do exactly (backreferences, lookarounds, conditionals, atomic groups) by naming the
feature. Semantics are re.ASCII's: \\d \\w \\s \\b and IGNORECASE consider ASCII only.
"""

from __future__ import annotations

import enum
import importlib
import re
from dataclasses import dataclass
from typing import Any

from controlplane.compiler import charsets
from controlplane.compiler.charsets import CodeRanges

# Python's own regex parser; private modules without type stubs, hence Any.
sre: Any = importlib.import_module("re._constants")
sre_parse: Any = importlib.import_module("re._parser")

# A bound this large expands to thousands of NFA states per occurrence.
MAX_REPEAT_BOUND = 1000


class UnsupportedRegexError(ValueError):
    """The pattern is valid Python but uses a feature the in-filter engine cannot run."""

    def __init__(self, pattern: str, feature: str) -> None:
        super().__init__(f"regex {pattern!r} uses {feature}, which the in-filter engine cannot run")
        self.pattern = pattern
        self.feature = feature


class InvalidRegexError(ValueError):
    def __init__(self, pattern: str, reason: str) -> None:
        super().__init__(f"regex {pattern!r} is not a valid Python regex: {reason}")
        self.pattern = pattern


class AssertKind(enum.IntEnum):
    TEXT_START = 0
    TEXT_END = 1
    LINE_START = 2
    LINE_END = 3
    WORD_BOUNDARY = 4
    NOT_WORD_BOUNDARY = 5

    def mirrored(self) -> AssertKind:
        """The same assertion seen by an automaton that reads the text backwards."""
        return _MIRRORED.get(self, self)


_MIRRORED = {
    AssertKind.TEXT_START: AssertKind.TEXT_END,
    AssertKind.TEXT_END: AssertKind.TEXT_START,
    AssertKind.LINE_START: AssertKind.LINE_END,
    AssertKind.LINE_END: AssertKind.LINE_START,
}


@dataclass(frozen=True)
class Chars:
    ranges: CodeRanges


@dataclass(frozen=True)
class Concat:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Alternation:
    options: tuple[Node, ...]


@dataclass(frozen=True)
class Repeat:
    item: Node
    minimum: int
    maximum: int | None
    """None: unbounded."""


@dataclass(frozen=True)
class Assertion:
    kind: AssertKind


Node = Chars | Concat | Alternation | Repeat | Assertion

# Flags the compiler honours; re.ASCII is always added.
SUPPORTED_FLAGS = re.IGNORECASE | re.MULTILINE | re.DOTALL | re.VERBOSE | re.ASCII


def parse(pattern: str, flags: int = 0) -> Node:
    """The IR of `pattern`, or UnsupportedRegexError / InvalidRegexError saying what is wrong."""
    if flags & ~SUPPORTED_FLAGS:
        raise UnsupportedRegexError(pattern, f"flags {re.RegexFlag(flags & ~SUPPORTED_FLAGS)!s}")
    try:
        tree = sre_parse.parse(pattern, flags | re.ASCII)
    except (re.error, ValueError, OverflowError) as error:
        raise InvalidRegexError(pattern, str(error)) from error
    global_flags = int(tree.state.flags)
    if global_flags & re.UNICODE and not flags & re.ASCII:
        raise UnsupportedRegexError(pattern, "the UNICODE flag (the engine uses ASCII semantics)")
    node = _Converter(pattern).convert(list(tree), global_flags)
    if min_length(node) == 0:
        raise UnsupportedRegexError(pattern, "a match of the empty string (a detector must match text)")
    return node


class _Converter:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    def refuse(self, feature: str) -> UnsupportedRegexError:
        return UnsupportedRegexError(self.pattern, feature)

    def convert(self, items: list[tuple[Any, Any]], flags: int) -> Node:
        return Concat(tuple(self.item(opcode, argument, flags) for opcode, argument in items))

    def item(self, opcode: Any, argument: Any, flags: int) -> Node:  # noqa: PLR0911, PLR0912
        if opcode is sre.LITERAL:
            return self.chars(((argument, argument),), flags)
        if opcode is sre.NOT_LITERAL:
            return Chars(charsets.negate(self.closure(((argument, argument),), flags)))
        if opcode is sre.ANY:
            if flags & re.DOTALL:
                return Chars(((0, charsets.MAX_CODE_POINT),))
            return Chars(charsets.negate(((0x0A, 0x0A),)))
        if opcode is sre.IN:
            return Chars(self.char_class(argument, flags))
        if opcode is sre.BRANCH:
            return Alternation(tuple(self.convert(list(option), flags) for option in argument[1]))
        if opcode is sre.SUBPATTERN:
            _group, add_flags, del_flags, body = argument
            return self.convert(list(body), (flags | add_flags) & ~del_flags)
        if opcode in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            return self.repeat(argument, flags)
        if opcode is sre.AT:
            return Assertion(self.anchor(argument, flags))
        if opcode is sre.POSSESSIVE_REPEAT:
            raise self.refuse("a possessive quantifier")
        if opcode is sre.ATOMIC_GROUP:
            raise self.refuse("an atomic group")
        if opcode in (sre.GROUPREF, sre.GROUPREF_EXISTS):
            raise self.refuse("a backreference or conditional group")
        if opcode is sre.ASSERT:
            raise self.refuse("a lookahead or lookbehind assertion")
        if opcode is sre.ASSERT_NOT:
            raise self.refuse("a negative lookahead or lookbehind assertion")
        raise self.refuse(f"the regex operation {opcode}")

    def repeat(self, argument: Any, flags: int) -> Node:
        minimum, maximum, body = argument
        if minimum > MAX_REPEAT_BOUND or (maximum is not sre.MAXREPEAT and maximum > MAX_REPEAT_BOUND):
            raise self.refuse(f"a repetition bound over {MAX_REPEAT_BOUND}")
        upper = None if maximum is sre.MAXREPEAT else int(maximum)
        return Repeat(self.convert(list(body), flags), int(minimum), upper)

    def anchor(self, code: Any, flags: int) -> AssertKind:
        if code is sre.AT_BEGINNING_STRING:
            return AssertKind.TEXT_START
        if code is sre.AT_END_STRING:
            return AssertKind.TEXT_END
        if code is sre.AT_BEGINNING:
            return AssertKind.LINE_START if flags & re.MULTILINE else AssertKind.TEXT_START
        if code is sre.AT_END:
            if flags & re.MULTILINE:
                return AssertKind.LINE_END
            raise self.refuse("'$' without MULTILINE (it also matches before a final newline; use \\Z)")
        if code is sre.AT_BOUNDARY:
            return AssertKind.WORD_BOUNDARY
        if code is sre.AT_NON_BOUNDARY:
            return AssertKind.NOT_WORD_BOUNDARY
        raise self.refuse(f"the anchor {code}")

    def closure(self, ranges: CodeRanges, flags: int) -> CodeRanges:
        return charsets.ascii_case_closure(ranges) if flags & re.IGNORECASE else ranges

    def chars(self, ranges: CodeRanges, flags: int) -> Chars:
        return Chars(self.closure(charsets.normalize(ranges), flags))

    def char_class(self, items: list[tuple[Any, Any]], flags: int) -> CodeRanges:
        negated = False
        ranges: list[tuple[int, int]] = []
        for opcode, argument in items:
            if opcode is sre.NEGATE:
                negated = True
            elif opcode is sre.LITERAL:
                ranges.append((argument, argument))
            elif opcode is sre.RANGE:
                ranges.append((argument[0], argument[1]))
            elif opcode is sre.CATEGORY:
                ranges.extend(self.category(argument))
            else:
                raise self.refuse(f"the class item {opcode}")
        # IGNORECASE closes the set under case before negation, as re does.
        closed = self.closure(charsets.normalize(ranges), flags)
        return charsets.negate(closed) if negated else closed

    def category(self, code: Any) -> CodeRanges:
        table = {
            sre.CATEGORY_DIGIT: charsets.ASCII_DIGITS,
            sre.CATEGORY_WORD: charsets.ASCII_WORD,
            sre.CATEGORY_SPACE: charsets.ASCII_SPACE,
        }
        negated = {
            sre.CATEGORY_NOT_DIGIT: charsets.ASCII_DIGITS,
            sre.CATEGORY_NOT_WORD: charsets.ASCII_WORD,
            sre.CATEGORY_NOT_SPACE: charsets.ASCII_SPACE,
        }
        if code in table:
            return table[code]
        if code in negated:
            return charsets.negate(negated[code])
        raise self.refuse(f"the character category {code}")


INFINITE = 1 << 62


def min_length(node: Node) -> int:
    """The fewest UTF-8 bytes a match can have."""
    if isinstance(node, Chars):
        return (
            min(len(chr(low).encode()) for low, _ in charsets.without_surrogates(node.ranges))
            if (charsets.without_surrogates(node.ranges))
            else INFINITE
        )
    if isinstance(node, Concat):
        return min(sum(min_length(item) for item in node.items), INFINITE)
    if isinstance(node, Alternation):
        return min(min_length(option) for option in node.options)
    if isinstance(node, Repeat):
        return min(node.minimum * min_length(node.item), INFINITE)
    return 0


def max_length(node: Node) -> int:  # noqa: PLR0911
    """The most UTF-8 bytes a match can have; INFINITE for unbounded repetition."""
    if isinstance(node, Chars):
        return max(
            (len(chr(high).encode()) for _, high in charsets.without_surrogates(node.ranges)), default=0
        )
    if isinstance(node, Concat):
        return min(sum(max_length(item) for item in node.items), INFINITE)
    if isinstance(node, Alternation):
        return max(max_length(option) for option in node.options)
    if isinstance(node, Repeat):
        item = max_length(node.item)
        if item == 0:
            return 0
        if node.maximum is None:
            return INFINITE
        return min(node.maximum * item, INFINITE)
    return 0
