"""Subset construction of byte-class DFAs with look-around contexts, and minimisation.

Assertions are resolved the way a DFA can: a state remembers the context of the byte
before it (look-behind), and the match flag of a state means "a match ended just before
the byte that led here", so \\b and $ see the next byte (look-ahead) before a match is
reported. The end of the text is one more input class, EOI.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from controlplane.compiler.nfa import Assert, ByteStep, Match, Nfa, Split
from controlplane.compiler.regex_syntax import AssertKind

DEFAULT_STATE_BUDGET = 4096


class DfaTooLargeError(ValueError):
    pass


class Context(enum.IntEnum):
    """What a byte next to a position is, as far as assertions care."""

    EDGE = 0  # the start or end of the text: no byte there
    WORD = 1
    NEWLINE = 2
    OTHER = 3


def byte_context(byte: int) -> Context:
    if byte == 0x0A:
        return Context.NEWLINE
    if 0x30 <= byte <= 0x39 or 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A or byte == 0x5F:
        return Context.WORD
    return Context.OTHER


BYTE_CONTEXTS = tuple(byte_context(byte) for byte in range(256))


def assertion_holds(kind: AssertKind, behind: Context, ahead: Context) -> bool:
    if kind is AssertKind.TEXT_START:
        return behind is Context.EDGE
    if kind is AssertKind.TEXT_END:
        return ahead is Context.EDGE
    if kind is AssertKind.LINE_START:
        return behind in (Context.EDGE, Context.NEWLINE)
    if kind is AssertKind.LINE_END:
        return ahead in (Context.EDGE, Context.NEWLINE)
    boundary = (behind is Context.WORD) != (ahead is Context.WORD)
    return boundary if kind is AssertKind.WORD_BOUNDARY else not boundary


@dataclass(frozen=True)
class Dfa:
    """A DFA over byte classes plus EOI. State 0 is dead; states >= first_match_state match."""

    byte_classes: bytes
    """256 entries: the class of each byte value. The EOI class is class_count - 1."""
    class_count: int
    transitions: tuple[int, ...]
    """state * class_count + class -> next state."""
    matches: tuple[tuple[int, ...], ...]
    """Per state, the patterns whose match ended just before the byte that led here."""
    starts: tuple[int, int, int, int]
    """Start state by the context of the byte before the start position (Context order)."""
    first_match_state: int

    @property
    def state_count(self) -> int:
        return len(self.matches)

    @property
    def eoi_class(self) -> int:
        return self.class_count - 1

    def step(self, state: int, input_class: int) -> int:
        return self.transitions[state * self.class_count + input_class]


_Key = tuple[frozenset[int], Context, frozenset[int]]
_DEAD: _Key = (frozenset(), Context.EDGE, frozenset())


def determinize(
    nfa: Nfa, *, anchored: bool, state_budget: int = DEFAULT_STATE_BUDGET, entry_budget: int | None = None
) -> Dfa:
    """The minimal DFA of `nfa`; unanchored DFAs let a match start at every position."""
    builder = _SubsetBuilder(nfa, anchored=anchored, state_budget=state_budget)
    if entry_budget is not None:
        # States times classes bounds the table; the classes are known before any state.
        builder.state_budget = min(state_budget, max(1, entry_budget // builder.class_count))
    return minimize(builder.run())


class _SubsetBuilder:
    def __init__(self, nfa: Nfa, *, anchored: bool, state_budget: int) -> None:
        self.nfa = nfa
        self.anchored = anchored
        self.state_budget = state_budget
        self.byte_classes, byte_class_count = _byte_classes(nfa)
        self.class_count = byte_class_count + 1
        self.representatives = [self.byte_classes.index(c) for c in range(byte_class_count)]
        self.starts = frozenset(nfa.starts)
        self.keys: list[_Key] = []
        self.ids: dict[_Key, int] = {}

    def state_id(self, key: _Key) -> int:
        found = self.ids.get(key)
        if found is not None:
            return found
        if len(self.keys) >= self.state_budget:
            raise DfaTooLargeError(f"the automaton needs more than {self.state_budget} DFA states")
        self.ids[key] = len(self.keys)
        self.keys.append(key)
        return len(self.keys) - 1

    def run(self) -> Dfa:
        self.state_id(_DEAD)
        starts = tuple(self.state_id((self.starts, context, frozenset())) for context in Context)
        transitions: list[int] = []
        index = 0
        while index < len(self.keys):
            transitions.extend(self.row(self.keys[index]))
            index += 1
        matches = tuple(tuple(sorted(key[2])) for key in self.keys)
        assert len(starts) == 4
        return Dfa(
            byte_classes=bytes(self.byte_classes),
            class_count=self.class_count,
            transitions=tuple(transitions),
            matches=matches,
            starts=(starts[0], starts[1], starts[2], starts[3]),
            first_match_state=len(matches),
        )

    def row(self, key: _Key) -> list[int]:
        nfa_set, behind, _ = key
        if not nfa_set:
            return [0] * self.class_count
        row: list[int] = []
        closures: dict[Context, tuple[list[ByteStep], frozenset[int]]] = {}
        for input_class in range(self.class_count):
            is_eoi = input_class == self.class_count - 1
            ahead = Context.EDGE if is_eoi else BYTE_CONTEXTS[self.representatives[input_class]]
            if ahead not in closures:
                closures[ahead] = self.closure(nfa_set, behind, ahead)
            steps, matched = closures[ahead]
            if is_eoi:
                row.append(self.state_id(_normalized(frozenset(), Context.EDGE, matched)))
                continue
            byte = self.representatives[input_class]
            following = {step.next for step in steps if step.low <= byte <= step.high}
            if not self.anchored:
                following |= self.starts
            row.append(self.state_id(_normalized(frozenset(following), ahead, matched)))
        return row

    def closure(
        self, nfa_set: Iterable[int], behind: Context, ahead: Context
    ) -> tuple[list[ByteStep], frozenset[int]]:
        states = self.nfa.states
        seen = set(nfa_set)
        stack = list(seen)
        steps: list[ByteStep] = []
        matched: set[int] = set()
        while stack:
            state = states[stack.pop()]
            targets: tuple[int, ...] = ()
            if isinstance(state, ByteStep):
                steps.append(state)
            elif isinstance(state, Split):
                targets = state.nexts
            elif isinstance(state, Assert):
                if assertion_holds(state.kind, behind, ahead):
                    targets = (state.next,)
            elif isinstance(state, Match):
                matched.add(state.pattern)
            for target in targets:
                if target not in seen:
                    seen.add(target)
                    stack.append(target)
        return steps, frozenset(matched)


def _normalized(nfa_set: frozenset[int], behind: Context, matched: frozenset[int]) -> _Key:
    if not nfa_set:
        return (nfa_set, Context.EDGE, matched)
    return (nfa_set, behind, matched)


def _byte_classes(nfa: Nfa) -> tuple[list[int], int]:
    """Bytes that every step treats alike and that are alike to assertions share a class."""
    ranges = sorted({(state.low, state.high) for state in nfa.states if isinstance(state, ByteStep)})
    signatures: dict[tuple[object, ...], int] = {}
    classes = []
    for byte in range(256):
        signature = (BYTE_CONTEXTS[byte], *(low <= byte <= high for low, high in ranges))
        classes.append(signatures.setdefault(signature, len(signatures)))
    return classes, len(signatures)


def minimize(dfa: Dfa) -> Dfa:
    """Moore's partition refinement, then dead state first and matching states last."""
    count, width = dfa.state_count, dfa.class_count
    rows = [dfa.transitions[state * width : (state + 1) * width] for state in range(count)]
    initial: dict[tuple[int, ...], int] = {}
    block = [initial.setdefault(dfa.matches[state], len(initial)) for state in range(count)]
    block_count = len(initial)
    while True:
        signatures: dict[tuple[int, ...], int] = {}
        refined = [
            signatures.setdefault((block[state], *(block[target] for target in rows[state])), len(signatures))
            for state in range(count)
        ]
        if len(signatures) == block_count:
            break
        block, block_count = refined, len(signatures)
    return _renumber(dfa, block, block_count)


