//! What the hot loop needs of one scan automaton: its transitions and a skip table.
//!
//! Skip: while the automaton sits in a start state (nothing in progress), a byte
//! that leads from every start state back to the start state of its own context
//! changes nothing but that context, so runs of such bytes are passed over with
//! one table lookup each and no transition. The result is the same state the
//! transitions would have reached, so skipping never changes what is found.

const std = @import("std");
const automaton_module = @import("automaton.zig");
const Automaton = automaton_module.Automaton;
const SkipSet = @import("skip_set.zig").SkipSet;
const short_runs = @import("short_runs.zig");

/// Shortest `run_min` worth passing over runs for (the vector search reads 16 bytes).
pub const long_run_bytes = 16;

pub const ScanGroup = struct {
    /// A copy of the view (its slices point into the table blob, not into `Tables`),
    /// so a `Tables` value moved after `load` still works.
    automaton: Automaton,
    /// Bytes that lead from every start state back to a start state.
    skip: SkipSet,
    /// The start states form the block [start_low, start_low + start_span] of
    /// premultiplied states, so "in a start state" is one subtraction and one compare.
    start_low: u32,
    start_span: u32,
    skip_enabled: bool,
    /// The compiler's hint: it starts on common bytes, so it runs on its own.
    dense: bool,
    /// Runs of stop bytes shorter than this, in a start state, change nothing but the
    /// context (`short_runs.zig`); 0 when that is not worth using.
    run_min: u32,

    pub fn init(automaton: *const Automaton, dense: bool) ScanGroup {
        var group: ScanGroup = .{
            .automaton = automaton.*,
            .skip = undefined,
            .start_low = 0,
            .start_span = 0,
            .skip_enabled = false,
            .dense = dense,
            .run_min = 0,
        };
        @memset(&group.skip.table, 0);
        group.skip.init();
        if (!startsFormABlock(automaton, &group.start_low, &group.start_span)) return group;
        var any: bool = false;
        for (&group.skip.table, 0..) |*entry, byte| {
            const after = automaton.start(automaton_module.byteContext(@intCast(byte)));
            var stays = true;
            for (automaton.starts) |start_state| {
                if (automaton.stepByte(start_state, @intCast(byte)) != after) stays = false;
            }
            entry.* = @intFromBool(stays);
            any = any or stays;
        }
        group.skip.init();
        group.skip_enabled = any;
        if (any) {
            const run_min = short_runs.runMin(automaton, &group.skip.table);
            if (run_min >= long_run_bytes) group.run_min = run_min;
        }
        return group;
    }

    /// Runs in the skip pass shared with the other sparse automata.
    pub fn sparse(self: *const ScanGroup) bool {
        return self.skip_enabled and !self.dense;
    }

    pub fn inStart(self: *const ScanGroup, state: u32) bool {
        return self.skip_enabled and state -% self.start_low <= self.start_span;
    }
};

/// True when the distinct start states are consecutive non-dead, non-matching states.
fn startsFormABlock(automaton: *const Automaton, low: *u32, span: *u32) bool {
    var lowest: u32 = std.math.maxInt(u32);
    var highest: u32 = 0;
    for (automaton.starts) |state| {
        lowest = @min(lowest, state);
        highest = @max(highest, state);
    }
    if (lowest == 0 or highest >= automaton.first_match) return false;
    // Every state of the block must be one of the (at most four) starts.
    var state = lowest;
    var count: u32 = 0;
    while (state <= highest) : (state += automaton.class_count) {
        if (count == automaton.starts.len) return false;
        count += 1;
        var found = false;
        for (automaton.starts) |start_state| found = found or start_state == state;
        if (!found) return false;
    }
    low.* = lowest;
    span.* = highest - lowest;
    return true;
}
