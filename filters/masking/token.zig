//! Keyed hash tokens: the value becomes `prefix ++ hex(HMAC-SHA-256(key, value))`
//! truncated to `hex_chars`. Every service configured with the same key turns
//! the same value into the same token, so joins and counts across services
//! still work, while the value cannot be read back without the key (and a
//! dictionary attack needs the key too). The MAC input is domain-separated
//! ("meshveil-token-v1") so a key shared with format-preserving replacement
//! yields unrelated outputs.

const std = @import("std");
const assert = std.debug.assert;
const HmacSha256 = std.crypto.auth.hmac.sha2.HmacSha256;

pub const Canonical = enum {
    /// The value as it was sent.
    exact,
    /// Only ASCII letters and digits (and non-ASCII bytes) count, so
    /// "4111-1111-1111-1111" and "4111 1111 1111 1111" join to one token.
    alphanumeric,
};

pub const HashToken = struct {
    /// At least `key_bytes_min` bytes; the control plane distributes it in the signed config.
    key: []const u8,
    prefix: []const u8 = "tok_",
    /// MAC bytes kept, 8 to 32, written as twice as many hex characters;
    /// 8 bytes (64 bits) are ample for joins.
    truncate_bytes: u8 = 16,
    canonical: Canonical = .exact,
};

pub const key_bytes_min = 16;
const domain = "meshveil-token-v1\x00";

pub fn outputLength(options: HashToken) usize {
    return options.prefix.len + 2 * @as(usize, options.truncate_bytes);
}

pub fn apply(options: HashToken, value: []const u8, out: []u8) []const u8 {
    assert(options.key.len >= key_bytes_min);
    assert(options.truncate_bytes >= 8 and options.truncate_bytes <= 32);
    assert(out.len >= outputLength(options));
    var mac: [HmacSha256.mac_length]u8 = undefined;
    var hmac = HmacSha256.init(options.key);
    hmac.update(domain);
    switch (options.canonical) {
        .exact => hmac.update(value),
        .alphanumeric => updateAlphanumeric(&hmac, value),
    }
    hmac.final(&mac);
    @memcpy(out[0..options.prefix.len], options.prefix);
    const hex = std.fmt.bytesToHex(mac, .lower);
    const hex_len = 2 * @as(usize, options.truncate_bytes);
    @memcpy(out[options.prefix.len..][0..hex_len], hex[0..hex_len]);
    return out[0..outputLength(options)];
}

fn updateAlphanumeric(hmac: *HmacSha256, value: []const u8) void {
    var run_start: usize = 0;
    for (value, 0..) |byte, index| {
        if (std.ascii.isAlphanumeric(byte) or byte >= 0x80) continue;
        hmac.update(value[run_start..index]);
        run_start = index + 1;
    }
    hmac.update(value[run_start..]);
}

const testing = std.testing;
const test_key = "0123456789abcdef0123456789abcdef";

test "stable, keyed, truncated" {
    var out_a: [64]u8 = undefined;
    var out_b: [64]u8 = undefined;
    var out_c: [64]u8 = undefined;
    const a = apply(.{ .key = test_key, .truncate_bytes = 8 }, "4111111111111111", &out_a);
    const b = apply(.{ .key = test_key, .truncate_bytes = 8 }, "4111111111111111", &out_b);
    const c = apply(.{ .key = "another key, 16+ bytes long", .truncate_bytes = 8 }, "4111111111111111", &out_c);
    try testing.expectEqualStrings(a, b);
    try testing.expect(!std.mem.eql(u8, a, c));
    try testing.expectEqual(@as(usize, 4 + 16), a.len);
    try testing.expect(std.mem.startsWith(u8, a, "tok_"));
    // The token is the HMAC of the domain-separated value, as documented.
    var mac: [32]u8 = undefined;
    HmacSha256.create(&mac, domain ++ "4111111111111111", test_key);
    const hex = std.fmt.bytesToHex(mac, .lower);
    try testing.expectEqualStrings(hex[0..16], a[4..]);
}

test "alphanumeric canonical form joins differently formatted values" {
    var out_a: [64]u8 = undefined;
    var out_b: [64]u8 = undefined;
    var out_c: [64]u8 = undefined;
    const options = HashToken{ .key = test_key, .canonical = .alphanumeric, .prefix = "" };
    const a = apply(options, "4111-1111-1111-1111", &out_a);
    const b = apply(options, "4111 1111 1111 1111", &out_b);
    const c = apply(options, "4111 1111 1111 1112", &out_c);
    try testing.expectEqualStrings(a, b);
    try testing.expect(!std.mem.eql(u8, a, c));
    try testing.expectEqual(@as(usize, 32), a.len);
}
