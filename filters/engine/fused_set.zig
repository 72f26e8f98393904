//! Which scan automata the fused loop (`fused.zig`) steps together, and their byte
//! classes side by side: one row per byte value, so the loop finds every member's class
//! of a byte in one row instead of one table per member.

const std = @import("std");
const assert = std.debug.assert;
const limits = @import("limits.zig");
const ScanGroup = @import("scan_group.zig").ScanGroup;
const Automaton = @import("automaton.zig").Automaton;
const SkipSet = @import("skip_set.zig").SkipSet;

/// Automata stepped in one loop. Four keep every member's state and table in registers
/// (more spill to the stack and cost more than a second loop over the text).
pub const members_max = 4;
/// Loops; dense automata past them run on their own.
pub const sets_max = 4;
/// Room for the members' flagged transitions (`FusedSets.flagged`): the catalog's dense
/// automata hold about 59,000 entries. Automata past it run on their own.
pub const flagged_entries_max = 64 * 1024;
/// Set in a flagged entry whose next state matches.
pub const match_flag: u16 = 0x8000;
/// Premultiplied states of a member stay below the flag bit.
const member_entries_max = match_flag;

/// Automata stepped together over the text.
pub const FusedSet = struct {
    /// Scan automaton indexes, in scan order.
    members: [members_max]u32,
    count: u32,
    /// The members, bit per scan automaton index.
    member_mask: u64,
    /// classes[byte][lane]: the class of `byte` in member `lane`'s automaton.
    classes: [256][members_max]u8,
    /// Where member `lane`'s flagged transitions start in `FusedSets.flagged`, and how many.
    flagged_start: [members_max]u32,
    flagged_count: [members_max]u32,
    /// Bytes every member passes over from its start states (`ScanGroup.skip`): while all
    /// members wait in a start state, a run of them is passed over at once. The catalog's
    /// dense automata all wait over about three bytes of four of typical traffic. A
    /// member without skip bytes (its start states form no block) has an empty table,
    /// which leaves the set none either.
    skip: SkipSet,
    /// Per member: its start states, as the block [start_low, start_low + start_span],
    /// and by the context of the byte before.
    start_low: [members_max]u32,
    start_span: [members_max]u32,
    starts: [members_max][4]u32,

    fn init(self: *FusedSet, groups: []const ScanGroup, members: []const u32, flagged_start: []const u32) void {
        assert(members.len >= 2 and members.len <= members_max);
        self.count = @intCast(members.len);
        @memcpy(self.members[0..members.len], members);
        @memcpy(self.flagged_start[0..members.len], flagged_start);
        for (members, 0..) |member, lane| self.flagged_count[lane] = @intCast(groups[member].automaton.narrow.len);
        self.member_mask = 0;
        for (members) |member| self.member_mask |= @as(u64, 1) << @intCast(member);
        for (&self.classes, 0..) |*row, byte| {
            @memset(row, 0);
            for (members, 0..) |member, lane| row[lane] = groups[member].automaton.classes[byte];
        }
        self.initSkip(groups, members);
    }

    fn initSkip(self: *FusedSet, groups: []const ScanGroup, members: []const u32) void {
        @memset(&self.skip.table, 1);
        for (members, 0..) |member, lane| {
            const group = &groups[member];
            if (!group.skip_enabled) assert(std.mem.allEqual(u8, &group.skip.table, 0));
            for (&self.skip.table, group.skip.table) |*all, one| all.* &= one;
            self.start_low[lane] = group.start_low;
            self.start_span[lane] = group.start_span;
            self.starts[lane] = group.automaton.starts;
        }
        self.skip.init();
    }
};

pub const FusedSets = struct {
    sets: [sets_max]FusedSet,
    count: u32,
    /// The members' transitions with `match_flag` set in each entry that leads to a
    /// matching state, so the fused loop notices a hit of any member with one OR per
    /// member and one test per byte, and keeps no per-member bound in a register.
    /// Clearing the flag gives the entry of the member's own table.
    flagged: [flagged_entries_max]u16,
    flagged_len: u32,

    /// The dense automata with two-byte entries, in scan order, `members_max` to a set;
    /// a set needs at least two (one alone runs faster skipping on its own).
    pub fn init(self: *FusedSets, groups: []const ScanGroup) void {
        assert(groups.len <= limits.scan_automata_max);
        self.count = 0;
        self.flagged_len = 0;
        var pending: [members_max]u32 = undefined;
        var pending_start: [members_max]u32 = undefined;
        var pending_count: usize = 0;
        for (groups, 0..) |*group, index| {
            if (self.count == sets_max) break;
            // One that passes over short runs of its stops skips most of the text alone.
            if (group.sparse() or group.automaton.narrow.len == 0 or group.run_min != 0) continue;
            const start = self.addFlagged(&group.automaton) orelse continue;
            pending[pending_count] = @intCast(index);
            pending_start[pending_count] = start;
            pending_count += 1;
            if (pending_count == members_max) {
                self.sets[self.count].init(groups, pending[0..pending_count], pending_start[0..pending_count]);
                self.count += 1;
                pending_count = 0;
            }
        }
        if (pending_count >= 2 and self.count < sets_max) {
            self.sets[self.count].init(groups, pending[0..pending_count], pending_start[0..pending_count]);
            self.count += 1;
        }
    }

    /// Member `lane`'s flagged transitions.
    pub fn entries(self: *const FusedSets, set: *const FusedSet, lane: usize) []const u16 {
        assert(lane < set.count);
        return self.flagged[set.flagged_start[lane]..][0..set.flagged_count[lane]];
    }

    /// Copies `automaton`'s transitions, flagged, after the ones held; null when its
    /// states reach the flag bit or the room is used up.
    fn addFlagged(self: *FusedSets, automaton: *const Automaton) ?u32 {
        const length: u32 = @intCast(automaton.narrow.len);
        assert(length == automaton.state_count * automaton.class_count);
        if (length > member_entries_max) return null;
        if (length > flagged_entries_max - self.flagged_len) return null;
        const start = self.flagged_len;
        for (self.flagged[start..][0..length], automaton.narrow) |*flagged, entry| {
            assert(entry < member_entries_max);
            flagged.* = if (automaton.isMatch(entry)) entry | match_flag else entry;
        }
        self.flagged_len += length;
        return start;
    }
};
