//! Context registry: maps the host's context ids to fixed slots, so that a
//! callback finds its root or stream context without allocating. Capacities
//! are compile-time bounds chosen by each plugin; a full table is reported to
//! the caller, never grown.

const std = @import("std");
const assert = std.debug.assert;

pub const Kind = enum(u8) { root, stream };

pub const Entry = struct {
    /// 0 marks an empty bucket; hosts never use 0 as a context id.
    context_id: u32,
    kind: Kind,
    slot: u32,
};

pub fn Registry(comptime roots_max: u32, comptime streams_max: u32) type {
    comptime assert(roots_max > 0 and streams_max > 0);
    // Load factor at most one half keeps linear probes short.
    const bucket_count: u32 = std.math.ceilPowerOfTwoAssert(u32, 2 * (roots_max + streams_max));

    return struct {
        const Self = @This();

        buckets: [bucket_count]Entry = [_]Entry{.{ .context_id = 0, .kind = .root, .slot = 0 }} ** bucket_count,
        roots_used: u32 = 0,
        /// Slots at or past this index were never used; below it, free ones are on the stack.
        streams_fresh: u32 = 0,
        /// Stack of released stream slots; `streams_free_len` entries are valid.
        /// (Left undefined so it lands in .bss instead of the module's data.)
        streams_free: [streams_max]u32 = undefined,
        streams_free_len: u32 = 0,

        pub fn find(self: *const Self, context_id: u32) ?Entry {
            if (context_id == 0) return null;
            var bucket = home(context_id);
            var probes: u32 = 0;
            while (probes < bucket_count) : (probes += 1) {
                const entry = self.buckets[bucket];
                if (entry.context_id == context_id) return entry;
                if (entry.context_id == 0) return null;
                bucket = (bucket + 1) & (bucket_count - 1);
            }
            return null;
        }

        pub const InsertError = error{ Full, Duplicate, InvalidContextId };

        /// Claims a slot for `context_id` and returns it.
        pub fn insert(self: *Self, context_id: u32, kind: Kind) InsertError!u32 {
            if (context_id == 0) return error.InvalidContextId;
            if (self.find(context_id) != null) return error.Duplicate;
            const slot = switch (kind) {
                .root => blk: {
                    // Root contexts live as long as the plugin; their slots are not reused.
                    if (self.roots_used == roots_max) return error.Full;
                    self.roots_used += 1;
                    break :blk self.roots_used - 1;
                },
                .stream => blk: {
                    if (self.streams_free_len > 0) {
                        self.streams_free_len -= 1;
                        break :blk self.streams_free[self.streams_free_len];
                    }
                    if (self.streams_fresh == streams_max) return error.Full;
                    self.streams_fresh += 1;
                    break :blk self.streams_fresh - 1;
                },
            };
            var bucket = home(context_id);
            var probes: u32 = 0;
            while (probes < bucket_count) : (probes += 1) {
                if (self.buckets[bucket].context_id == 0) {
                    self.buckets[bucket] = .{ .context_id = context_id, .kind = kind, .slot = slot };
                    return slot;
                }
                bucket = (bucket + 1) & (bucket_count - 1);
            }
            unreachable; // The load factor bound guarantees a free bucket.
        }

        /// Frees a stream slot; root slots stay claimed.
        pub fn remove(self: *Self, context_id: u32) void {
            var bucket = home(context_id);
            var probes: u32 = 0;
            while (probes < bucket_count) : (probes += 1) {
                const entry = self.buckets[bucket];
                if (entry.context_id == 0) return;
                if (entry.context_id == context_id) break;
                bucket = (bucket + 1) & (bucket_count - 1);
            } else return;
            const entry = self.buckets[bucket];
            if (entry.kind == .stream) {
                assert(self.streams_free_len < streams_max);
                self.streams_free[self.streams_free_len] = entry.slot;
                self.streams_free_len += 1;
            }
            self.shiftBack(bucket);
        }

        /// Backward-shift deletion keeps probe chains intact without tombstones.
        fn shiftBack(self: *Self, removed: u32) void {
            var hole = removed;
            var bucket = (removed + 1) & (bucket_count - 1);
            var probes: u32 = 0;
            while (probes < bucket_count) : (probes += 1) {
                const entry = self.buckets[bucket];
                if (entry.context_id == 0) break;
                const distance_entry = (bucket -% home(entry.context_id)) & (bucket_count - 1);
                const distance_hole = (bucket -% hole) & (bucket_count - 1);
                if (distance_entry >= distance_hole) {
                    self.buckets[hole] = entry;
                    hole = bucket;
                }
                bucket = (bucket + 1) & (bucket_count - 1);
            }
            self.buckets[hole].context_id = 0;
        }

        pub fn streamsInUse(self: *const Self) u32 {
            return self.streams_fresh - self.streams_free_len;
        }

        fn home(context_id: u32) u32 {
            // Fibonacci hashing spreads the host's sequential ids.
            return (context_id *% 0x9E3779B1) & (bucket_count - 1);
        }
    };
}

test "insert, find, remove and reuse under churn" {
    const R = Registry(2, 8);
    var registry: R = .{};
    _ = try registry.insert(1, .root);
    var id: u32 = 2;
    while (id < 2000) : (id += 1) {
        _ = try registry.insert(id, .stream);
        if (id > 6) registry.remove(id - 5);
        try std.testing.expect(registry.find(1) != null);
        try std.testing.expect(registry.find(id) != null);
    }
    try std.testing.expectEqual(@as(u32, 5), registry.streamsInUse());
    try std.testing.expectError(error.Duplicate, registry.insert(1999, .stream));
}

test "a full table is reported, not grown" {
    const R = Registry(1, 2);
    var registry: R = .{};
    _ = try registry.insert(10, .stream);
    _ = try registry.insert(11, .stream);
    try std.testing.expectError(error.Full, registry.insert(12, .stream));
    registry.remove(10);
    _ = try registry.insert(12, .stream);
}
