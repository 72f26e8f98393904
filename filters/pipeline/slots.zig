//! A bounded pool of per-message body slots, shared by the streams of one VM.
//!
//! A processor (body.zig) needs 100-300 KiB that outlive a callback; giving every
//! stream one would cost hundreds of MiB at Envoy's stream counts. Only streams that
//! are inside a body they scan hold a slot, from their first body chunk to the end of
//! that message. Slots are taken from linear memory the first time they are needed and
//! reused after; a VM never holds more than `slots_max`. When all are busy the message
//! cannot be scanned and the filter applies the policy's failure mode, never a silent
//! pass.

const std = @import("std");
const assert = std.debug.assert;

pub fn Pool(comptime slot_bytes: usize, comptime slots_max: u16) type {
    comptime assert(slot_bytes % 16 == 0 and slots_max > 0);
    return struct {
        const Self = @This();
        pub const bytes_per_slot = slot_bytes;
        pub const capacity = slots_max;

        memory: [slots_max]?[]align(16) u8 = .{null} ** slots_max,
        busy: [slots_max]bool = .{false} ** slots_max,
        busy_count: u16 = 0,
        /// Most slots busy at once since the VM started (for the memory report).
        busy_peak: u16 = 0,

        /// A free slot's index, allocating its memory on first use; null when every
        /// slot is busy or memory cannot grow.
        pub fn acquire(self: *Self, allocator: std.mem.Allocator) ?u16 {
            assert(self.busy_count <= slots_max);
            // Prefer a slot whose memory exists, so the pool grows only with concurrency.
            var fresh: ?u16 = null;
            for (self.busy, 0..) |busy, index| {
                if (busy) continue;
                if (self.memory[index] != null) return self.take(@intCast(index));
                if (fresh == null) fresh = @intCast(index);
            }
            const index = fresh orelse return null;
            self.memory[index] = allocator.alignedAlloc(u8, 16, slot_bytes) catch return null;
            return self.take(index);
        }

        fn take(self: *Self, index: u16) u16 {
            assert(!self.busy[index] and self.memory[index] != null);
            self.busy[index] = true;
            self.busy_count += 1;
            self.busy_peak = @max(self.busy_peak, self.busy_count);
            return index;
        }

        pub fn bytes(self: *const Self, index: u16) []align(16) u8 {
            assert(self.busy[index]);
            return self.memory[index].?;
        }

        pub fn release(self: *Self, index: u16) void {
            assert(self.busy[index] and self.busy_count > 0);
            self.busy[index] = false;
            self.busy_count -= 1;
        }
    };
}

test "slots are reused, bounded, and grow only with concurrency" {
    const testing = std.testing;
    var pool = Pool(64, 2){};
    defer for (pool.memory) |memory| if (memory) |m| testing.allocator.free(m);
    const a = pool.acquire(testing.allocator).?;
    pool.release(a);
    const again = pool.acquire(testing.allocator).?;
    try testing.expectEqual(a, again);
    const b = pool.acquire(testing.allocator).?;
    try testing.expect(a != b);
    try testing.expectEqual(@as(?u16, null), pool.acquire(testing.allocator));
    try testing.expectEqual(@as(u16, 2), pool.busy_peak);
    pool.release(a);
    pool.release(b);
}
