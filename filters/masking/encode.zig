//! Writes a replacement back in the raw form of the value it replaces: JSON
//! string escaping, application/x-www-form-urlencoded percent-encoding, or the
//! bytes as they are. Masked JSON stays valid JSON and masked forms decode to
//! the replacement.

const std = @import("std");
const assert = std.debug.assert;
const walker = @import("walkers").walker;
const json = @import("walkers").json;
const protobuf = @import("walkers").protobuf;

pub const Error = error{
    ReplacementTooLong,
    /// The replacement has no form in this encoding (text for a protobuf varint).
    NotRepresentable,
};

/// Most raw bytes one decoded byte can need (a control byte as `\u00XX`).
pub const expansion_max = 6;

pub fn encodedLengthMax(decoded_len: usize) usize {
    return decoded_len * expansion_max + 2;
}

/// Encodes `decoded` for `encoding` into `out`.
pub fn encode(encoding: walker.Encoding, decoded: []const u8, out: []u8) Error![]const u8 {
    return switch (encoding) {
        .json_string => jsonString(decoded, out),
        .json_number => if (json.isJsonNumber(decoded)) identity(decoded, out) else quotedJsonString(decoded, out),
        .form_urlencoded => formUrlencoded(decoded, out),
        .identity => identity(decoded, out),
        .protobuf_varint => varint(decoded, out),
    };
}

fn varint(decoded: []const u8, out: []u8) Error![]const u8 {
    const value = std.fmt.parseInt(u64, decoded, 10) catch return error.NotRepresentable;
    if (out.len < 10) return error.ReplacementTooLong;
    return protobuf.writeVarint(value, out);
}

fn identity(decoded: []const u8, out: []u8) Error![]const u8 {
    if (decoded.len > out.len) return error.ReplacementTooLong;
    @memcpy(out[0..decoded.len], decoded);
    return out[0..decoded.len];
}

/// The inside of a JSON string: `"` and `\` escaped, control bytes as short
/// escapes or `\u00XX`; everything else (UTF-8 included) as is.
pub fn jsonString(decoded: []const u8, out: []u8) Error![]const u8 {
    var writer = Writer{ .out = out };
    for (decoded) |byte| {
        switch (byte) {
            '"' => try writer.write("\\\""),
            '\\' => try writer.write("\\\\"),
            '\n' => try writer.write("\\n"),
            '\r' => try writer.write("\\r"),
            '\t' => try writer.write("\\t"),
            0x08 => try writer.write("\\b"),
            0x0c => try writer.write("\\f"),
            0x00...0x07, 0x0b, 0x0e...0x1f, 0x7f => {
                const hex = std.fmt.bytesToHex([_]u8{byte}, .lower);
                try writer.write("\\u00");
                try writer.write(&hex);
            },
            else => try writer.write(&.{byte}),
        }
    }
    return writer.written();
}

/// A JSON number's replacement that is not a number: a whole JSON string.
fn quotedJsonString(decoded: []const u8, out: []u8) Error![]const u8 {
    if (out.len < 2) return error.ReplacementTooLong;
    const inner = try jsonString(decoded, out[1 .. out.len - 1]);
    out[0] = '"';
    out[inner.len + 1] = '"';
    return out[0 .. inner.len + 2];
}

/// The WHATWG urlencoded serializer: `*-._` and alphanumerics as is, space as
/// `+`, every other byte as `%XX`.
pub fn formUrlencoded(decoded: []const u8, out: []u8) Error![]const u8 {
    var writer = Writer{ .out = out };
    for (decoded) |byte| {
        if (std.ascii.isAlphanumeric(byte) or byte == '*' or byte == '-' or byte == '.' or byte == '_') {
            try writer.write(&.{byte});
        } else if (byte == ' ') {
            try writer.write("+");
        } else {
            const hex = std.fmt.bytesToHex([_]u8{byte}, .upper);
            try writer.write("%");
            try writer.write(&hex);
        }
    }
    return writer.written();
}

const Writer = struct {
    out: []u8,
    len: usize = 0,

    fn write(self: *Writer, bytes: []const u8) Error!void {
        if (self.len + bytes.len > self.out.len) return error.ReplacementTooLong;
        @memcpy(self.out[self.len .. self.len + bytes.len], bytes);
        self.len += bytes.len;
    }

    fn written(self: *const Writer) []const u8 {
        return self.out[0..self.len];
    }
};

const testing = std.testing;

test "JSON escaping round-trips through std.json" {
    var out: [128]u8 = undefined;
    const decoded = "a\"b\\c\nd\x01\u{e9}";
    const encoded = try jsonString(decoded, out[1..]);
    out[0] = '"';
    out[encoded.len + 1] = '"';
    const parsed = try std.json.parseFromSlice([]const u8, testing.allocator, out[0 .. encoded.len + 2], .{});
    defer parsed.deinit();
    try testing.expectEqualStrings(decoded, parsed.value);
}

test "numbers stay numbers when they can, become strings otherwise" {
    var out: [64]u8 = undefined;
    try testing.expectEqualStrings("987654321", try encode(.json_number, "987654321", &out));
    try testing.expectEqualStrings("\"*****6789\"", try encode(.json_number, "*****6789", &out));
    try testing.expectEqualStrings("\"012\"", try encode(.json_number, "012", &out));
}

test "form encoding" {
    var out: [64]u8 = undefined;
    try testing.expectEqualStrings("a+b%26c%3D%25*-._%C3%A9", try encode(.form_urlencoded, "a b&c=%*-._\u{e9}", &out));
}

test "protobuf varints take numbers only" {
    var out: [16]u8 = undefined;
    try testing.expectEqualSlices(u8, "\xac\x02", try encode(.protobuf_varint, "300", &out));
    try testing.expectError(error.NotRepresentable, encode(.protobuf_varint, "***300", &out));
}

test "too small an output is an error, not an overflow" {
    var out: [3]u8 = undefined;
    try testing.expectError(error.ReplacementTooLong, jsonString("\"\"", &out));
}
