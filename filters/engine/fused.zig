//! The dense scan automata stepped together in one loop.
//!
//! Dense automata start on common bytes (letters, digits), so each leaves its start
//! states on a large share of the text. Stepped one after another, each is a chain of
//! dependent loads (state, then next state); stepped together, the chains are
//! independent and the processor overlaps them. Where all of them wait in a start state
//! before a byte none of them starts on (prose, JSON punctuation: about three bytes in
//! four of typical traffic), the run of such bytes is passed over at once with a vector
//! search. A hit of any member is seen with one OR per member (`FusedSets.flagged`). The
//! states reached are the ones stepping each alone reaches, so nothing found changes.
//!
//! Members are chosen at load (`fused_set.zig`); other automata run on their own. Before
//! stepping together the members must stand at the same position: one that stopped at an
//! event (waiting for the next chunk) catches up on its own first, and while one is
//! stopped for the rest of a chunk (or left out) the others step on their own. At a hit the automata
//! that match resolve their events in scan order; each is left exactly as
//! `Scanner.stepEvents` leaves an automaton stepped on its own.

const std = @import("std");
const assert = std.debug.assert;
const hot = @import("hot.zig");
const automaton_module = @import("automaton.zig");
const scanner_module = @import("scanner.zig");
const fused_set = @import("fused_set.zig");
const members_max = fused_set.members_max;
const FusedSet = fused_set.FusedSet;

const Scanner = scanner_module.Scanner;
const Output = scanner_module.Output;

/// Brings every fused automaton still scanning to the end of the fed bytes (and past
/// the end of the text on the final chunk), one set after another: automata never
/// interact, so each set may run over the text on its own.
pub fn run(scanner: *Scanner, output: *Output) error{OutputFull}!void {
    const fused = &scanner.tables.fused;
    for (fused.sets[0..fused.count]) |*set| try runSet(scanner, set, output);
}

fn runSet(scanner: *Scanner, set: *const FusedSet, output: *Output) error{OutputFull}!void {
    // None scanning (all left out, say): nothing to step or finish.
    if (scanner.scanning & set.member_mask == 0) return;
    const end = scanner.text.end();
    // Each round moves some member forward by at least one byte or stops it.
    const rounds_max = (end + 1) * set.count + 1;
    var rounds: u64 = 0;
    while (true) : (rounds += 1) {
        assert(rounds <= rounds_max);
        var active: [members_max]u32 = undefined;
        var active_count: usize = 0;
        var target: u64 = 0;
        for (set.members[0..set.count]) |index| {
            if (scanner.status[index] != .scanning) continue;
            active[active_count] = index;
            active_count += 1;
            target = @max(target, scanner.positions[index]);
        }
        if (active_count == 0) break;
        var behind = false;
        for (active[0..active_count]) |index| {
            if (scanner.positions[index] >= target) continue;
            try scanner.runUntil(index, target, output);
            behind = true;
        }
        if (behind) continue; // some may have stopped: take the roll again
        if (target == end) break;
        if (active_count < set.count) {
            // Some member stopped (waiting for the next chunk, or left out by
            // `Scanner.keepOnly`): the others step on their own to the end of this chunk.
            for (active[0..active_count]) |index| try scanner.runUntil(index, end, output);
            continue;
        }
        try stepSegment(scanner, set, active[0..active_count], output);
    }
    for (set.members[0..set.count]) |index| try scanner.finishAutomaton(index, output);
}

/// Steps `active` (all at one position) to the first hit or the end of the part of the
/// text (kept tail or chunk) that holds their position.
fn stepSegment(scanner: *Scanner, set: *const FusedSet, active: []const u32, output: *Output) error{OutputFull}!void {
    const text = &scanner.text;
    const position = scanner.positions[active[0]];
    const chunk_start = text.chunkStart();
    const in_tail = position < chunk_start;
    const bytes = if (in_tail) text.tail else text.chunk;
    const base = if (in_tail) text.tail_start else chunk_start;
    assert(position >= base and position < base + bytes.len);
    switch (active.len) {
        inline 1...members_max => |count| try stepTogether(count, scanner, set, active[0..count], bytes, base, output),
        else => unreachable,
    }
}

