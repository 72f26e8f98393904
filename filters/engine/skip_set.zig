//! A set of bytes the scan passes over, and the search for the next byte outside it,
//! sixteen bytes at a time (Wasm simd128 when the module enables it).
//!
//! The bytes outside the set ("stops") are found by a nibble lookup: each byte's low
//! and high nibble index two 16-byte tables (one `i8x16.swizzle` each), and a bit set in
//! both marks a candidate. A bit ("bucket") stands for the high nibbles that share one
//! set of low-nibble stops, so with at most eight such sets the candidates are exactly
//! the stops; past eight, the last bucket takes the union of the rest (a superset, so no
//! stop is missed) and the byte table confirms each candidate.

const std = @import("std");
const builtin = @import("builtin");
const assert = std.debug.assert;

const lanes = 16;
const Block = @Vector(lanes, u8);
/// Bits of a lookup entry: distinct low-nibble stop sets held apart.
pub const buckets_max = 8;

/// Wasm simd128 has a byte shuffle with indexes from a register; elsewhere (the native
/// tests) the same lookup runs lane by lane.
const has_swizzle = builtin.cpu.arch.isWasm() and std.Target.wasm.featureSetHas(builtin.cpu.features, .simd128);
extern fn @"llvm.wasm.swizzle"(Block, Block) Block;

/// `table[index]` per lane, for indexes below 16.
fn lookup(table: Block, indexes: Block) Block {
    if (comptime has_swizzle) return @"llvm.wasm.swizzle"(table, indexes);
    var result: Block = undefined;
    inline for (0..lanes) |lane| result[lane] = table[indexes[lane] & 0x0F];
    return result;
}

pub const SkipSet = struct {
    /// 1 for bytes passed over, 0 for stops.
    table: [256]u8,
    /// Per low nibble and per high nibble, the buckets holding it.
    low_buckets: [16]u8,
    high_buckets: [16]u8,
    /// Buckets in use; 0 when every byte is passed over (the vector search has nothing
    /// to find).
    bucket_count: u8,

    /// Derives the buckets from `table`, which the caller has filled.
    pub fn init(self: *SkipSet) void {
        @memset(&self.low_buckets, 0);
        @memset(&self.high_buckets, 0);
        // Per bucket, its low-nibble stops as a bit per low nibble.
        var bucket_lows: [buckets_max]u16 = undefined;
        var count: usize = 0;
        for (0..16) |high| {
            const lows = self.lowStops(high);
            if (lows == 0) continue;
            var bucket: usize = 0;
            while (bucket < count and bucket_lows[bucket] != lows) bucket += 1;
            if (bucket == count) {
                if (count < buckets_max) {
                    count += 1;
                    bucket_lows[bucket] = lows;
                } else {
                    // No bucket left: the last one takes these too, a superset.
                    bucket = buckets_max - 1;
                    bucket_lows[bucket] |= lows;
                }
            }
            self.high_buckets[high] |= @as(u8, 1) << @intCast(bucket);
        }
        for (bucket_lows[0..count], 0..) |lows, bucket| {
            for (&self.low_buckets, 0..) |*entry, low| {
                if (lows & (@as(u16, 1) << @intCast(low)) != 0) entry.* |= @as(u8, 1) << @intCast(bucket);
            }
        }
        self.bucket_count = @intCast(count);
        for (0..256) |byte| {
            // Every stop is a candidate: the search never passes one.
            assert(self.table[byte] != 0 or self.low_buckets[byte & 0x0F] & self.high_buckets[byte >> 4] != 0);
        }
    }

    /// The stops with high nibble `high`, as a bit per low nibble.
    fn lowStops(self: *const SkipSet, high: usize) u16 {
        assert(high < 16);
        var lows: u16 = 0;
        for (0..16) |low| {
            if (self.table[high << 4 | low] == 0) lows |= @as(u16, 1) << @intCast(low);
        }
        return lows;
    }

    /// The first index at or after `from` whose byte is a stop, or `bytes.len`.
    pub fn nextStop(self: *const SkipSet, bytes: []const u8, from: usize) usize {
        var index = from;
        if (self.bucket_count != 0) {
            const nibbles = self.vectors();
            while (index + lanes <= bytes.len) : (index += lanes) {
                var mask = nibbles.candidates(bytes[index..][0..lanes].*);
                while (mask != 0) : (mask &= mask - 1) {
                    const at = index + @ctz(mask);
                    if (self.table[bytes[at]] == 0) return at;
                }
            }
        }
        // The tail: four lookups per branch.
        while (index + 4 <= bytes.len) : (index += 4) {
            const table = &self.table;
            if (table[bytes[index]] & table[bytes[index + 1]] & table[bytes[index + 2]] & table[bytes[index + 3]] == 0) break;
        }
        while (index < bytes.len and self.table[bytes[index]] != 0) index += 1;
        return index;
    }

    /// Where the first run of at least `run_min` stops at or after `from` begins, or where
    /// the run cut by the end of `bytes` begins, or `bytes.len`. The byte before the
    /// answer (when it is past `from`) is not a stop. Candidates count as stops (a run of
    /// them may be no run of stops, never the other way round), so no long run is missed.
    pub fn nextLongRun(self: *const SkipSet, bytes: []const u8, from: usize, run_min: u32) usize {
        assert(run_min >= lanes);
        // Stops (or candidates) just before `index`.
        var run: usize = 0;
        var index = from;
        if (self.bucket_count != 0) {
            const nibbles = self.vectors();
            while (index + lanes <= bytes.len) : (index += lanes) {
                const mask = nibbles.candidates(bytes[index..][0..lanes].*);
                if (mask == std.math.maxInt(u16)) {
                    run += lanes;
                    if (run >= run_min) return index + lanes - run;
                    continue;
                }
                // A long run ending in this block starts before it (run_min >= lanes).
                if (run + @ctz(~mask) >= run_min) return index - run;
                run = @clz(~mask);
            }
        }
        while (index < bytes.len) : (index += 1) {
            if (self.table[bytes[index]] != 0) {
                run = 0;
                continue;
            }
            run += 1;
            if (run >= run_min) return index + 1 - run;
        }
        return bytes.len - run;
    }

    /// The lookup tables as vectors, made once per search so its loop keeps them in registers.
    fn vectors(self: *const SkipSet) NibbleVectors {
        return .{ .low = self.low_buckets, .high = self.high_buckets };
    }
};

