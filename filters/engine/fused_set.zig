//! Which scan automata the fused loop (`fused.zig`) steps together, and their byte
//! classes side by side: one row per byte value, so the loop finds every member's class
//! of a byte in one row instead of one table per member.

const std = @import("std");
const assert = std.debug.assert;
const limits = @import("limits.zig");
const ScanGroup = @import("scan_group.zig").ScanGroup;

/// Automata stepped in one loop. Four keep every member's state and table in registers
/// (more spill to the stack and cost more than a second loop over the text).
pub const members_max = 4;
/// Loops; dense automata past them run on their own.
pub const sets_max = 4;

/// Automata stepped together over the text.
pub const FusedSet = struct {
    /// Scan automaton indexes, in scan order.
    members: [members_max]u32,
    count: u32,
    /// The members, bit per scan automaton index.
    member_mask: u64,
    /// classes[byte][lane]: the class of `byte` in member `lane`'s automaton.
    classes: [256][members_max]u8,

    fn init(self: *FusedSet, groups: []const ScanGroup, members: []const u32) void {
        assert(members.len >= 2 and members.len <= members_max);
        self.count = @intCast(members.len);
        @memcpy(self.members[0..members.len], members);
        self.member_mask = 0;
        for (members) |member| self.member_mask |= @as(u64, 1) << @intCast(member);
        for (&self.classes, 0..) |*row, byte| {
            @memset(row, 0);
            for (members, 0..) |member, lane| row[lane] = groups[member].automaton.classes[byte];
        }
    }
};

pub const FusedSets = struct {
    sets: [sets_max]FusedSet,
    count: u32,

    /// The dense automata with two-byte entries, in scan order, `members_max` to a set;
    /// a set needs at least two (one alone runs faster skipping on its own).
    pub fn init(self: *FusedSets, groups: []const ScanGroup) void {
        assert(groups.len <= limits.scan_automata_max);
        self.count = 0;
        var pending: [members_max]u32 = undefined;
        var pending_count: usize = 0;
        for (groups, 0..) |*group, index| {
            if (self.count == sets_max) break;
            // One that passes over short runs of its stops skips most of the text alone.
            if (group.sparse() or group.automaton.narrow.len == 0 or group.run_min != 0) continue;
            pending[pending_count] = @intCast(index);
            pending_count += 1;
            if (pending_count == members_max) {
                self.sets[self.count].init(groups, pending[0..pending_count]);
                self.count += 1;
                pending_count = 0;
            }
        }
        if (pending_count >= 2 and self.count < sets_max) {
            self.sets[self.count].init(groups, pending[0..pending_count]);
            self.count += 1;
        }
    }
};
