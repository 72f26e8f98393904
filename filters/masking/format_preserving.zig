//! Format-preserving replacement: ASCII digits become digits, lower-case
//! letters lower-case letters, upper-case letters upper-case letters; every
//! other byte (separators, non-ASCII text) stays where it is. The result has
//! the same length and character classes, so downstream format checks pass.
//!
//! It is keyed and deterministic: the replacement characters are drawn from a
//! ChaCha20 keystream whose key is HMAC-SHA-256(key, "meshveil-fpe-v1" ++ value),
//! so the same value under the same key always gets the same replacement (joins
//! work) and the replacement reveals nothing without the key. It is a one-way
//! pseudonym, not encryption: it is NOT NIST SP 800-38G FF1/FF3-1 and cannot be
//! reversed, even with the key.
//!
//! Card numbers: with `luhn`, when the value's digits (12 to 19 of them) pass
//! the Luhn check, the rightmost replaced digit is chosen so the result passes
//! it too. A replacement equal to the input is redrawn (a bounded number of
//! times) so a value is never "masked" as itself.

const std = @import("std");
const assert = std.debug.assert;
const HmacSha256 = std.crypto.auth.hmac.sha2.HmacSha256;
const ChaCha20 = std.crypto.stream.chacha.ChaCha20IETF;
const characters = @import("characters.zig");

pub const FormatPreserving = struct {
    /// At least `key_bytes_min` bytes.
    key: []const u8,
    /// Letters and digits kept at the start and end (e.g. the BIN and last four).
    keep_first: u8 = 0,
    keep_last: u8 = 0,
    luhn: bool = true,
};

pub const key_bytes_min = 16;
const domain = "meshveil-fpe-v1\x00";
const redraws_max = 8;

/// Writes `value.len` bytes into `out`.
pub fn apply(options: FormatPreserving, value: []const u8, out: []u8) []const u8 {
    assert(options.key.len >= key_bytes_min);
    assert(out.len >= value.len);
    const result = out[0..value.len];
    var seed: [HmacSha256.mac_length]u8 = undefined;
    var hmac = HmacSha256.init(options.key);
    hmac.update(domain);
    hmac.update(value);
    hmac.final(&seed);
    var attempt: u8 = 0;
    while (attempt < redraws_max) : (attempt += 1) {
        const replaced = draw(options, value, result, seed, attempt);
        if (replaced == 0 or !std.mem.eql(u8, value, result)) break;
    }
    return result;
}

/// One replacement with the keystream for `attempt`; returns how many
/// characters it replaced.
fn draw(options: FormatPreserving, value: []const u8, result: []u8, seed: [32]u8, attempt: u8) usize {
    var keystream = Keystream{ .key = seed, .nonce = .{attempt} ++ .{0} ** 11 };
    const total = countReplaceable(value);
    const keeps = @as(usize, options.keep_first) + options.keep_last;
    const keep_first: usize = if (keeps >= total) 0 else options.keep_first;
    const keep_last: usize = if (keeps >= total) 0 else options.keep_last;
    var seen: usize = 0;
    var replaced: usize = 0;
    var last_replaced_digit: ?usize = null;
    for (value, 0..) |byte, index| {
        result[index] = byte;
        const class = if (byte < 0x80) characters.classify(&.{byte}) else .separator;
        if (class == .separator or class == .other_letter) continue;
        seen += 1;
        if (seen <= keep_first or seen > total - keep_last) continue;
        result[index] = switch (class) {
            .digit => '0' + keystream.below(10),
            .lower => 'a' + keystream.below(26),
            .upper => 'A' + keystream.below(26),
            else => unreachable,
        };
        replaced += 1;
        if (class == .digit) last_replaced_digit = index;
    }
    if (options.luhn and last_replaced_digit != null and looksLikeCard(value)) {
        fixLuhn(result, last_replaced_digit.?);
    }
    return replaced;
}

fn countReplaceable(value: []const u8) usize {
    var count: usize = 0;
    for (value) |byte| count += @intFromBool(std.ascii.isAlphanumeric(byte));
    return count;
}

/// 12 to 19 digits, separators allowed, no letters, and a valid Luhn sum.
fn looksLikeCard(value: []const u8) bool {
    var digits: usize = 0;
    for (value) |byte| {
        if (std.ascii.isAlphabetic(byte)) return false;
        digits += @intFromBool(std.ascii.isDigit(byte));
    }
    return digits >= 12 and digits <= 19 and luhnValid(value);
}

/// The Luhn check over the ASCII digits of `value`, separators ignored.
pub fn luhnValid(value: []const u8) bool {
    var sum: u32 = 0;
    var double = false;
    var index = value.len;
    while (index > 0) {
        index -= 1;
        if (!std.ascii.isDigit(value[index])) continue;
        sum += luhnContribution(value[index] - '0', double);
        double = !double;
    }
    return sum % 10 == 0;
}

