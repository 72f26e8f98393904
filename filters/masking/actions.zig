//! The per-detector mask actions a policy chooses from, and one entry point
//! that turns a found value into its replacement text (decoded form; the
//! rewriter encodes it for the body's format).

const std = @import("std");
const assert = std.debug.assert;
pub const Partial = @import("partial.zig").Partial;
pub const Redact = @import("redact.zig").Redact;
pub const HashToken = @import("token.zig").HashToken;
pub const FormatPreserving = @import("format_preserving.zig").FormatPreserving;
const partial = @import("partial.zig");
const redact = @import("redact.zig");
const token = @import("token.zig");
const format_preserving = @import("format_preserving.zig");

pub const Action = union(enum) {
    /// "****-****-****-1111"
    partial: Partial,
    /// "[REDACTED:CREDIT_CARD]"
    redact: Redact,
    /// "tok_3f1a9c0d5b2e7f48", joinable across services sharing the key.
    hash_token: HashToken,
    /// Same length and character classes, keyed and deterministic.
    format_preserving: FormatPreserving,
    /// Remove the whole JSON member / array element, form pair or protobuf
    /// field. Where a format has no field to drop (text, headers), the found
    /// bytes are removed.
    drop,
};

/// Longest replacement an action writes for a value of `value_len` bytes.
pub fn replacementLengthMax(action: Action, value_len: usize) usize {
    return switch (action) {
        .partial, .format_preserving => value_len,
        .redact => |options| redact.outputLength(options),
        .hash_token => |options| token.outputLength(options),
        .drop => 0,
    };
}

/// The replacement for `value`, written into `out` (see `replacementLengthMax`).
/// `drop` yields an empty replacement; callers that can drop a field check for
/// it before calling.
pub fn apply(action: Action, value: []const u8, out: []u8) []const u8 {
    assert(out.len >= replacementLengthMax(action, value.len));
    return switch (action) {
        .partial => |options| partial.apply(options, value, out),
        .redact => |options| redact.apply(options, out),
        .hash_token => |options| token.apply(options, value, out),
        .format_preserving => |options| format_preserving.apply(options, value, out),
        .drop => out[0..0],
    };
}

test "every action through the one entry point" {
    const key = "0123456789abcdef0123456789abcdef";
    var out: [64]u8 = undefined;
    const value = "4111-1111-1111-1111";
    try std.testing.expectEqualStrings("****-****-****-1111", apply(.{ .partial = .{} }, value, &out));
    try std.testing.expectEqualStrings("[REDACTED:CREDIT_CARD]", apply(.{ .redact = .{ .placeholder = "[REDACTED:CREDIT_CARD]" } }, value, &out));
    try std.testing.expect(std.mem.startsWith(u8, apply(.{ .hash_token = .{ .key = key } }, value, &out), "tok_"));
    const replaced = apply(.{ .format_preserving = .{ .key = key } }, value, &out);
    try std.testing.expectEqual(value.len, replaced.len);
    try std.testing.expect(format_preserving.luhnValid(replaced));
    try std.testing.expectEqual(@as(usize, 0), apply(.drop, value, &out).len);
}

test {
    _ = partial;
    _ = redact;
    _ = token;
    _ = format_preserving;
}
