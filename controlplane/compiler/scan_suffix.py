"""Where a scan automaton starts looking: the cheapest suffix of a pattern.

A scan automaton only has to report every position where a match may end (the exact
reverse automaton then finds the start). So it may look for any suffix that every match
ends with: `\\b[A-Z0-9._%+-]+@[A-Z0-9-]+\\.[A-Z]{2,24}\\b` is scanned as
`@[A-Z0-9-]+\\.[A-Z]{2,24}\\b`. Starting at a rare byte ('@') rather than a common one
(any word character) keeps the automaton in its start state over most of the text, where
the engine's hot loop passes bytes with one table lookup and no transition.

"Rare" is judged by `BYTE_WEIGHTS`, how often each byte value occurs in the traffic a
mesh carries (JSON, logs, forms, prose). A suffix is cut only at an item every match
passes through (not an optional one), so each match's end is an end of the suffix.
"""

from __future__ import annotations

from controlplane.compiler import charsets
from controlplane.compiler.regex_syntax import Alternation, Assertion, Chars, Concat, Node, Repeat, min_length


def _byte_weights() -> tuple[float, ...]:
    weights = [0.0005] * 256  # rare punctuation, control bytes, non-ASCII lead bytes
    for byte in range(ord("a"), ord("z") + 1):
        weights[byte] = 0.035
    for byte in range(ord("A"), ord("Z") + 1):
        weights[byte] = 0.004
    for byte in range(ord("0"), ord("9") + 1):
        weights[byte] = 0.01
    common = {" ": 0.15, '"': 0.04, ":": 0.02, ",": 0.02, ".": 0.015, "-": 0.01, "_": 0.008, "/": 0.008}
    common |= {"\n": 0.01, "=": 0.004, "&": 0.002, "{": 0.004, "}": 0.004, "[": 0.002, "]": 0.002}
    for char, weight in common.items():
        weights[ord(char)] = weight
    return tuple(weights)


BYTE_WEIGHTS = _byte_weights()


def first_bytes(node: Node) -> frozenset[int]:
    """The bytes a non-empty match of `node` can begin with."""
    if isinstance(node, Chars):
        return frozenset(
            byte
            for sequence in charsets.utf8_sequences(node.ranges)
            for byte in range(sequence[0][0], sequence[0][1] + 1)
        )
    if isinstance(node, Concat):
        found: set[int] = set()
        for item in node.items:
            found |= first_bytes(item)
            if min_length(item) > 0:
                break
        return frozenset(found)
    if isinstance(node, Alternation):
        return frozenset().union(*(first_bytes(option) for option in node.options))
    if isinstance(node, Repeat):
        return first_bytes(node.item) if node.maximum != 0 else frozenset()
    return frozenset()


def weight(node: Node) -> float:
    return sum(BYTE_WEIGHTS[byte] for byte in first_bytes(node))


_TOTAL_WEIGHT = sum(BYTE_WEIGHTS)
# What one event (a candidate end the rare path must check) costs next to stepping a byte.
_EVENT_COST = 50.0
_EVENTS_PER_MATCH_MAX = 50.0


def scan_cost(node: Node) -> float:
    """Estimated work per text byte of scanning for `node`: how often its automaton leaves
    its start state, plus how often it reports a candidate end (an event), with text
    bytes drawn independently by `BYTE_WEIGHTS`. Relaxing `AIza[\\w-]{35}` to `AIza[\\w-]+`
    is cheap (the prefix is rare); relaxing `-[\\w-]{20,64}` to `-[\\w-]+` is not (an
    event after every hyphen that starts a word)."""
    return weight(node) / _TOTAL_WEIGHT + _EVENT_COST * _match_probability(node) * _ends_per_match(node)


def _probability(node: Node) -> float:
    return sum(BYTE_WEIGHTS[byte] for byte in first_bytes(node)) / _TOTAL_WEIGHT


def _match_probability(node: Node) -> float:
    """How likely a match (its shortest form) starts at a given position."""
    if isinstance(node, Chars):
        return _probability(node)
    if isinstance(node, Concat):
        product = 1.0
        for item in node.items:
            product *= _match_probability(item)
        return product
    if isinstance(node, Alternation):
        return min(1.0, sum(_match_probability(option) for option in node.options))
    if isinstance(node, Repeat):
        return float(_match_probability(node.item) ** node.minimum)
    return 1.0


def _ends_per_match(node: Node) -> float:
    """Candidate ends per match start: a last repetition can end at every further step."""
    last: Node | None = node
    while isinstance(last, Concat):
        items = [item for item in last.items if not isinstance(item, Assertion)]
        last = items[-1] if items else None
    if not isinstance(last, Repeat):
        return 1.0
    step = min(_match_probability(last.item), 0.999)
    extra = step / (1.0 - step)
    if last.maximum is not None:
        extra = min(extra, float(last.maximum - last.minimum))
    return min(1.0 + extra, _EVENTS_PER_MATCH_MAX)


def _cost(node: Node) -> tuple[float, int]:
    """Rarer first bytes first; among equals, the longer (more selective) suffix."""
    return (round(weight(node), 9), -min_length(node))


def cheapest_suffix(node: Node) -> Node:
    """The suffix of `node` whose first byte is rarest (ties: the longer suffix)."""
    return min(_suffixes(node), key=_cost)


def cheapest_suffixes(node: Node, count: int) -> list[Node]:
    """Up to `count` distinct suffixes of `node`, cheapest first."""
    unique = list(dict.fromkeys(_suffixes(node)))
    return sorted(unique, key=_cost)[:count]


def _suffixes(node: Node) -> list[Node]:
    """`node` and suffixes that every match of `node` ends with."""
    if isinstance(node, Concat):
        found: list[Node] = [node]
        for index, item in enumerate(node.items):
            if min_length(item) == 0:
                continue
            rest = node.items[index + 1 :]
            found.extend(_join(suffix, rest) for suffix in _suffixes(item))
        return found
    if isinstance(node, Alternation):
        if any(min_length(option) == 0 for option in node.options):
            return [node]
        return [node, Alternation(tuple(cheapest_suffix(option) for option in node.options))]
    if isinstance(node, Repeat) and node.minimum >= 1 and min_length(node.item) > 0:
        # A suffix of the first repetition, then the remaining repetitions.
        maximum = None if node.maximum is None else node.maximum - 1
        remaining = Repeat(node.item, node.minimum - 1, maximum)
        tail: tuple[Node, ...] = () if maximum == 0 else (remaining,)
        return [node, *(_join(suffix, tail) for suffix in _suffixes(node.item))]
    return [node] if not isinstance(node, Assertion) else []


def _join(head: Node, rest: tuple[Node, ...]) -> Node:
    return Concat((head, *rest)) if rest else head
