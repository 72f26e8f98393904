//! Partial mask: every character but the first `keep_first` and the last
//! `keep_last` becomes `mask_char` ("****-****-****-1111"). With
//! `keep_separators`, punctuation and spaces stay and are not counted, so the
//! value keeps its shape. A value too short to keep anything and still hide
//! something is masked whole: keeping 4 of 4 digits would mask nothing.

const std = @import("std");
const assert = std.debug.assert;
const characters = @import("characters.zig");

pub const Partial = struct {
    /// ASCII, so one mask character is one byte.
    mask_char: u8 = '*',
    keep_first: u8 = 0,
    keep_last: u8 = 4,
    keep_separators: bool = true,
};

/// Writes the masked value into `out` (at least `value.len` bytes: every
/// character becomes at most one byte).
pub fn apply(options: Partial, value: []const u8, out: []u8) []const u8 {
    assert(std.ascii.isPrint(options.mask_char));
    assert(out.len >= value.len);
    const total = characters.countMaskable(value, options.keep_separators);
    const keeps = @as(usize, options.keep_first) + options.keep_last;
    const keep_first: usize = if (keeps >= total) 0 else options.keep_first;
    const keep_last: usize = if (keeps >= total) 0 else options.keep_last;
    var len: usize = 0;
    var seen: usize = 0;
    var iterator = characters.Iterator{ .bytes = value };
    while (iterator.next()) |character| {
        const counted = !options.keep_separators or character.class != .separator;
        if (!counted) {
            @memcpy(out[len .. len + character.bytes.len], character.bytes);
            len += character.bytes.len;
            continue;
        }
        seen += 1;
        if (seen <= keep_first or seen > total - keep_last) {
            @memcpy(out[len .. len + character.bytes.len], character.bytes);
            len += character.bytes.len;
        } else {
            out[len] = options.mask_char;
            len += 1;
        }
    }
    assert(len <= value.len);
    return out[0..len];
}

const testing = std.testing;

test "keep last four, separators kept" {
    var out: [64]u8 = undefined;
    try testing.expectEqualStrings("****-****-****-1111", apply(.{}, "4111-1111-1111-1111", &out));
    try testing.expectEqualStrings("***-**-6789", apply(.{}, "123-45-6789", &out));
}

test "keep first and last, separators masked too" {
    var out: [64]u8 = undefined;
    const options = Partial{ .mask_char = '#', .keep_first = 2, .keep_last = 2, .keep_separators = false };
    try testing.expectEqualStrings("ad########om", apply(options, "ada@x.ex.com", &out));
}

test "multibyte characters become one mask character each" {
    var out: [64]u8 = undefined;
    try testing.expectEqualStrings("**田", apply(.{ .keep_last = 1 }, "山田田", &out));
}

test "too short to keep anything: masked whole" {
    var out: [64]u8 = undefined;
    try testing.expectEqualStrings("****", apply(.{ .keep_last = 4 }, "1234", &out));
    try testing.expectEqualStrings("", apply(.{}, "", &out));
}
