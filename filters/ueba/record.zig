//! The fixed binary records kept in proxy-Wasm shared data: one per entity, one per peer
//! group. Each is an `extern struct` written as its bytes (wasm32 is little-endian, and only
//! VMs of this module read them), starting with a magic that names the layout, so a record
//! from another layout or a cleared slot (zero bytes) reads as empty.

const std = @import("std");
const assert = std.debug.assert;
const config = @import("config.zig");
const limits = @import("limits.zig");
const entity = @import("entity.zig");
const baseline = @import("baseline.zig");
const features = @import("features.zig");
const hours = @import("hours.zig");

const Action = config.Action;

pub const EntityRecord = extern struct {
    /// "MVE" and the layout version.
    pub const magic_value: u32 = 0x4D564501;

    magic: u32 = magic_value,
    /// The window length the baselines were learnt with; a different one starts over.
    window_seconds: u32,
    id: entity.Id,
    group: entity.Id,
    kind: u8,
    group_kind: u8,
    has_group: u8 = 0,
    /// An `Action` (throttle or block) in force until `penalty_until_s`.
    penalty: u8 = 0,
    last_event_action: u8 = 0,
    reserved: [3]u8 = .{ 0, 0, 0 },
    first_seen_s: u64,
    last_seen_s: u64,
    penalty_until_s: u64 = 0,
    last_event_s: u64 = 0,
    window: features.Window = .{},
    baseline: baseline.Baseline = .{},
    hours: hours.Hours = .{},
    rules: [limits.rules_max]features.RuleCounter = [_]features.RuleCounter{.{}} ** limits.rules_max,

    pub fn fresh(id: entity.Id, kind: config.SourceKind, now_s: u64, window_seconds: u32) EntityRecord {
        return .{
            .window_seconds = window_seconds,
            .id = id,
            .group = .{0} ** @sizeOf(entity.Id),
            .kind = @intFromEnum(kind),
            .group_kind = 0,
            .first_seen_s = now_s,
            .last_seen_s = now_s,
            .window = .{ .start_s = features.windowStart(now_s, window_seconds) },
            .hours = .{ .decayed_at_s = now_s },
        };
    }

    /// The penalty in force at `now_s`, if any.
    pub fn penaltyAt(self: *const EntityRecord, now_s: u64) ?Penalty {
        if (now_s >= self.penalty_until_s) return null;
        const action: Action = @enumFromInt(self.penalty);
        if (!action.atLeast(.throttle)) return null;
        return .{ .action = action, .remaining_s = self.penalty_until_s - now_s };
    }
};

pub const Penalty = struct { action: Action, remaining_s: u64 };

pub const GroupRecord = extern struct {
    /// "MVG" and the layout version.
    pub const magic_value: u32 = 0x4D564701;

    magic: u32 = magic_value,
    window_seconds: u32,
    id: entity.Id,
    last_seen_s: u64,
    baseline: baseline.Baseline = .{},

    pub fn fresh(id: entity.Id, now_s: u64, window_seconds: u32) GroupRecord {
        return .{ .window_seconds = window_seconds, .id = id, .last_seen_s = now_s };
    }
};

/// The record in `bytes`, or null for an empty slot or another layout.
pub fn decode(comptime Record: type, bytes: []const u8) ?Record {
    if (bytes.len != @sizeOf(Record)) return null;
    var record: Record = undefined;
    @memcpy(std.mem.asBytes(&record), bytes);
    if (record.magic != Record.magic_value) return null;
    return record;
}

/// What a slot scan needs of a record, read in place (a full decode copies ~1 KiB).
pub const Peek = struct { id: entity.Id, last_seen_s: u64 };

pub fn peek(comptime Record: type, bytes: []const u8) ?Peek {
    if (bytes.len != @sizeOf(Record)) return null;
    const magic = std.mem.readInt(u32, bytes[@offsetOf(Record, "magic")..][0..4], native);
    if (magic != Record.magic_value) return null;
    return .{
        .id = bytes[@offsetOf(Record, "id")..][0..@sizeOf(entity.Id)].*,
        .last_seen_s = std.mem.readInt(u64, bytes[@offsetOf(Record, "last_seen_s")..][0..8], native),
    };
}

const native = @import("builtin").cpu.arch.endian();

pub fn encode(record: anytype) []const u8 {
    const Record = @typeInfo(@TypeOf(record)).pointer.child;
    assert(record.magic == Record.magic_value);
    return std.mem.asBytes(record);
}

comptime {
    // Shared data copies each record on every read: keep them small.
    assert(@sizeOf(EntityRecord) <= 1024);
    assert(@sizeOf(GroupRecord) <= 256);
}

const testing = std.testing;

test "records round-trip; other bytes read as empty" {
    var record = EntityRecord.fresh(.{7} ** 16, .bearer_jwt, 1000, 60);
    record.window.requests = 3;
    const copy = decode(EntityRecord, encode(&record)).?;
    try testing.expectEqual(@as(u32, 3), copy.window.requests);
    try testing.expectEqual(@as(u64, 960), copy.window.start_s);
    try testing.expect(decode(EntityRecord, "") == null);
    try testing.expect(decode(GroupRecord, encode(&record)) == null);
    const peeked = peek(EntityRecord, encode(&record)).?;
    try testing.expectEqual(record.id, peeked.id);
    try testing.expectEqual(@as(u64, 1000), peeked.last_seen_s);
    try testing.expect(peek(GroupRecord, encode(&record)) == null);
    var wrong_magic = record;
    wrong_magic.magic = 1;
    try testing.expect(decode(EntityRecord, std.mem.asBytes(&wrong_magic)) == null);
}

test "a penalty holds until its end" {
    var record = EntityRecord.fresh(.{1} ** 16, .source_ip, 100, 60);
    try testing.expect(record.penaltyAt(100) == null);
    record.penalty = @intFromEnum(Action.throttle);
    record.penalty_until_s = 160;
    try testing.expectEqual(@as(u64, 10), record.penaltyAt(150).?.remaining_s);
    try testing.expect(record.penaltyAt(160) == null);
}
