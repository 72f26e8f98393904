//! What one message (a request or a response) was found to hold, by rule: counts for
//! the thresholds, and a few locations for the finding events. Locations are kept with
//! array indexes folded (`$.cards[*].number`), so a response of a thousand cards is one
//! location with a count, not a thousand. Never a value: at most a keyed fingerprint.

const std = @import("std");
const assert = std.debug.assert;
const config = @import("config.zig");
const HmacSha256 = std.crypto.auth.hmac.sha2.HmacSha256;

/// Locations one message keeps for its event; further ones are only counted.
pub const samples_max: usize = 4;
pub const location_bytes_max: usize = 64;
/// Distinct fingerprints kept per location.
pub const fingerprints_max: usize = 4;
pub const fingerprint_bytes: usize = 8;
const fingerprint_domain = "meshveil-fingerprint-v1\x00";

/// Where in a message a finding was.
pub const Where = enum(u8) { body, header, query, cookie };

pub const Sample = struct {
    rule: u8,
    where: Where,
    count: u32,
    location: [location_bytes_max]u8,
    location_len: u8,
    fingerprints: [fingerprints_max][fingerprint_bytes]u8,
    fingerprints_len: u8,

    pub fn locationText(self: *const Sample) []const u8 {
        return self.location[0..self.location_len];
    }

    pub fn fingerprintList(self: *const Sample) []const [fingerprint_bytes]u8 {
        return self.fingerprints[0..self.fingerprints_len];
    }
};

pub const Tally = struct {
    counts: [config.rules_max]u32 = [_]u32{0} ** config.rules_max,
    total: u32 = 0,
    samples: [samples_max]Sample = undefined,
    samples_len: u8 = 0,
    /// Findings whose location did not fit in `samples` (still counted above).
    unsampled: u32 = 0,

    pub fn reset(self: *Tally) void {
        @memset(&self.counts, 0);
        self.total = 0;
        self.samples_len = 0;
        self.unsampled = 0;
    }

    pub fn count(self: *const Tally, rule: u8) u32 {
        assert(rule < config.rules_max);
        return self.counts[rule];
    }

    /// Counts one finding of `rule` at `location`; `value` is hashed only when a
    /// fingerprint key is given, and never kept.
    pub fn add(self: *Tally, rule: u8, where: Where, location: []const u8, value: []const u8, fingerprint_key: ?[]const u8) void {
        assert(rule < config.rules_max);
        self.counts[rule] +|= 1;
        self.total +|= 1;
        var folded: [location_bytes_max]u8 = undefined;
        const folded_location = foldIndexes(location, &folded);
        const sample = self.sampleFor(rule, where, folded_location) orelse {
            self.unsampled +|= 1;
            return;
        };
        sample.count +|= 1;
        const key = fingerprint_key orelse return;
        const print = fingerprint(key, value);
        for (sample.fingerprintList()) |known| {
            if (std.mem.eql(u8, &known, &print)) return;
        }
        if (sample.fingerprints_len == fingerprints_max) return;
        sample.fingerprints[sample.fingerprints_len] = print;
        sample.fingerprints_len += 1;
    }

    fn sampleFor(self: *Tally, rule: u8, where: Where, location: []const u8) ?*Sample {
        for (self.samples[0..self.samples_len]) |*sample| {
            if (sample.rule == rule and sample.where == where and std.mem.eql(u8, sample.locationText(), location)) return sample;
        }
        if (self.samples_len == samples_max) return null;
        const sample = &self.samples[self.samples_len];
        self.samples_len += 1;
        sample.rule = rule;
        sample.where = where;
        sample.count = 0;
        sample.location_len = @intCast(location.len);
        @memcpy(sample.location[0..location.len], location);
        sample.fingerprints_len = 0;
        return sample;
    }
};

/// HMAC-SHA-256 of the value under the fingerprint key, truncated: the same value gives
/// the same fingerprint wherever the key is the same, and nothing without the key.
pub fn fingerprint(key: []const u8, value: []const u8) [fingerprint_bytes]u8 {
    var mac: [HmacSha256.mac_length]u8 = undefined;
    var hmac = HmacSha256.init(key);
    hmac.update(fingerprint_domain);
    hmac.update(value);
    hmac.final(&mac);
    return mac[0..fingerprint_bytes].*;
}

/// `location` with every array index written `[*]`, cut to the bound.
fn foldIndexes(location: []const u8, out: *[location_bytes_max]u8) []const u8 {
    var len: usize = 0;
    var index: usize = 0;
    while (index < location.len and len < out.len) {
        const byte = location[index];
        if (byte == '[' and index + 1 < location.len and std.ascii.isDigit(location[index + 1])) {
            var end = index + 1;
            while (end < location.len and std.ascii.isDigit(location[end])) end += 1;
            if (end < location.len and location[end] == ']' and len + 3 <= out.len) {
                @memcpy(out[len..][0..3], "[*]");
                len += 3;
                index = end + 1;
                continue;
            }
        }
        out[len] = byte;
        len += 1;
        index += 1;
    }
    return out[0..len];
}

const testing = std.testing;

test "counts per rule, locations folded, values never kept" {
    var tally = Tally{};
    const key = "0123456789abcdef0123456789abcdef";
    tally.add(0, .body, "$.cards[0].number", "4111111111111111", key);
    tally.add(0, .body, "$.cards[1].number", "5500000000000004", key);
    tally.add(0, .body, "$.cards[2].number", "4111111111111111", key);
    tally.add(2, .header, "authorization", "eyJ...", null);
    try testing.expectEqual(@as(u32, 3), tally.count(0));
    try testing.expectEqual(@as(u32, 1), tally.count(2));
    try testing.expectEqual(@as(u32, 4), tally.total);
    try testing.expectEqual(@as(u8, 2), tally.samples_len);
    const cards = tally.samples[0];
    try testing.expectEqualStrings("$.cards[*].number", cards.locationText());
    try testing.expectEqual(@as(u32, 3), cards.count);
    try testing.expectEqual(@as(u8, 2), cards.fingerprints_len);
    try testing.expect(std.mem.indexOf(u8, std.mem.asBytes(&tally), "4111111111111111") == null);
}

test "locations past the bound are counted, not kept" {
    var tally = Tally{};
    const names = [_][]const u8{ "a", "b", "c", "d", "e", "f" };
    for (names) |name| tally.add(1, .body, name, "x", null);
    try testing.expectEqual(@as(u32, 6), tally.count(1));
    try testing.expectEqual(@as(u32, 2), tally.unsampled);
}
