"""Compiles a detector set into matcher tables, within a state budget and a size bound."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from controlplane.compiler import regex_syntax, scan_suffix
from controlplane.compiler.dfa import DEFAULT_STATE_BUDGET, Dfa, DfaTooLargeError, determinize
from controlplane.compiler.nfa import NfaTooLargeError, build_nfa
from controlplane.compiler.tables import (
    PATTERN_REQUIRES_CONTEXT,
    SCAN_DENSE,
    SCORE_SCALE,
    DetectorEntry,
    MatcherTables,
    PatternEntry,
    encode,
    encode_automaton,
    entry_bytes,
)
from controlplane.detectors.model import Detector, Pattern
from controlplane.detectors.validators import VALIDATORS_BY_NAME

DEFAULT_MAX_TABLE_BYTES = 1 << 20
# Matches of unbounded patterns (PEM blocks, JWTs) longer than this are not reported.
DEFAULT_MAX_MATCH_BYTES = 4096


class CompileError(ValueError):
    """A detector cannot be compiled; the message names the detector and pattern."""


class TablesTooLargeError(CompileError):
    pass


@dataclass(frozen=True)
class CompileOptions:
    max_table_bytes: int = DEFAULT_MAX_TABLE_BYTES
    state_budget: int = DEFAULT_STATE_BUDGET
    """Most states one scan DFA may have before the pattern set is split across several."""
    max_match_bytes: int = DEFAULT_MAX_MATCH_BYTES


@dataclass(frozen=True)
class ScanAutomatonReport:
    patterns: int
    states: int
    classes: int
    bytes: int
    dense: bool = False
    """Starts on common bytes: the engine steps it on its own (SCAN_DENSE)."""


@dataclass(frozen=True)
class CompiledDetectors:
    tables: MatcherTables
    encoded: bytes
    scan_automata: tuple[ScanAutomatonReport, ...]
    detector_bytes: dict[str, int]
    """Per detector: the bytes of its own anchored automata (the scan DFAs are shared)."""


def regex_flags(names: Sequence[str]) -> int:
    flags = 0
    for name in names:
        flag = getattr(re, name.upper(), None)
        if not isinstance(flag, re.RegexFlag):
            raise ValueError(f"unknown regex flag {name!r}")
        flags |= flag
    return flags


@dataclass(frozen=True)
class ParsedPattern:
    detector: Detector
    pattern: Pattern
    node: regex_syntax.Node
    min_length: int
    max_length: int


def parse_pattern(detector: Detector, pattern: Pattern, options: CompileOptions) -> ParsedPattern:
    where = f"detector {detector.id}, pattern {pattern.name!r}"
    try:
        node = regex_syntax.parse(pattern.regex, regex_flags(pattern.flags))
    except ValueError as error:
        raise CompileError(f"{where}: {error}") from error
    min_length = regex_syntax.min_length(node)
    if min_length > options.max_match_bytes:
        raise CompileError(f"{where}: every match is longer than {options.max_match_bytes} bytes")
    max_length = min(regex_syntax.max_length(node), options.max_match_bytes)
    return ParsedPattern(detector, pattern, node, min_length, max_length)


def _anchored(nodes: list[regex_syntax.Node], where: str, *, reverse: bool = False) -> Dfa:
    try:
        return determinize(build_nfa(nodes, reverse=reverse), anchored=True, state_budget=1 << 16)
    except (DfaTooLargeError, NfaTooLargeError) as error:
        raise CompileError(f"{where}: {error}") from error


def compile_detectors(
    detectors: Sequence[Detector], options: CompileOptions | None = None
) -> CompiledDetectors:
    options = options or CompileOptions()
    if not detectors:
        raise CompileError("no detectors to compile")
    parsed = [
        parse_pattern(detector, pattern, options) for detector in detectors for pattern in detector.patterns
    ]
    automata: list[Dfa] = []
    detector_bytes = {detector.id: 0 for detector in detectors}

    known: dict[Dfa, int] = {}

    def add(dfa: Dfa, owner: str | None) -> int:
        # Identical automata (the same regex in two detectors, a forward automaton equal to
        # its reverse) are stored once; pattern records may share an automaton.
        if owner is not None:
            detector_bytes[owner] += len(encode_automaton(dfa))
        if dfa not in known:
            known[dfa] = len(automata)
            automata.append(dfa)
        return known[dfa]

    groups = _scan_groups(parsed, options)
    scan_indexes = [add(_remap(dfa, members), None) for members, dfa, _ in groups]
    group_of = {pattern: group for group, (members, _, _) in enumerate(groups) for pattern in members}
    detector_index = {detector.id: index for index, detector in enumerate(detectors)}
    patterns = []
    for index, item in enumerate(parsed):
        where = f"detector {item.detector.id}, pattern {item.pattern.name!r}"
        forward = add(_anchored([item.node], where), item.detector.id)
        reverse = add(_anchored([item.node], where, reverse=True), item.detector.id)
        patterns.append(
            PatternEntry(
                detector=detector_index[item.detector.id],
                score=_milli(item.pattern.score),
                scan_automaton=group_of[index],
                forward=forward,
                reverse=reverse,
                min_length=item.min_length,
                max_length=item.max_length,
                flags=PATTERN_REQUIRES_CONTEXT if item.pattern.requires_context else 0,
            )
        )
    entries = [
        _detector_entry(detector, options, lambda dfa, owner=detector.id: add(dfa, owner))
        for detector in detectors
    ]
    history = max(p.max_length + d.context_bytes + 1 for p, d in ((p, entries[p.detector]) for p in patterns))
    tables = MatcherTables(
        automata=tuple(automata),
        scan_automata=tuple(scan_indexes),
        patterns=tuple(patterns),
        detectors=tuple(entries),
        history_bytes=history,
        lookahead_bytes=history,
        scan_flags=tuple(SCAN_DENSE if dense else 0 for _, _, dense in groups),
    )
    encoded = encode(tables)
    reports = tuple(
        ScanAutomatonReport(len(members), automata[index].state_count, automata[index].class_count,
                            len(encode_automaton(automata[index])), dense)
        for (members, _, dense), index in zip(groups, scan_indexes, strict=True)
    )  # fmt: skip
    if len(encoded) > options.max_table_bytes:
        heaviest = sorted(detector_bytes.items(), key=lambda item: -item[1])[:3]
        named = ", ".join(f"{name} ({size} bytes)" for name, size in heaviest)
        raise TablesTooLargeError(
            f"the compiled tables take {len(encoded)} bytes, over the bound of {options.max_table_bytes}; "
            f"largest detectors: {named}; scan automata: {sum(r.bytes for r in reports)} bytes"
        )
    return CompiledDetectors(tables, encoded, reports, detector_bytes)


def _milli(score: float) -> int:
    return round(score * SCORE_SCALE)


def _detector_entry(detector: Detector, options: CompileOptions, add: object) -> DetectorEntry:
    assert callable(add)
    validator_id, parameter = 0, 0
    if detector.validator is not None:
        spec = VALIDATORS_BY_NAME.get(detector.validator.name)
        if spec is None:
            raise CompileError(f"detector {detector.id}: unknown validator {detector.validator.name!r}")
        validator_id, parameter = spec.id, detector.validator.parameter
    exclusions = []
    for regex in detector.exclusions:
        where = f"detector {detector.id}, exclusion {regex!r}"
        try:
            node = regex_syntax.parse(regex, re.IGNORECASE)
        except ValueError as error:
            raise CompileError(f"{where}: {error}") from error
        exclusions.append(add(_anchored([node], where)))
    context = detector.context
    return DetectorEntry(
        id=detector.id,
        entity=detector.entity,
        validator=validator_id,
        validator_parameter=parameter,
        threshold=max(1, _milli(detector.threshold)),
        context_boost=_milli(context.boost),
        context_floor=_milli(context.floor),
        words_before=context.words_before,
        words_after=context.words_after,
        context_bytes=context.max_bytes,
        context_words=tuple(word.encode() for word in context.words),
        exclusions=tuple(exclusions),
    )


# Counted repetitions at least this long are relaxed, in turn, when a scan DFA explodes.
_RELAXATION_STEPS = (16, 4, 2)
# Suffixes tried (cheapest first) before falling back to relaxing the whole pattern.
_SUFFIX_CANDIDATES = 6


def scan_node(item: ParsedPattern, options: CompileOptions) -> regex_syntax.Node:
    """What the scan DFA looks for: a suffix of the pattern that starts on rare bytes
    (`scan_suffix`), its last repetition left open-ended; or a relaxed superset of it.

    The scan DFA only has to report every position where a match may end; the reverse
    and forward DFAs, which stay exact, decide. A suffix every match ends with, `x{m,n}`
    as `x{m,}` at its end, and `x{m,n}` as `x+` all give more candidate ends, never a
    missed one. Overlapping counted repetitions (`AIza[\\w-]{35}`, where a new match may
    start inside another) make unanchored DFAs exponential. Of these variants, the one
    with the lowest estimated scan cost (`scan_suffix.scan_cost`: bytes that leave the
    start state, and candidate ends) whose automaton fits the budget is taken.
    """
    budget = max(64, options.state_budget // 4)
    variants = [
        variant
        for candidate in scan_suffix.cheapest_suffixes(item.node, _SUFFIX_CANDIDATES)
        for variant in (
            open_ended(candidate),
            *(relax_repetitions(candidate, threshold) for threshold in _RELAXATION_STEPS),
        )
    ]
    for node in sorted(dict.fromkeys(variants), key=scan_suffix.scan_cost):
        if _fits(node, budget):
            return node
    for threshold in _RELAXATION_STEPS:
        node = relax_repetitions(item.node, threshold)
        if _fits(node, budget):
            return node
    raise CompileError(
        f"detector {item.detector.id}, pattern {item.pattern.name!r}: its scan automaton needs more than "
        f"{budget} states even with its repetitions relaxed"
    )


def _fits(node: regex_syntax.Node, budget: int) -> bool:
    try:
        determinize(build_nfa([node]), anchored=False, state_budget=budget)
    except (DfaTooLargeError, NfaTooLargeError):
        return False
    return True


def open_ended(node: regex_syntax.Node) -> regex_syntax.Node:
    """`node` with a repetition that ends every match (`x{m,n}`, after it only assertions)
    as `x{m,}`: every end of a match is still an end, and an unanchored automaton counts
    to m instead of n (for a run of one class, `C{m,n}` and `C{m,}` even end alike)."""
    if isinstance(node, regex_syntax.Repeat):
        return regex_syntax.Repeat(node.item, node.minimum, None)
    if isinstance(node, regex_syntax.Alternation):
        return regex_syntax.Alternation(tuple(open_ended(option) for option in node.options))
    if isinstance(node, regex_syntax.Concat) and node.items:
        last = max(
            (index for index, item in enumerate(node.items) if not isinstance(item, regex_syntax.Assertion)),
            default=None,
        )
        if last is not None:
            items = list(node.items)
            items[last] = open_ended(items[last])
            return regex_syntax.Concat(tuple(items))
    return node


def relax_repetitions(node: regex_syntax.Node, threshold: int) -> regex_syntax.Node:
    """`node` with every repetition whose bound reaches `threshold` turned into x+ (or x*)."""
    if isinstance(node, regex_syntax.Concat):
        return regex_syntax.Concat(tuple(relax_repetitions(item, threshold) for item in node.items))
    if isinstance(node, regex_syntax.Alternation):
        return regex_syntax.Alternation(
            tuple(relax_repetitions(option, threshold) for option in node.options)
        )
    if isinstance(node, regex_syntax.Repeat):
        item = relax_repetitions(node.item, threshold)
        bound = node.minimum if node.maximum is None else node.maximum
        if bound >= threshold:
            return regex_syntax.Repeat(item, min(node.minimum, 1), None)
        return regex_syntax.Repeat(item, node.minimum, node.maximum)
    return node


# A scan automaton whose first bytes weigh this much (scan_suffix.BYTE_WEIGHTS; a digit is
# 0.01) leaves its start state often enough that the engine steps it on its own rather
# than in the skip pass the automata starting on rare bytes share.
DENSE_SCAN_WEIGHT = 0.05
# Patterns that start on nearly any byte (a run of letters and digits) keep an automaton to
# themselves: it steps on most bytes, so it should be small, and nothing else should wait on it.
DENSEST_SCAN_WEIGHT = 0.5
_FIRST_PART = 24
# Largest merged scan automaton (entries): two-byte entries make it 32 KiB. The catalog's
# digit patterns merged without it reach 30,000 entries and more, and push the full
# catalog's tables past the 512 KiB a signed filter configuration may carry.
MERGED_SCAN_ENTRIES_MAX = 1 << 14


def _scan_groups(parsed: list[ParsedPattern], options: CompileOptions) -> list[tuple[list[int], Dfa, bool]]:
    """Patterns split into as few unanchored DFAs as the state budget allows; each with
    whether it is dense (starts on common bytes)."""
    nodes = [scan_node(item, options) for item in parsed]
    groups: list[tuple[list[int], Dfa]] = []
    # Patterns whose scan starts on common bytes go together, so the other groups sit in
    # their start states over most of the text (where the engine skips bytes cheaply).
    by_density = sorted(range(len(parsed)), key=lambda index: -scan_suffix.weight(nodes[index]))
    densest = [index for index in by_density if scan_suffix.weight(nodes[index]) >= DENSEST_SCAN_WEIGHT]
    rest = by_density[len(densest) :]
    # Parts start at _FIRST_PART patterns (more never fit the budget; trying costs seconds).
    pending = [
        part
        for part in [densest] + [rest[i : i + _FIRST_PART] for i in range(0, len(rest), _FIRST_PART)]
        if part
    ]
    while pending:
        members = pending.pop(0)
        try:
            dfa = _scan_dfa(nodes, members, options)
        except (DfaTooLargeError, NfaTooLargeError) as error:
            if len(members) == 1:
                item = parsed[members[0]]
                raise CompileError(
                    f"detector {item.detector.id}, pattern {item.pattern.name!r}: alone it {error}"
                    f" (state budget {options.state_budget})"
                ) from error
            half = len(members) // 2
            pending[:0] = [members[:half], members[half:]]
            continue
        groups.append((members, dfa))
    apart = [group for group in groups if set(group[0]) <= set(densest)]
    merged = _merge_small_groups(nodes, [group for group in groups if group not in apart], options)
    groups = apart + merged
    return [(members, dfa, _is_dense(nodes, members)) for members, dfa in groups]


def _scan_dfa(nodes: list[regex_syntax.Node], members: list[int], options: CompileOptions) -> Dfa:
    # Two-byte transition entries keep a scan automaton small and cache-friendly; a part
    # that cannot have them stops early, while its states are built.
    dfa = determinize(
        build_nfa([nodes[index] for index in members]),
        anchored=False,
        state_budget=options.state_budget,
        entry_budget=None if len(members) == 1 else 1 << 16,
    )
    if len(members) > 1 and entry_bytes(dfa) > 2:
        raise DfaTooLargeError("the automaton needs four-byte transition entries")
    return dfa


def _merge_small_groups(
    nodes: list[regex_syntax.Node], groups: list[tuple[list[int], Dfa]], options: CompileOptions
) -> list[tuple[list[int], Dfa]]:
    """Halving leaves groups far below the budget; every automaton costs the engine a pass,
    so pairs whose automata together fit are merged, the smallest pairs first. (The densest
    patterns' automata are not offered: they step on most bytes and should stay small.)"""
    merged = list(groups)
    while True:
        # A merged automaton has at least the states and classes of its larger part; pairs
        # that cannot fit even so are not tried (each failed try costs a subset construction).
        pairs = sorted(
            (first[1].state_count + second[1].state_count, index, other)
            for index, first in enumerate(merged)
            for other, second in enumerate(merged)
            if index < other
            and first[1].state_count + second[1].state_count <= options.state_budget // 2
            and (first[1].state_count + second[1].state_count)
            * max(first[1].class_count, second[1].class_count)
            < 1 << 16
        )
        for _, index, other in pairs:
            members = merged[index][0] + merged[other][0]
            try:
                dfa = _scan_dfa(nodes, members, options)
            except (DfaTooLargeError, NfaTooLargeError):
                continue
            # A merge saves a pass over the text, but the product of two automata can
            # hold several times the entries of both: past a bound it costs more table
            # (and cache) than the pass it saves.
            if dfa.state_count * dfa.class_count > MERGED_SCAN_ENTRIES_MAX:
                continue
            merged = [group for position, group in enumerate(merged) if position not in (index, other)]
            merged.append((members, dfa))
            break
        else:
            return merged


def _is_dense(nodes: list[regex_syntax.Node], members: list[int]) -> bool:
    first = frozenset().union(*(scan_suffix.first_bytes(nodes[index]) for index in members))
    return sum(scan_suffix.BYTE_WEIGHTS[byte] for byte in first) >= DENSE_SCAN_WEIGHT


def _remap(dfa: Dfa, members: list[int]) -> Dfa:
    """Scan DFAs report global pattern indexes, not their NFA's local ones."""
    return Dfa(
        byte_classes=dfa.byte_classes,
        class_count=dfa.class_count,
        transitions=dfa.transitions,
        matches=tuple(tuple(sorted(members[local] for local in patterns)) for patterns in dfa.matches),
        starts=dfa.starts,
        first_match_state=dfa.first_match_state,
    )