const NibbleVectors = struct {
    low: Block,
    high: Block,

    /// Bit i set when byte i of `block` may be a stop (always when it is one).
    fn candidates(self: *const NibbleVectors, block: Block) u16 {
        const low_nibbles = block & @as(Block, @splat(0x0F));
        const high_nibbles = block >> @as(@Vector(lanes, u3), @splat(4));
        const hits = lookup(self.low, low_nibbles) & lookup(self.high, high_nibbles);
        return @bitCast(hits != @as(Block, @splat(0)));
    }
};

test "nextStop finds every stop at every offset, past merged buckets" {
    var set: SkipSet = undefined;
    @memset(&set.table, 1);
    // Ten high nibbles with ten different low-nibble stops: more sets than buckets, so
    // the last bucket holds a superset and some bytes are candidates but no stops.
    const stops = [_]u8{ 0x01, 0x12, 0x23, 0x34, 0x45, 0x56, 0x67, 0x78, 0x89, 0x9A };
    for (stops) |stop| set.table[stop] = 0;
    set.init();
    try std.testing.expect(set.bucket_count == buckets_max);
    var text: [80]u8 = undefined;
    for (stops) |stop| {
        for (0..text.len) |at| {
            // 'w' (0x77) is a false candidate of the merged bucket; '5' and 'A' are none.
            for (&text, 0..) |*byte, index| byte.* = if (index % 3 == 0) '5' else if (index % 3 == 1) 'A' else 'w';
            text[at] = stop;
            for (0..at + 1) |from| try std.testing.expectEqual(at, set.nextStop(&text, from));
            try std.testing.expectEqual(text.len, set.nextStop(&text, at + 1));
        }
    }
}

test "the nibble lookup marks exactly the stops of a set with few low-nibble sets" {
    var set: SkipSet = undefined;
    @memset(&set.table, 1);
    for ("-/19ABJT$@_") |stop| set.table[stop] = 0;
    set.init();
    const nibbles = set.vectors();
    var block: [lanes]u8 = undefined;
    var byte: usize = 0;
    while (byte < 256) : (byte += lanes) {
        for (&block, 0..) |*entry, lane| entry.* = @intCast(byte + lane);
        const mask = nibbles.candidates(block);
        for (0..lanes) |lane| {
            const candidate = mask & (@as(u16, 1) << @intCast(lane)) != 0;
            try std.testing.expectEqual(set.table[byte + lane] == 0, candidate);
        }
    }
}

test "nextLongRun finds the first long run at every offset" {
    var set: SkipSet = undefined;
    @memset(&set.table, 1);
    for ("0123456789abcdefghijklmnopqrstuvwxyz_-") |stop| set.table[stop] = 0;
    set.init();
    var text: [120]u8 = undefined;
    var rng = std.Random.DefaultPrng.init(7);
    const random = rng.random();
    for (0..300) |_| {
        // Runs of stops of random lengths between spaces and quotes.
        for (&text) |*byte| byte.* = if (random.uintLessThan(u8, 6) == 0) " \"{:,"[random.uintLessThan(u8, 5)] else "a9_-zq"[random.uintLessThan(u8, 6)];
        const run_min = random.intRangeAtMost(u32, lanes, 24);
        for (0..text.len + 1) |from| {
            try std.testing.expectEqual(longRunReference(&set, &text, from, run_min), set.nextLongRun(&text, from, run_min));
        }
    }
}

fn longRunReference(set: *const SkipSet, bytes: []const u8, from: usize, run_min: u32) usize {
    var start = from;
    var index = from;
    while (index < bytes.len) : (index += 1) {
        if (set.table[bytes[index]] != 0) {
            start = index + 1;
        } else if (index + 1 - start >= run_min) {
            return start;
        }
    }
    return start;
}

test "a set with no stops runs to the end" {
    var set: SkipSet = undefined;
    @memset(&set.table, 1);
    set.init();
    try std.testing.expect(set.bucket_count == 0);
    const text = "no stops in here at all, none whatsoever";
    try std.testing.expectEqual(text.len, set.nextStop(text, 3));
}
