//! How long a run of stop bytes must be before it can change a scan automaton's state.
//!
//! Stop bytes lead some start state away from the start states; the others ("skip
//! bytes") lead every start state to the start state of their own context. Some
//! automata also forget a short run of stops: `[A-Za-z0-9_-]{20,128}` scanned from a
//! start state reaches no matching state within 19 letters, and the byte after them, if
//! not a stop, leads back to a start state. For such an automaton, `runMin` is the
//! shortest run of stops that may leave it anywhere but in the start state of the next
//! skip byte's context; every shorter run, with the skip byte after it, is passed over
//! like a skip byte (`SkipSet.nextLongRun`). Found by stepping the set of states every
//! run of k stops can reach from the start states, for k = 0, 1, ...

const std = @import("std");
const assert = std.debug.assert;
const automaton_module = @import("automaton.zig");
const Automaton = automaton_module.Automaton;

/// Longest run length looked for; the analysis reads at most this many state sets.
pub const run_min_max = 64;
/// Automata with more states are not analysed (the state sets are fixed-size bitsets).
const states_max = 4096;
const StateSet = std.StaticBitSet(states_max);

/// One byte of each (class, context) pair, split into stops and skip bytes: stepping
/// a state by either byte of a pair gives the same state and the same context.
const Representatives = struct {
    stops: [256]u8 = undefined,
    stop_count: usize = 0,
    skips: [256]u8 = undefined,
    skip_count: usize = 0,

    fn init(automaton: *const Automaton, skip: *const [256]u8) Representatives {
        var result: Representatives = .{};
        var seen = std.StaticBitSet(256 * 4 * 2).initEmpty();
        for (0..256) |byte| {
            const is_skip = skip[byte] != 0;
            const context: usize = @intFromEnum(automaton_module.byteContext(@intCast(byte)));
            const key = (@as(usize, automaton.classes[byte]) * 4 + context) * 2 + @intFromBool(is_skip);
            if (key >= seen.capacity() or seen.isSet(key)) continue;
            seen.set(key);
            if (is_skip) {
                result.skips[result.skip_count] = @intCast(byte);
                result.skip_count += 1;
            } else {
                result.stops[result.stop_count] = @intCast(byte);
                result.stop_count += 1;
            }
        }
        return result;
    }
};

/// The shortest run of stops that may matter (0 when the automaton is not analysed;
/// 1 when every run may); `skip` marks the skip bytes.
pub fn runMin(automaton: *const Automaton, skip: *const [256]u8) u32 {
    if (automaton.state_count > states_max or automaton.class_count > 256) return 0;
    const representatives = Representatives.init(automaton, skip);
    var level = StateSet.initEmpty();
    for (automaton.starts) |state| level.set(state / automaton.class_count);
    var length: u32 = 0;
    while (length < run_min_max) : (length += 1) {
        if (!forgets(automaton, &level, &representatives)) return length;
        level = nextLevel(automaton, &level, &representatives);
    }
    return length;
}

/// True when no state of `level` matches and every skip byte leads each of them to the
/// start state of its context.
fn forgets(automaton: *const Automaton, level: *const StateSet, representatives: *const Representatives) bool {
    var states = level.iterator(.{});
    while (states.next()) |index| {
        const state: u32 = @intCast(index * automaton.class_count);
        if (automaton.isMatch(state)) return false;
        for (representatives.skips[0..representatives.skip_count]) |byte| {
            const after = automaton.start(automaton_module.byteContext(byte));
            if (automaton.stepByte(state, byte) != after) return false;
        }
    }
    return true;
}

fn nextLevel(automaton: *const Automaton, level: *const StateSet, representatives: *const Representatives) StateSet {
    var next = StateSet.initEmpty();
    var states = level.iterator(.{});
    while (states.next()) |index| {
        const state: u32 = @intCast(index * automaton.class_count);
        for (representatives.stops[0..representatives.stop_count]) |byte| {
            const reached = automaton.stepByte(state, byte) / automaton.class_count;
            assert(reached < automaton.state_count);
            next.set(reached);
        }
    }
    return next;
}
