//! Redaction: the value becomes a placeholder, by default one naming what was
//! found (`[REDACTED:CREDIT_CARD]`), so readers know a value was removed and why.

const std = @import("std");
const assert = std.debug.assert;

pub const Redact = struct {
    /// Written verbatim; the policy compiler checks it is printable and at most
    /// `placeholder_bytes_max` bytes. `labelled` builds the default form.
    placeholder: []const u8,
};

pub const placeholder_bytes_max = 64;
const prefix = "[REDACTED:";
const suffix = "]";

pub fn outputLength(options: Redact) usize {
    return options.placeholder.len;
}

pub fn apply(options: Redact, out: []u8) []const u8 {
    assert(options.placeholder.len <= placeholder_bytes_max);
    assert(out.len >= options.placeholder.len);
    @memcpy(out[0..options.placeholder.len], options.placeholder);
    return out[0..options.placeholder.len];
}

/// `[REDACTED:<entity>]` in `storage` (the entity cut to fit the bound).
pub fn labelled(entity: []const u8, storage: *[placeholder_bytes_max]u8) Redact {
    const entity_len = @min(entity.len, placeholder_bytes_max - prefix.len - suffix.len);
    var len: usize = 0;
    for ([_][]const u8{ prefix, entity[0..entity_len], suffix }) |part| {
        @memcpy(storage[len .. len + part.len], part);
        len += part.len;
    }
    return .{ .placeholder = storage[0..len] };
}

test "placeholder names the detector by default, verbatim otherwise" {
    var out: [64]u8 = undefined;
    var storage: [placeholder_bytes_max]u8 = undefined;
    try std.testing.expectEqualStrings("[REDACTED:CREDIT_CARD]", apply(labelled("CREDIT_CARD", &storage), &out));
    try std.testing.expectEqualStrings("<removed>", apply(.{ .placeholder = "<removed>" }, &out));
    const long = "E" ** 100;
    const cut = labelled(long, &storage);
    try std.testing.expectEqual(@as(usize, placeholder_bytes_max), cut.placeholder.len);
}