fn stepTogether(comptime count: usize, scanner: *Scanner, set: *const FusedSet, active: *const [count]u32, bytes: []const u8, base: u64, output: *Output) error{OutputFull}!void {
    const tables = scanner.tables;
    var states: [count]u32 = undefined;
    // Flagged transitions (`FusedSets.flagged`): the flag of any member's next state
    // marks a hit, so one OR per member and one test per byte find it.
    var entries: [count][]const u16 = undefined;
    inline for (0..count) |lane| {
        states[lane] = scanner.states[active[lane]];
        assert(set.members[lane] == active[lane]);
        entries[lane] = tables.fused.entries(set, lane);
        assert(states[lane] < fused_set.match_flag);
        assert(scanner.positions[active[lane]] == scanner.positions[active[0]]);
    }
    const classes = &set.classes;
    var index: usize = @intCast(scanner.positions[active[0]] - base);
    // Two bytes per round, the states alternating between `states` and `next`, so no
    // round copies them.
    var next: [count]u32 = undefined;
    while (index + 2 <= bytes.len) : (index += 2) {
        if (set.skip.table[bytes[index]] != 0 and allWaiting(count, set, &states)) {
            // Every member waits in a start state and passes over this byte and those
            // up to the next stop of any of them: each ends in the start state of the
            // last skipped byte's context, as stepping them would leave it.
            index = set.skip.nextStop(bytes, index);
            const context = @intFromEnum(automaton_module.byteContext(bytes[index - 1]));
            inline for (0..count) |lane| states[lane] = set.starts[lane][context];
            if (index + 2 > bytes.len) break;
        }
        if (stepByte(count, &entries, &classes[bytes[index]], &states, &next))
            return resolveHits(count, scanner, active, &states, &next, .{ .index = index, .offset = base + index }, output);
        if (stepByte(count, &entries, &classes[bytes[index + 1]], &next, &states))
            return resolveHits(count, scanner, active, &next, &states, .{ .index = index + 1, .offset = base + index + 1 }, output);
    }
    if (index < bytes.len) {
        if (stepByte(count, &entries, &classes[bytes[index]], &states, &next))
            return resolveHits(count, scanner, active, &states, &next, .{ .index = index, .offset = base + index }, output);
        states = next;
    }
    inline for (0..count) |lane| {
        scanner.states[active[lane]] = states[lane];
        scanner.positions[active[lane]] = base + bytes.len;
    }
}

/// True when every member is in one of its start states.
inline fn allWaiting(comptime count: usize, set: *const FusedSet, states: *const [count]u32) bool {
    var waiting = true;
    inline for (0..count) |lane| waiting = waiting and states[lane] -% set.start_low[lane] <= set.start_span[lane];
    return waiting;
}

/// Steps every member over one byte (its classes `row`) from `from` into `to`; true
/// when some member reaches a matching state.
inline fn stepByte(comptime count: usize, entries: *const [count][]const u16, row: *const [members_max]u8, from: *const [count]u32, to: *[count]u32) bool {
    var flags: u32 = 0;
    inline for (0..count) |lane| {
        // A flagged state ends the loop before it is stepped from, so the flag is left
        // on here and cleared by `resolveHits`.
        to[lane] = entries[lane][from[lane] + row[lane]];
        flags |= to[lane];
    }
    return flags & fused_set.match_flag != 0;
}

/// At byte `at` the automata in `hits` match: the others move past the byte;
/// the matching ones stand before it, then resolve their events in scan order (so an
/// output that fills up leaves every automaton where it can resume).
const Place = struct {
    /// Index into the segment's bytes, and the same byte's stream offset.
    index: usize,
    offset: u64,
};

fn resolveHits(comptime count: usize, scanner: *Scanner, active: *const [count]u32, before: *const [count]u32, flagged: *const [count]u32, at: Place, output: *Output) error{OutputFull}!void {
    var matched: [count]bool = undefined;
    var after: [count]u32 = undefined;
    inline for (0..count) |lane| {
        after[lane] = flagged[lane] & ~@as(u32, fused_set.match_flag);
        assert(before[lane] < fused_set.match_flag);
        matched[lane] = scanner.tables.groups[active[lane]].automaton.isMatch(after[lane]);
        assert(matched[lane] == (flagged[lane] != after[lane]));
        scanner.states[active[lane]] = if (matched[lane]) before[lane] else after[lane];
        scanner.positions[active[lane]] = if (matched[lane]) at.offset else at.offset + 1;
    }
    inline for (0..count) |lane| {
        if (matched[lane]) {
            const step: hot.Step = .{ .outcome = .hit, .index = at.index, .state = after[lane], .before = before[lane] };
            try scanner.stepEvents(active[lane], at.offset, step, output);
        }
    }
}
