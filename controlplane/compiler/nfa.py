"""Thompson NFAs over bytes, built from the regex IR, forwards or backwards.

Several patterns share one NFA; each ends in its own match state. Assertions (\\b, ^, $)
are epsilon edges that the DFA builder follows only where they hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controlplane.compiler import charsets
from controlplane.compiler.regex_syntax import Alternation, AssertKind, Chars, Concat, Node, Repeat

# Bounds the work of building one automaton; a pattern past it is refused by name.
MAX_NFA_STATES = 200_000


class NfaTooLargeError(ValueError):
    pass


@dataclass(frozen=True)
class ByteStep:
    low: int
    high: int
    next: int


@dataclass(frozen=True)
class Split:
    nexts: tuple[int, ...]


@dataclass(frozen=True)
class Assert:
    kind: AssertKind
    next: int


@dataclass(frozen=True)
class Match:
    pattern: int


NfaState = ByteStep | Split | Assert | Match


@dataclass
class Nfa:
    states: list[NfaState] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    """The start state of each pattern, by pattern index within this NFA."""


class _Builder:
    def __init__(self, reverse: bool) -> None:
        self.reverse = reverse
        self.states: list[NfaState | None] = []

    def add(self, state: NfaState | None) -> int:
        if len(self.states) >= MAX_NFA_STATES:
            raise NfaTooLargeError(f"the automaton needs more than {MAX_NFA_STATES} NFA states")
        self.states.append(state)
        return len(self.states) - 1

    def build(self, node: Node, next_state: int) -> int:
        """Builds `node` so that it continues to `next_state`; returns its entry state."""
        if isinstance(node, Chars):
            return self.chars(node, next_state)
        if isinstance(node, Concat):
            items = node.items if self.reverse else tuple(reversed(node.items))
            for item in items:
                next_state = self.build(item, next_state)
            return next_state
        if isinstance(node, Alternation):
            return self.add(Split(tuple(self.build(option, next_state) for option in node.options)))
        if isinstance(node, Repeat):
            return self.repeat(node, next_state)
        kind = node.kind.mirrored() if self.reverse else node.kind
        return self.add(Assert(kind, next_state))

    def repeat(self, node: Repeat, next_state: int) -> int:
        if node.maximum is None:
            loop = self.add(None)
            body = self.build(node.item, loop)
            self.states[loop] = Split((body, next_state))
            next_state = loop
        else:
            for _ in range(node.maximum - node.minimum):
                next_state = self.add(Split((self.build(node.item, next_state), next_state)))
        for _ in range(node.minimum):
            next_state = self.build(node.item, next_state)
        return next_state

    def chars(self, node: Chars, next_state: int) -> int:
        entries = []
        for sequence in charsets.utf8_sequences(node.ranges):
            ordered = tuple(reversed(sequence)) if self.reverse else sequence
            target = next_state
            for low, high in reversed(ordered):
                target = self.add(ByteStep(low, high, target))
            entries.append(target)
        if len(entries) == 1:
            return entries[0]
        return self.add(Split(tuple(entries)))


def build_nfa(patterns: list[Node], *, reverse: bool = False) -> Nfa:
    """One NFA for all `patterns`; `reverse` builds it to read the text backwards."""
    builder = _Builder(reverse)
    starts = []
    for index, pattern in enumerate(patterns):
        match = builder.add(Match(index))
        starts.append(builder.build(pattern, match))
    states: list[NfaState] = []
    for state in builder.states:
        assert state is not None
        states.append(state)
    return Nfa(states, starts)
