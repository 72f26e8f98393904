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

/// Bounded slot indices: never-used slots are handed out in order, released
/// ones from a stack. The stack is left undefined so it lands in .bss instead
/// of the module's data section.
fn SlotPool(comptime capacity: u32) type {
    return struct {
        const Pool = @This();

        fresh: u32 = 0,
        free: [capacity]u32 = undefined,
        free_len: u32 = 0,

        fn claim(pool: *Pool) ?u32 {
            if (pool.free_len > 0) {
                pool.free_len -= 1;
                return pool.free[pool.free_len];
            }
            if (pool.fresh == capacity) return null;
            pool.fresh += 1;
            return pool.fresh - 1;
        }

        fn release(pool: *Pool, slot: u32) void {
            assert(slot < pool.fresh);
            assert(pool.free_len < pool.fresh);
            pool.free[pool.free_len] = slot;
            pool.free_len += 1;
        }

        fn inUse(pool: *const Pool) u32 {
            return pool.fresh - pool.free_len;
        }
    };
}

pub fn Registry(comptime roots_max: u32, comptime streams_max: u32) type {
    comptime assert(roots_max > 0 and streams_max > 0);
    // Load factor at most one half keeps linear probes short.
    const bucket_count: u32 = std.math.ceilPowerOfTwoAssert(u32, 2 * (roots_max + streams_max));

    return struct {
        const Self = @This();

        buckets: [bucket_count]Entry = [_]Entry{.{ .context_id = 0, .kind = .root, .slot = 0 }} ** bucket_count,
        roots: SlotPool(roots_max) = .{},
        streams: SlotPool(streams_max) = .{},

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
            // Envoy makes a new root context in the same VM on every config update
            // and deletes the old one, so root slots are reused like stream slots.
            const slot = switch (kind) {
                .root => self.roots.claim() orelse return error.Full,
                .stream => self.streams.claim() orelse return error.Full,
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

        /// Forgets `context_id` and frees its slot for reuse.
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
            switch (entry.kind) {
                .root => self.roots.release(entry.slot),
                .stream => self.streams.release(entry.slot),
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
            return self.streams.inUse();
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

test "root slots are reused after a root is deleted" {
    const R = Registry(1, 1);
    var registry: R = .{};
    var id: u32 = 1;
    while (id < 100) : (id += 1) {
        _ = try registry.insert(id, .root);
        try std.testing.expectError(error.Full, registry.insert(id + 1000, .root));
        registry.remove(id);
    }
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
