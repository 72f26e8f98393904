//! The rare path's automaton walks: where a match ending at an event starts
//! (reverse automaton, backwards) and where a match from a start ends (forward
//! automaton). Both read at most `max_length` bytes plus one byte of context.

const std = @import("std");
const automaton_module = @import("automaton.zig");
const text_module = @import("text.zig");

const Automaton = automaton_module.Automaton;
const Text = text_module.Text;
const NeedInput = text_module.NeedInput;

/// Stream offsets read from one slice of the chunk that holds every byte a walk may
/// read: no tail to look in, no byte still to come, no end of text inside it. Most
/// walks lie inside the chunk, so they take this source; `Text` serves the rest.
const InChunk = struct {
    bytes: []const u8,
    /// Stream offset of `bytes[0]`.
    base: u64,

    fn at(self: *const InChunk, offset: u64) NeedInput!u8 {
        return self.bytes[@intCast(offset - self.base)];
    }

    fn atEnd(self: *const InChunk, offset: u64) NeedInput!bool {
        std.debug.assert(offset - self.base < self.bytes.len);
        return false;
    }
};

/// Reads backwards from `end` down to `lowest`: the smallest start of a match ending at `end`.
pub fn leftmostStart(reverse: *const Automaton, text: *const Text, end: u64, lowest: u64) NeedInput!?u64 {
    std.debug.assert(lowest <= end);
    // The byte before `lowest` and the byte at `end` are read too.
    const chunk_start = text.chunkStart();
    if (lowest > chunk_start and end < text.end()) {
        const in_chunk: InChunk = .{ .bytes = text.chunk, .base = chunk_start };
        return leftmostStartFrom(&in_chunk, reverse, end, lowest);
    }
    return leftmostStartFrom(text, reverse, end, lowest);
}

fn leftmostStartFrom(source: anytype, reverse: *const Automaton, end: u64, lowest: u64) NeedInput!?u64 {
    const context = if (try source.atEnd(end)) .edge else automaton_module.byteContext(try source.at(end));
    var state = reverse.start(context);
    var found: ?u64 = null;
    var offset = end;
    while (offset > lowest) {
        offset -= 1;
        state = reverse.stepByte(state, try source.at(offset));
        if (state == 0) return found;
        if (reverse.isMatch(state)) found = offset + 1;
    }
    // A start at `lowest` itself shows once the byte before it (its context) is read.
    const class = if (lowest == 0) reverse.eoiClass() else reverse.classes[try source.at(lowest - 1)];
    if (reverse.isMatch(reverse.step(state, class))) found = lowest;
    return found;
}

pub const Extent = enum { first, longest };

/// Reads forwards from `start`: the end of the longest match (or of the first, by `extent`).
pub fn matchEnd(forward: *const Automaton, text: *const Text, start: u64, max_length: u32, extent: Extent) NeedInput!?u64 {
    // The byte before `start` and every byte up to `max_length` past it are read at most.
    const chunk_start = text.chunkStart();
    if (start > chunk_start and start + max_length < text.end()) {
        const in_chunk: InChunk = .{ .bytes = text.chunk, .base = chunk_start };
        return matchEndFrom(&in_chunk, forward, start, max_length, extent);
    }
    return matchEndFrom(text, forward, start, max_length, extent);
}

fn matchEndFrom(source: anytype, forward: *const Automaton, start: u64, max_length: u32, extent: Extent) NeedInput!?u64 {
    const context = if (start == 0) .edge else automaton_module.byteContext(try source.at(start - 1));
    var state = forward.start(context);
    var found: ?u64 = null;
    var offset = start;
    while (offset <= start + max_length) : (offset += 1) {
        if (try source.atEnd(offset)) {
            if (forward.isMatch(forward.stepEoi(state))) found = offset;
            return found;
        }
        state = forward.stepByte(state, try source.at(offset));
        if (state == 0) return found;
        if (forward.isMatch(state)) {
            found = offset;
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
