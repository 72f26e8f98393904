"""The compiled matcher tables and their binary encoding (format: README.md beside this file).

Everything is little-endian; records start on 8-byte boundaries; transition entries are
premultiplied (next_state * class_count) so the engine's inner loop is one class lookup
and one transition lookup per byte, and "is this a matching state" is one comparison.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from controlplane.compiler.dfa import Dfa

MAGIC = b"MVMT"
FORMAT_VERSION = 2
HEADER = struct.Struct("<4sHHIIIIIIIIIIIIII")
AUTOMATON_HEADER = struct.Struct("<IHBBII4I")
PATTERN_RECORD = struct.Struct("<HHHHIIII")
DETECTOR_HEADER = struct.Struct("<IIIIHHIHHBBHHH")
ALIGNMENT = 8
SCORE_SCALE = 1000
"""Scores travel as integers in thousandths so Python and Zig compute identical results."""


SCAN_DENSE = 1
"""Scan flag: the automaton starts on common bytes (any letter, say), so the engine steps
it on its own instead of in the skip pass it shares with the automata that start on rare
bytes. A hint for speed: it never changes what is found."""


class TableFormatError(ValueError):
    pass


@dataclass(frozen=True)
class PatternEntry:
    detector: int
    score: int
    """Thousandths."""
    scan_automaton: int
    """Index into MatcherTables.scan_automata."""
    forward: int
    """Anchored forward DFA (automata index): longest match from a start."""
    reverse: int
    """Anchored DFA of the reversed pattern: match starts from an end."""
    min_length: int
    max_length: int
    """Bytes; matches longer than this are not reported (unbounded patterns are capped)."""
    flags: int = 0
    """PATTERN_REQUIRES_CONTEXT."""


PATTERN_REQUIRES_CONTEXT = 1


@dataclass(frozen=True)
class DetectorEntry:
    id: str
    entity: str
    validator: int
    """0: none; otherwise a validator id from controlplane.detectors.validators."""
    validator_parameter: int
    threshold: int
    context_boost: int
    context_floor: int
    words_before: int
    words_after: int
    context_bytes: int
    context_words: tuple[bytes, ...]
    exclusions: tuple[int, ...]
    """Anchored forward DFAs; a finding whose whole text matches one is dropped."""


@dataclass(frozen=True)
class MatcherTables:
    automata: tuple[Dfa, ...]
    scan_automata: tuple[int, ...]
    patterns: tuple[PatternEntry, ...]
    detectors: tuple[DetectorEntry, ...]
    history_bytes: int
    """Bytes before the scan position the engine may still read (reverse scans, context)."""
    lookahead_bytes: int
    """Bytes past an event the engine may need before it can report it."""
    scan_flags: tuple[int, ...] = ()
    """Per scan automaton: SCAN_DENSE or 0 (empty: all 0)."""

    def scan_flag(self, index: int) -> int:
        return self.scan_flags[index] if self.scan_flags else 0


def _pad(buffer: bytearray, alignment: int = ALIGNMENT) -> None:
    buffer.extend(b"\0" * (-len(buffer) % alignment))


def entry_bytes(dfa: Dfa) -> int:
    return 2 if (dfa.state_count - 1) * dfa.class_count < 0x10000 else 4


def encode_automaton(dfa: Dfa) -> bytes:
    width = entry_bytes(dfa)
    premultiplied = [target * dfa.class_count for target in dfa.transitions]
    transitions = struct.pack(f"<{len(premultiplied)}{'H' if width == 2 else 'I'}", *premultiplied)
    body = bytearray(dfa.byte_classes)
    body += transitions
    _pad(body, 4)
    match_states = dfa.matches[dfa.first_match_state :]
    offsets: list[int] = []
    ids: list[int] = []
    for patterns in match_states:
        offsets.append(len(ids))
        ids.extend(patterns)
    offsets.append(len(ids))
    match_index_offset = AUTOMATON_HEADER.size + len(body)
    body += struct.pack(f"<{len(offsets)}I", *offsets)
    body += struct.pack(f"<{len(ids)}H", *ids)
    header = AUTOMATON_HEADER.pack(
        dfa.state_count,
        dfa.class_count,
        width,
        0,
        dfa.first_match_state * dfa.class_count,
        match_index_offset,
        *(start * dfa.class_count for start in dfa.starts),
    )
    record = bytearray(header + body)
    _pad(record)
    return bytes(record)


def encode(tables: MatcherTables) -> bytes:
    """The binary form the filters receive inside their signed configuration."""
    strings = bytearray()

    def string_ref(value: bytes) -> tuple[int, int]:
        offset = len(strings)
        strings.extend(value)
        return offset, len(value)

    out = bytearray(HEADER.size)
    _pad(out)
    automata_offset = len(out)
    out += b"\0" * (4 * len(tables.automata))
    _pad(out)
    automaton_offsets = []
    for dfa in tables.automata:
        automaton_offsets.append(len(out))
        out += encode_automaton(dfa)
    struct.pack_into(f"<{len(automaton_offsets)}I", out, automata_offset, *automaton_offsets)
    scan_list_offset = len(out)
    for index, automaton in enumerate(tables.scan_automata):
        out += struct.pack("<II", automaton, tables.scan_flag(index))
    _pad(out)
    patterns_offset = len(out)
    for pattern in tables.patterns:
        out += PATTERN_RECORD.pack(
            pattern.detector,
            pattern.score,
            pattern.scan_automaton,
            pattern.flags,
            pattern.forward,
            pattern.reverse,
            pattern.min_length,
            pattern.max_length,
        )
    _pad(out)
    detectors_offset = len(out)
    out += b"\0" * (4 * len(tables.detectors))
    _pad(out)
    detector_offsets = []
    for detector in tables.detectors:
        detector_offsets.append(len(out))
        id_ref = string_ref(detector.id.encode())
        entity_ref = string_ref(detector.entity.encode())
        out += DETECTOR_HEADER.pack(
            *id_ref,
            *entity_ref,
            detector.validator,
            detector.threshold,
            detector.validator_parameter,
            detector.context_boost,
            detector.context_floor,
            detector.words_before,
            detector.words_after,
            detector.context_bytes,
            len(detector.context_words),
            len(detector.exclusions),
        )
        for word in detector.context_words:
            out += struct.pack("<II", *string_ref(word))
        out += struct.pack(f"<{len(detector.exclusions)}I", *detector.exclusions)
        _pad(out)
    struct.pack_into(f"<{len(detector_offsets)}I", out, detectors_offset, *detector_offsets)
    strings_offset = len(out)
    out += strings
    _pad(out)
    HEADER.pack_into(
        out,
        0,
        MAGIC,
        FORMAT_VERSION,
        HEADER.size,
        len(out),
        0,
        len(tables.automata),
        len(tables.scan_automata),
        len(tables.patterns),
        len(tables.detectors),
        tables.history_bytes,
        tables.lookahead_bytes,
        automata_offset,
        scan_list_offset,
        patterns_offset,
        detectors_offset,
        strings_offset,
        len(strings),
    )
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def unpack(self, layout: struct.Struct, offset: int) -> tuple[Any, ...]:
        if offset < 0 or offset + layout.size > len(self.data):
            raise TableFormatError(f"record at byte {offset} runs past the end ({len(self.data)} bytes)")
        return layout.unpack_from(self.data, offset)

    def array(self, code: str, offset: int, count: int) -> tuple[int, ...]:
        return self.unpack(struct.Struct(f"<{count}{code}"), offset)

    def slice(self, offset: int, length: int) -> bytes:
        if offset < 0 or offset + length > len(self.data):
            raise TableFormatError(f"{length} bytes at {offset} run past the end ({len(self.data)} bytes)")
        return self.data[offset : offset + length]


def decode(data: bytes) -> MatcherTables:
    """Reads tables back, checking every bound the Zig engine checks before trusting them."""
    reader = _Reader(data)
    fields = reader.unpack(HEADER, 0)
    magic, version, header_size, total = fields[0], fields[1], fields[2], fields[3]
    if magic != MAGIC:
        raise TableFormatError(f"not meshveil matcher tables (magic {magic!r})")
    if version != FORMAT_VERSION:
        raise TableFormatError(f"table format version {version}; this build reads version {FORMAT_VERSION}")
    if header_size != HEADER.size or total != len(data):
        raise TableFormatError(f"header says {total} bytes, got {len(data)}")
    automaton_count, scan_count, pattern_count, detector_count = fields[5:9]
    history, lookahead = fields[9], fields[10]
    automata_offset, scan_offset, patterns_offset, detectors_offset, strings_offset = fields[11:16]
    automata = tuple(
        _decode_automaton(reader, offset) for offset in reader.array("I", automata_offset, automaton_count)
    )
    scan_pairs = reader.array("I", scan_offset, 2 * scan_count)
    scan, scan_flags = scan_pairs[0::2], scan_pairs[1::2]
    if any(index >= automaton_count for index in scan):
        raise TableFormatError("a scan automaton refers to an automaton that does not exist")
    patterns = []
    for index in range(pattern_count):
        values = reader.unpack(PATTERN_RECORD, patterns_offset + index * PATTERN_RECORD.size)
        entry = PatternEntry(
            values[0], values[1], values[2], values[4], values[5], values[6], values[7], values[3]
        )
        if entry.detector >= detector_count or entry.scan_automaton >= scan_count:
            raise TableFormatError(
                f"pattern {index} refers to a detector or scan automaton that does not exist"
            )
        if max(entry.forward, entry.reverse) >= automaton_count:
            raise TableFormatError(f"pattern {index} refers to an automaton that does not exist")
        patterns.append(entry)
    detectors = tuple(
        _decode_detector(reader, offset, strings_offset)
        for offset in reader.array("I", detectors_offset, detector_count)
    )
    return MatcherTables(automata, scan, tuple(patterns), detectors, history, lookahead, scan_flags)


def _decode_automaton(reader: _Reader, offset: int) -> Dfa:
    state_count, class_count, width, _, first_match, match_index, *starts = reader.unpack(
        AUTOMATON_HEADER, offset
    )
    if width not in (2, 4) or class_count < 2 or state_count < 1:
        raise TableFormatError(f"automaton at byte {offset} has an invalid shape")
    byte_classes = reader.slice(offset + AUTOMATON_HEADER.size, 256)
    if max(byte_classes) >= class_count - 1:
        raise TableFormatError(f"automaton at byte {offset} maps a byte to a class it does not have")
    entries = reader.array(
        "H" if width == 2 else "I", offset + AUTOMATON_HEADER.size + 256, state_count * class_count
    )
    limit = state_count * class_count
    if any(entry >= limit or entry % class_count for entry in (*entries, *starts, first_match)):
        raise TableFormatError(f"automaton at byte {offset} has a transition to a state that does not exist")
    match_states = state_count - first_match // class_count
    offsets = reader.array("I", offset + match_index, match_states + 1)
    ids = reader.array("H", offset + match_index + 4 * (match_states + 1), offsets[-1])
    matches = tuple(() for _ in range(first_match // class_count)) + tuple(
        tuple(ids[offsets[index] : offsets[index + 1]]) for index in range(match_states)
    )
    return Dfa(
        byte_classes=byte_classes,
        class_count=class_count,
        transitions=tuple(entry // class_count for entry in entries),
        matches=matches,
        starts=(
            starts[0] // class_count,
            starts[1] // class_count,
            starts[2] // class_count,
            starts[3] // class_count,
        ),
        first_match_state=first_match // class_count,
    )


def _decode_detector(reader: _Reader, offset: int, strings_offset: int) -> DetectorEntry:
    values = reader.unpack(DETECTOR_HEADER, offset)
    word_count, exclusion_count = values[12], values[13]
    cursor = offset + DETECTOR_HEADER.size
    words = []
    for _ in range(word_count):
        word_offset, word_length = reader.array("I", cursor, 2)
        words.append(reader.slice(strings_offset + word_offset, word_length))
        cursor += 8
    exclusions = reader.array("I", cursor, exclusion_count)
    return DetectorEntry(
        id=reader.slice(strings_offset + values[0], values[1]).decode(),
        entity=reader.slice(strings_offset + values[2], values[3]).decode(),
        validator=values[4],
        validator_parameter=values[6],
        threshold=values[5],
        context_boost=values[7],
        context_floor=values[8],
        words_before=values[9],
        words_after=values[10],
        context_bytes=values[11],
        context_words=tuple(words),
        exclusions=exclusions,
    )