def _renumber(dfa: Dfa, block: list[int], block_count: int) -> Dfa:
    width = dfa.class_count
    representative = [-1] * block_count
    for state in range(dfa.state_count):
        if representative[block[state]] < 0:
            representative[block[state]] = state
    dead_block = block[0]
    # Start states right after the dead state: the engine tests "in a start state" as
    # one range check on the hot path.
    start_blocks = list(dict.fromkeys(block[start] for start in dfa.starts if block[start] != dead_block))
    assert not any(dfa.matches[representative[b]] for b in start_blocks), "a start state never matches"
    ordered = [dead_block, *start_blocks]
    ordered += [
        b
        for b in range(block_count)
        if b != dead_block and b not in start_blocks and not dfa.matches[representative[b]]
    ]
    non_matching = len(ordered)
    ordered += [b for b in range(block_count) if b != dead_block and dfa.matches[representative[b]]]
    new_id = {b: index for index, b in enumerate(ordered)}
    transitions: list[int] = []
    for b in ordered:
        source = representative[b]
        transitions.extend(
            new_id[block[target]] for target in dfa.transitions[source * width : (source + 1) * width]
        )
    merged = _merge_classes(dfa.byte_classes, width, transitions, len(ordered))
    starts = tuple(new_id[block[start]] for start in dfa.starts)
    return Dfa(
        byte_classes=merged[0],
        class_count=merged[1],
        transitions=tuple(merged[2]),
        matches=tuple(dfa.matches[representative[b]] for b in ordered),
        starts=(starts[0], starts[1], starts[2], starts[3]),
        first_match_state=non_matching,
    )


def _merge_classes(
    byte_classes: bytes, width: int, transitions: list[int], state_count: int
) -> tuple[bytes, int, list[int]]:
    """Byte classes whose columns are identical become one; EOI stays the last class."""
    columns: dict[tuple[int, ...], int] = {}
    new_class = []
    for input_class in range(width - 1):
        column = tuple(transitions[state * width + input_class] for state in range(state_count))
        new_class.append(columns.setdefault(column, len(columns)))
    new_width = len(columns) + 1
    kept = [0] * (new_width - 1)
    for old, new in enumerate(new_class):
        kept[new] = old
    kept.append(width - 1)
    merged = [transitions[state * width + old] for state in range(state_count) for old in kept]
    return bytes(new_class[old] for old in byte_classes), new_width, merged
