//! The hot loops: one scan automaton over a run of bytes, one class lookup and one
//! transition lookup per byte. `run` passes over skippable bytes itself while the
//! automaton waits in a start state (dense automata, stepped on their own); `runUntilIdle`
//! hands such bytes back to the shared skip pass instead (sparse automata); `runEvery`
//! steps every byte (short texts). All stop at the first matching state.

const std = @import("std");
const automaton_module = @import("automaton.zig");
const ScanGroup = @import("scan_group.zig").ScanGroup;

pub const Outcome = enum {
    /// `state` matches after the byte at `index`.
    hit,
    /// The automaton waits in a start state before the skippable byte at `index`.
    idle,
    /// `index` is the end of the bytes.
    end,
};

pub const Step = struct {
    outcome: Outcome,
    index: usize,
    state: u32,
    /// The state before the byte at `index` (to stop and resume a hit's events later).
    before: u32,
};

/// Steps `group` over `bytes[from..]` starting in `state`, skipping on its own.
pub fn run(group: *const ScanGroup, bytes: []const u8, from: usize, state: u32) Step {
    const automaton = &group.automaton;
    if (automaton.narrow.len != 0) return runWidth(u16, .skip, group, automaton.narrow, bytes, from, state);
    return runWidth(u32, .skip, group, automaton.wide, bytes, from, state);
}

/// Steps `group` over `bytes[from..]` until it matches or waits idle before a skippable byte.
pub fn runUntilIdle(group: *const ScanGroup, bytes: []const u8, from: usize, state: u32) Step {
    const automaton = &group.automaton;
    if (automaton.narrow.len != 0) return runWidth(u16, .idle, group, automaton.narrow, bytes, from, state);
    return runWidth(u32, .idle, group, automaton.wide, bytes, from, state);
}

/// Steps `group` over `bytes[from..]` on every byte, never skipping: over a few dozen
/// bytes the skip searches cost more than the steps they save.
pub fn runEvery(group: *const ScanGroup, bytes: []const u8, from: usize, state: u32) Step {
    const automaton = &group.automaton;
    if (automaton.narrow.len != 0) return runWidth(u16, .every, group, automaton.narrow, bytes, from, state);
    return runWidth(u32, .every, group, automaton.wide, bytes, from, state);
}

pub const Mode = enum { skip, idle, every };

fn runWidth(comptime Entry: type, comptime mode: Mode, group: *const ScanGroup, entries: []align(1) const Entry, bytes: []const u8, from: usize, state_in: u32) Step {
    const classes = group.automaton.classes;
    const first_match = group.automaton.first_match;
    var state = state_in;
    var index = from;
    while (index < bytes.len) {
        if (mode == .skip and group.run_min != 0 and group.inStart(state)) {
            // Short runs of stops pass over like skip bytes: on to the first long one.
            const next = group.skip.nextLongRun(bytes, index, group.run_min);
            if (next > index) {
                index = next;
                state = group.automaton.start(automaton_module.byteContext(bytes[index - 1]));
                if (index == bytes.len) break;
            }
        } else if (mode != .every and group.inStart(state) and group.skip.table[bytes[index]] != 0) {
            if (mode == .idle) return .{ .outcome = .idle, .index = index, .state = state, .before = state };
            index = group.skip.nextStop(bytes, index);
            state = group.automaton.start(automaton_module.byteContext(bytes[index - 1]));
            if (index == bytes.len) break;
        }
        const before = state;
        state = entries[state + classes[bytes[index]]];
        if (state >= first_match) return .{ .outcome = .hit, .index = index, .state = state, .before = before };
        index += 1;
    }
    return .{ .outcome = .end, .index = bytes.len, .state = state, .before = state };
}