fn luhnContribution(digit: u8, double: bool) u32 {
    if (!double) return digit;
    const doubled: u32 = @as(u32, digit) * 2;
    return if (doubled > 9) doubled - 9 else doubled;
}

/// Sets the digit at `position` so the Luhn sum of `value` is a multiple of 10.
fn fixLuhn(value: []u8, position: usize) void {
    assert(std.ascii.isDigit(value[position]));
    var sum: u32 = 0;
    var double = false;
    var position_doubled = false;
    var index = value.len;
    while (index > 0) {
        index -= 1;
        if (!std.ascii.isDigit(value[index])) continue;
        if (index == position) position_doubled = double else sum += luhnContribution(value[index] - '0', double);
        double = !double;
    }
    var digit: u8 = 0;
    while (digit < 10) : (digit += 1) {
        if ((sum + luhnContribution(digit, position_doubled)) % 10 == 0) break;
    }
    assert(digit < 10);
    value[position] = '0' + digit;
}

/// Unbiased small numbers from a ChaCha20 keystream (rejection sampling).
const Keystream = struct {
    key: [32]u8,
    nonce: [12]u8,
    block: [64]u8 = undefined,
    used: usize = 64,
    counter: u32 = 0,

    fn below(self: *Keystream, bound: u8) u8 {
        assert(bound > 0);
        const limit: u16 = 256 - (256 % @as(u16, bound));
        while (true) {
            const byte = self.next();
            if (byte < limit) return @intCast(byte % bound);
        }
    }

    fn next(self: *Keystream) u8 {
        if (self.used == self.block.len) {
            ChaCha20.stream(&self.block, self.counter, self.key, self.nonce);
            self.counter += 1;
            self.used = 0;
        }
        self.used += 1;
        return self.block[self.used - 1];
    }
};

const testing = std.testing;
const test_key = "0123456789abcdef0123456789abcdef";

test "same length and classes, separators in place" {
    var out: [64]u8 = undefined;
    const value = "Ab-12 cd/EF 9";
    const result = apply(.{ .key = test_key, .luhn = false }, value, &out);
    try testing.expectEqual(value.len, result.len);
    for (value, result) |before, after| {
        try testing.expectEqual(characters.classify(&.{before}), characters.classify(&.{after}));
        if (!std.ascii.isAlphanumeric(before)) try testing.expectEqual(before, after);
    }
    try testing.expect(!std.mem.eql(u8, value, result));
}

test "deterministic under one key, different under another and for another value" {
    var a: [32]u8 = undefined;
    var b: [32]u8 = undefined;
    var c: [32]u8 = undefined;
    var d: [32]u8 = undefined;
    const first = apply(.{ .key = test_key }, "123-45-6789", &a);
    const again = apply(.{ .key = test_key }, "123-45-6789", &b);
    const other_key = apply(.{ .key = "a different key of 16+ bytes" }, "123-45-6789", &c);
    const other_value = apply(.{ .key = test_key }, "123-45-6780", &d);
    try testing.expectEqualStrings(first, again);
    try testing.expect(!std.mem.eql(u8, first, other_key));
    try testing.expect(!std.mem.eql(u8, first, other_value));
}

test "card numbers stay Luhn-valid, keeping BIN and last four" {
    const cards = [_][]const u8{ "4111111111111111", "4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005" };
    for (cards) |card| {
        try testing.expect(luhnValid(card));
        var out: [32]u8 = undefined;
        const result = apply(.{ .key = test_key, .keep_first = 6, .keep_last = 4 }, card, &out);
        try testing.expect(luhnValid(result));
        try testing.expect(!std.mem.eql(u8, card, result));
        try testing.expectEqualStrings(card[0..6], result[0..6]);
        try testing.expectEqualStrings(card[card.len - 4 ..], result[card.len - 4 ..]);
    }
    // Without the option the check digit is random (so the result usually fails Luhn).
    var failures: usize = 0;
    var number: [16]u8 = "4000000000000000".*;
    var trial: u8 = 0;
    while (trial < 20) : (trial += 1) {
        number[10] = '0' + trial % 10;
        number[11] = '0' + trial / 10;
        var out: [16]u8 = undefined;
        failures += @intFromBool(!luhnValid(apply(.{ .key = test_key, .luhn = false }, &number, &out)));
    }
    try testing.expect(failures > 10);
}

test "digits are drawn without bias" {
    var counts = [_]u32{0} ** 10;
    var keystream = Keystream{ .key = [_]u8{7} ** 32, .nonce = [_]u8{0} ** 12 };
    var draws: u32 = 0;
    while (draws < 10_000) : (draws += 1) counts[keystream.below(10)] += 1;
    for (counts) |count| try testing.expect(count > 850 and count < 1150);
}
