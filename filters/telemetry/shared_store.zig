//! What the telemetry sender and UEBA's state table need of proxy-Wasm's shared data:
//! get and set with compare-and-swap, kept apart from the host so both run in native
//! tests. `FakeStore` has the host's CAS semantics for those tests.

const std = @import("std");
const assert = std.debug.assert;

pub const StoreError = error{ CasMismatch, StoreFailed };

pub const SharedValue = struct { value: []const u8, cas: u32 };

/// A store with proxy-Wasm's CAS semantics (cas grows on every write; a write to a
/// missing key ignores cas), holding up to `entries_max` keys, and a hook to interleave
/// another VM's write before the next one lands.
pub fn FakeStore(comptime entries_max: usize, comptime key_bytes_max: usize, comptime value_bytes_max: usize) type {
    return struct {
        const Self = @This();
        const Entry = struct { key: [key_bytes_max]u8, key_len: usize, value: [value_bytes_max]u8, value_len: usize, cas: u32 };

        entries: [entries_max]Entry = undefined,
        len: usize = 0,
        next_cas: u32 = 1,
        gets: u32 = 0,
        /// Runs once before the next `set` lands, as another VM would.
        interleave: ?*const fn (*Self) void = null,

        pub fn get(self: *Self, key: []const u8) StoreError!?SharedValue {
            self.gets += 1;
            const found = self.lookup(key) orelse return null;
            return .{ .value = found.value[0..found.value_len], .cas = found.cas };
        }

        pub fn set(self: *Self, key: []const u8, value: []const u8, cas: u32) StoreError!void {
            if (self.interleave) |other| {
                self.interleave = null;
                other(self);
            }
            const entry = self.lookup(key) orelse blk: {
                assert(self.len < self.entries.len);
                self.entries[self.len] = .{ .key = undefined, .key_len = key.len, .value = undefined, .value_len = 0, .cas = 0 };
                @memcpy(self.entries[self.len].key[0..key.len], key);
                self.len += 1;
                break :blk &self.entries[self.len - 1];
            };
            if (entry.cas != 0 and cas != 0 and cas != entry.cas) return error.CasMismatch;
            @memcpy(entry.value[0..value.len], value);
            entry.value_len = value.len;
            entry.cas = self.next_cas;
            self.next_cas += 1;
        }

        pub fn lookup(self: *Self, key: []const u8) ?*Entry {
            for (self.entries[0..self.len]) |*entry| {
                if (std.mem.eql(u8, entry.key[0..entry.key_len], key)) return entry;
            }
            return null;
        }
    };
}
