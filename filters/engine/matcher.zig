//! The rare path's automaton walks: where a match ending at an event starts
//! (reverse automaton, backwards) and where a match from a start ends (forward
//! automaton). Both read at most `max_length` bytes plus one byte of context.

const std = @import("std");
const automaton_module = @import("automaton.zig");
const text_module = @import("text.zig");

const Automaton = automaton_module.Automaton;
const Text = text_module.Text;
const NeedInput = text_module.NeedInput;

/// Reads backwards from `end` down to `lowest`: the smallest start of a match ending at `end`.
pub fn leftmostStart(reverse: *const Automaton, text: *const Text, end: u64, lowest: u64) NeedInput!?u64 {
    std.debug.assert(lowest <= end);
    // Most events lie inside the chunk with a byte on each side: read it directly.
    const chunk_start = text.chunkStart();
    if (lowest > chunk_start and end < text.end()) {
        return leftmostStartIn(reverse, text.chunk[@intCast(lowest - 1 - chunk_start)..@intCast(end + 1 - chunk_start)], lowest);
    }
    const context = if (try text.atEnd(end)) .edge else automaton_module.byteContext(try text.at(end));
    var state = reverse.start(context);
    var found: ?u64 = null;
    var offset = end;
    while (offset > lowest) {
        offset -= 1;
        state = reverse.stepByte(state, try text.at(offset));
        if (state == 0) return found;
        if (reverse.isMatch(state)) found = offset + 1;
    }
    // A start at `lowest` itself shows once the byte before it (its context) is read.
    const class = if (lowest == 0) reverse.eoiClass() else reverse.classes[try text.at(lowest - 1)];
    if (reverse.isMatch(reverse.step(state, class))) found = lowest;
    return found;
}

/// `leftmostStart` over `bytes`, which hold the byte before `lowest` first and the
/// byte after the event's end last.
fn leftmostStartIn(reverse: *const Automaton, bytes: []const u8, lowest: u64) ?u64 {
    std.debug.assert(bytes.len >= 2);
    var state = reverse.start(automaton_module.byteContext(bytes[bytes.len - 1]));
    var found: ?u64 = null;
    var index = bytes.len - 1;
    while (index > 1) {
        index -= 1;
        state = reverse.stepByte(state, bytes[index]);
        if (state == 0) return found;
        if (reverse.isMatch(state)) found = lowest + index;
    }
    if (reverse.isMatch(reverse.step(state, reverse.classes[bytes[0]]))) found = lowest;
    return found;
}

pub const Extent = enum { first, longest };

/// Reads forwards from `start`: the end of the longest match (or of the first, by `extent`).
pub fn matchEnd(forward: *const Automaton, text: *const Text, start: u64, max_length: u32, extent: Extent) NeedInput!?u64 {
    // Most matches lie inside the chunk, their longest possible end too: read it directly.
    const chunk_start = text.chunkStart();
    if (start > chunk_start and start + max_length < text.end()) {
        return matchEndIn(forward, text.chunk[@intCast(start - 1 - chunk_start)..@intCast(start + max_length + 1 - chunk_start)], start, extent);
    }
    const context = if (start == 0) .edge else automaton_module.byteContext(try text.at(start - 1));
    var state = forward.start(context);
    var found: ?u64 = null;
    var offset = start;
    while (offset <= start + max_length) : (offset += 1) {
        if (try text.atEnd(offset)) {
            if (forward.isMatch(forward.stepEoi(state))) found = offset;
            return found;
        }
        state = forward.stepByte(state, try text.at(offset));
        if (state == 0) return found;
        if (forward.isMatch(state)) {
            found = offset;
            if (extent == .first) return found;
        }
    }
    return found;
}

/// `matchEnd` over `bytes`: the byte before `start`, then every byte up to and
/// including the one `max_length` past it (none of them the end of the text).
fn matchEndIn(forward: *const Automaton, bytes: []const u8, start: u64, extent: Extent) ?u64 {
    std.debug.assert(bytes.len >= 2);
    var state = forward.start(automaton_module.byteContext(bytes[0]));
    var found: ?u64 = null;
    for (bytes[1..], 0..) |byte, index| {
        state = forward.stepByte(state, byte);
        if (state == 0) return found;
        if (forward.isMatch(state)) {
            found = start + index;
            if (extent == .first) return found;
        }
    }
    return found;
}

/// True when the whole of `value`, alone, is a match (exclusions).
pub fn fullMatch(automaton: *const Automaton, value: []const u8) bool {
    var state = automaton.start(.edge);
    for (value) |byte| {
        state = automaton.stepByte(state, byte);
        if (state == 0) return false;
    }
    return automaton.isMatch(automaton.stepEoi(state));
}
