//! A set of bytes the scan passes over, and the search for the next byte outside it,
//! sixteen bytes at a time (Wasm simd128 when the module enables it).
//!
//! The bytes outside the set ("stops") are covered by a few byte ranges, merged across
//! the smallest gaps when there are more than `ranges_max`: a vector compare per range
//! marks candidates, and the byte table confirms each one. The ranges are a superset of
//! the stops, so no stop is missed; a candidate that is not a stop costs a lookup only.

const std = @import("std");
const assert = std.debug.assert;

const lanes = 16;
const Block = @Vector(lanes, u8);
/// Ranges compared per block: the catalog's stop sets are digits, letters and a few
/// punctuation bytes, which four ranges cover with few false candidates.
pub const ranges_max = 4;

pub const SkipSet = struct {
    /// 1 for bytes passed over, 0 for stops.
    table: [256]u8,
    /// Stop ranges [low, low + span]; unused entries repeat the first range.
    lows: [ranges_max]u8,
    spans: [ranges_max]u8,
    /// 0 when every byte is passed over (the vector search has nothing to find).
    range_count: u8,

    /// Derives the ranges from `table`, which the caller has filled.
    pub fn init(self: *SkipSet) void {
        var count: usize = 0;
        var byte: usize = 0;
        // Collect the maximal runs of stops; merge the two closest whenever one more
        // would not fit, so at most ranges_max + 1 are ever held.
        var lows: [ranges_max + 1]u8 = undefined;
        var highs: [ranges_max + 1]u8 = undefined;
        while (byte < 256) {
            if (self.table[byte] != 0) {
                byte += 1;
                continue;
            }
            const low = byte;
            while (byte < 256 and self.table[byte] == 0) byte += 1;
            lows[count] = @intCast(low);
            highs[count] = @intCast(byte - 1);
            count += 1;
            if (count == ranges_max + 1) count = mergeClosest(lows[0..count], highs[0..count]);
        }
        assert(count <= ranges_max);
        self.range_count = @intCast(count);
        for (0..ranges_max) |index| {
            const source = if (index < count) index else 0;
            self.lows[index] = if (count == 0) 0 else lows[source];
            self.spans[index] = if (count == 0) 0 else highs[source] - lows[source];
        }
    }

    /// The first index at or after `from` whose byte is a stop, or `bytes.len`.
    pub fn nextStop(self: *const SkipSet, bytes: []const u8, from: usize) usize {
        var index = from;
        if (self.range_count != 0) {
            while (index + lanes <= bytes.len) : (index += lanes) {
                var mask = self.candidates(bytes[index..][0..lanes].*);
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
        if (self.range_count != 0) {
            while (index + lanes <= bytes.len) : (index += lanes) {
                const mask = self.candidates(bytes[index..][0..lanes].*);
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

    /// Bit i set when byte i of `block` lies in one of the stop ranges.
    fn candidates(self: *const SkipSet, block: Block) u16 {
        var hits: Block = @splat(0);
        inline for (0..ranges_max) |index| {
            const low: Block = @splat(self.lows[index]);
            const span: Block = @splat(self.spans[index]);
            hits |= @select(u8, block -% low <= span, @as(Block, @splat(0xFF)), @as(Block, @splat(0)));
        }
        return @bitCast(hits != @as(Block, @splat(0)));
    }
};

/// Merges the two adjacent ranges with the smallest gap; returns the new count.
fn mergeClosest(lows: []u8, highs: []u8) usize {
    assert(lows.len == highs.len and lows.len >= 2);
    var best: usize = 0;
    for (1..lows.len - 1) |index| {
        if (lows[index + 1] - highs[index] < lows[best + 1] - highs[best]) best = index;
    }
    highs[best] = highs[best + 1];
    for (best + 1..lows.len - 1) |index| {
        lows[index] = lows[index + 1];
        highs[index] = highs[index + 1];
    }
    return lows.len - 1;
}

test "nextStop finds every stop at every offset, past merged ranges" {
    var set: SkipSet = undefined;
    @memset(&set.table, 1);
    // Seven scattered stops: more ranges than fit, so some ranges are merged.
    const stops = [_]u8{ 0, '$', '0', '9', '@', 'Z', 0xFF };
    for (stops) |stop| set.table[stop] = 0;
    set.init();
    try std.testing.expect(set.range_count == ranges_max);
    var text: [80]u8 = undefined;
    for (stops) |stop| {
        for (0..text.len) |at| {
            // Filler bytes fall inside the merged ranges ('5', 'A') and outside them.
            for (&text, 0..) |*byte, index| byte.* = if (index % 3 == 0) '5' else if (index % 3 == 1) 'A' else 'a';
            text[at] = stop;
            for (0..at + 1) |from| try std.testing.expectEqual(at, set.nextStop(&text, from));
            try std.testing.expectEqual(text.len, set.nextStop(&text, at + 1));
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
    try std.testing.expect(set.range_count == 0);
    const text = "no stops in here at all, none whatsoever";
    try std.testing.expectEqual(text.len, set.nextStop(text, 3));
}
