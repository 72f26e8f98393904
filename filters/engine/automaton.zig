//! One automaton record of the matcher tables: a byte-class DFA whose entries are
//! premultiplied (`next * class_count`), read in place from the table blob after
//! `parse` has checked every bound (format: controlplane/compiler/README.md).

const std = @import("std");
const assert = std.debug.assert;
const bytes_le = @import("bytes_le.zig");

/// What the byte next to a position is, as far as `\b`, `^` and `$` care.
pub const Context = enum(u2) { edge = 0, word = 1, newline = 2, other = 3 };

pub fn byteContext(byte: u8) Context {
    return context_of_byte[byte];
}

const context_of_byte: [256]Context = blk: {
    var table: [256]Context = undefined;
    for (&table, 0..) |*entry, byte| {
        const word = (byte >= '0' and byte <= '9') or (byte >= 'A' and byte <= 'Z') or
            (byte >= 'a' and byte <= 'z') or byte == '_';
        entry.* = if (byte == '\n') .newline else if (word) .word else .other;
    }
    break :blk table;
};

pub const header_bytes: u32 = 32;
const classes_offset: u32 = header_bytes;
const entries_offset: u32 = classes_offset + 256;

pub const ParseError = error{
    AutomatonOutOfBounds,
    AutomatonMisaligned,
    AutomatonShape,
    AutomatonClass,
    AutomatonTransition,
    AutomatonMatchIndex,
    AutomatonPatternId,
};

pub const Automaton = struct {
    state_count: u32,
    class_count: u32,
    /// Premultiplied: states at or above it match.
    first_match: u32,
    /// Premultiplied start state by the context of the byte before the start.
    starts: [4]u32,
    classes: *const [256]u8,
    /// Exactly one of the two is non-empty, by the record's entry width.
    narrow: []align(1) const u16,
    wide: []align(1) const u32,
    match_offsets: []align(1) const u32,
    match_ids: []align(1) const u16,

    pub fn eoiClass(self: *const Automaton) u32 {
        return self.class_count - 1;
    }

    pub fn start(self: *const Automaton, context: Context) u32 {
        return self.starts[@intFromEnum(context)];
    }

    pub fn step(self: *const Automaton, state: u32, class: u32) u32 {
        assert(class < self.class_count);
        const index = state + class;
        return if (self.narrow.len != 0) self.narrow[index] else self.wide[index];
    }

    pub fn stepByte(self: *const Automaton, state: u32, byte: u8) u32 {
        return self.step(state, self.classes[byte]);
    }

    pub fn stepEoi(self: *const Automaton, state: u32) u32 {
        return self.step(state, self.eoiClass());
    }

    pub fn isMatch(self: *const Automaton, state: u32) bool {
        return state >= self.first_match;
    }

    /// The patterns whose match ended just before the byte that led to `state`.
    pub fn patterns(self: *const Automaton, state: u32) []align(1) const u16 {
        assert(self.isMatch(state));
        const index = (state - self.first_match) / self.class_count;
        return self.match_ids[self.match_offsets[index]..self.match_offsets[index + 1]];
    }
};

/// Reads and verifies the automaton record at `offset`; pattern ids must be `< pattern_count`.
pub fn parse(blob: []const u8, offset: u32, pattern_count: u32) ParseError!Automaton {
    if (offset % 8 != 0) return error.AutomatonMisaligned;
    if (@as(u64, offset) + entries_offset > blob.len) return error.AutomatonOutOfBounds;
    const record = blob[offset..];
    const state_count = bytes_le.u32At(record, 0);
    const class_count: u32 = bytes_le.u16At(record, 4);
    const width = record[6];
    if (state_count == 0 or class_count < 2 or (width != 2 and width != 4)) return error.AutomatonShape;
    const entry_count = @as(u64, state_count) * class_count;
    if (entry_count > std.math.maxInt(u32)) return error.AutomatonShape;
    if (entries_offset + entry_count * width > record.len) return error.AutomatonOutOfBounds;

    var automaton: Automaton = .{
        .state_count = state_count,
        .class_count = class_count,
        .first_match = bytes_le.u32At(record, 8),
        .starts = undefined,
        .classes = record[classes_offset..][0..256],
        .narrow = &.{},
        .wide = &.{},
        .match_offsets = &.{},
        .match_ids = &.{},
    };
    for (&automaton.starts, 0..) |*entry, index| entry.* = bytes_le.u32At(record, 16 + 4 * @as(u32, @intCast(index)));
    for (automaton.classes) |class| {
        if (class >= class_count - 1) return error.AutomatonClass;
    }
    const limit: u32 = @intCast(entry_count);
    if (width == 2) {
        automaton.narrow = bytes_le.u16Slice(record, entries_offset, limit);
        for (automaton.narrow) |entry| try checkState(entry, limit, class_count);
    } else {
        automaton.wide = bytes_le.u32Slice(record, entries_offset, limit);
        for (automaton.wide) |entry| try checkState(entry, limit, class_count);
    }
    for (automaton.starts) |entry| try checkState(entry, limit, class_count);
    // first_match may equal the limit: an automaton without matching states.
    if (automaton.first_match > limit or automaton.first_match % class_count != 0) return error.AutomatonTransition;
    try parseMatchIndex(&automaton, record, pattern_count);
    return automaton;
}

fn checkState(entry: u32, limit: u32, class_count: u32) ParseError!void {
    if (entry >= limit or entry % class_count != 0) return error.AutomatonTransition;
}

fn parseMatchIndex(automaton: *Automaton, record: []const u8, pattern_count: u32) ParseError!void {
    const index_offset = bytes_le.u32At(record, 12);
    const match_states = automaton.state_count - automaton.first_match / automaton.class_count;
    const offsets_bytes = (@as(u64, match_states) + 1) * 4;
    if (index_offset % 4 != 0) return error.AutomatonMisaligned;
    if (@as(u64, index_offset) + offsets_bytes > record.len) return error.AutomatonOutOfBounds;
    const offsets = bytes_le.u32Slice(record, index_offset, match_states + 1);
    var previous: u32 = 0;
    for (offsets) |entry| {
        if (entry < previous) return error.AutomatonMatchIndex;
        previous = entry;
    }
    const ids_offset = @as(u64, index_offset) + offsets_bytes;
    if (ids_offset + @as(u64, previous) * 2 > record.len) return error.AutomatonOutOfBounds;
    const ids = bytes_le.u16Slice(record, @intCast(ids_offset), previous);
    for (ids) |id| {
        if (id >= pattern_count) return error.AutomatonPatternId;
    }
    automaton.match_offsets = offsets;
    automaton.match_ids = ids;
}
