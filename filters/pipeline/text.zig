//! A bounded text writer for what the filters write per message: finding events,
//! log lines, the findings summary. It appends into a fixed buffer by direct copies;
//! `std.io.fixedBufferStream` with `print` formats through a type-erased call per
//! piece, which was a good part of a message's report.
//!
//! Same contract as a fixed buffer stream: what fits is written, and a write that
//! does not fit writes the part that does and fails with `error.NoSpaceLeft`, so a
//! caller that keeps going after a failure gets the same bytes as before.

const std = @import("std");
const assert = std.debug.assert;

pub const Error = error{NoSpaceLeft};

pub const Text = struct {
    buffer: []u8,
    len: usize = 0,

    pub fn init(buffer: []u8) Text {
        return .{ .buffer = buffer };
    }

    pub fn written(self: *const Text) []const u8 {
        return self.buffer[0..self.len];
    }

    pub fn reset(self: *Text) void {
        self.len = 0;
    }

    pub fn writeAll(self: *Text, bytes: []const u8) Error!void {
        assert(self.len <= self.buffer.len);
        const fits = @min(bytes.len, self.buffer.len - self.len);
        @memcpy(self.buffer[self.len..][0..fits], bytes[0..fits]);
        self.len += fits;
        if (fits < bytes.len) return error.NoSpaceLeft;
    }

    pub fn writeByte(self: *Text, byte: u8) Error!void {
        return self.writeAll(&.{byte});
    }

    /// `value` in decimal, as `{d}` prints it.
    pub fn writeDecimal(self: *Text, value: u64) Error!void {
        var digits: [20]u8 = undefined;
        var start: usize = digits.len;
        var rest = value;
        // Each turn writes one digit; u64 has at most 20.
        while (true) {
            start -= 1;
            digits[start] = '0' + @as(u8, @intCast(rest % 10));
            rest /= 10;
            if (rest == 0) break;
        }
        return self.writeAll(digits[start..]);
    }

    /// `value` as `{}` prints a bool.
    pub fn writeBool(self: *Text, value: bool) Error!void {
        return self.writeAll(if (value) "true" else "false");
    }

    /// `string` as a JSON string, as `std.json.encodeJsonString` writes it with the
    /// default options: quotes, backslashes and control characters escaped, every
    /// other byte as it is.
    pub fn writeJsonString(self: *Text, string: []const u8) Error!void {
        try self.writeByte('"');
        var plain_start: usize = 0;
        var control: [6]u8 = undefined;
        for (string, 0..) |byte, index| {
            const escape: []const u8 = switch (byte) {
                '\\' => "\\\\",
                '"' => "\\\"",
                0x08 => "\\b",
                0x0C => "\\f",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                0x00...0x07, 0x0B, 0x0E...0x1F => blk: {
                    control = controlEscape(byte);
                    break :blk &control;
                },
                else => continue,
            };
            try self.writeAll(string[plain_start..index]);
            try self.writeAll(escape);
            plain_start = index + 1;
        }
        try self.writeAll(string[plain_start..]);
        try self.writeByte('"');
    }
};

/// `\u00xx` for a control character, lowercase hex as std's JSON writer has it.
fn controlEscape(byte: u8) [6]u8 {
    assert(byte < 0x20);
    const hex = "0123456789abcdef";
    return .{ '\\', 'u', '0', '0', hex[byte >> 4], hex[byte & 0x0F] };
}

// ---------------------------------------------------------------- tests

const testing = std.testing;

test "JSON strings are written as std's JSON writer writes them" {
    var all: [256]u8 = undefined;
    for (&all, 0..) |*byte, index| byte.* = @intCast(index);
    const samples = [_][]const u8{ "", "plain", "a\"b\\c", "\x00\x1f\x7f", "caf\xc3\xa9 \u{1F600}", &all };
    for (samples) |sample| {
        var expected_buffer: [2048]u8 = undefined;
        var expected = std.io.fixedBufferStream(&expected_buffer);
        try std.json.encodeJsonString(sample, .{}, expected.writer());
        var buffer: [2048]u8 = undefined;
        var text = Text.init(&buffer);
        try text.writeJsonString(sample);
        try testing.expectEqualStrings(expected.getWritten(), text.written());
    }
}

test "numbers and bools are written as print writes them" {
    const values = [_]u64{ 0, 7, 10, 1234567890, std.math.maxInt(u32), std.math.maxInt(u64) };
    for (values) |value| {
        var expected: [32]u8 = undefined;
        var buffer: [32]u8 = undefined;
        var text = Text.init(&buffer);
        try text.writeDecimal(value);
        try text.writeBool(value % 2 == 0);
        try testing.expectEqualStrings(try std.fmt.bufPrint(&expected, "{d}{}", .{ value, value % 2 == 0 }), text.written());
    }
}

test "a write past the end keeps what fits and fails, like a fixed buffer stream" {
    var expected_buffer: [10]u8 = undefined;
    var expected = std.io.fixedBufferStream(&expected_buffer);
    var buffer: [10]u8 = undefined;
    var text = Text.init(&buffer);
    try text.writeAll("12345678");
    try expected.writer().writeAll("12345678");
    try testing.expectError(error.NoSpaceLeft, text.writeAll("abcd"));
    try testing.expectError(error.NoSpaceLeft, expected.writer().writeAll("abcd"));
    try testing.expectEqualStrings(expected.getWritten(), text.written());
    try testing.expectError(error.NoSpaceLeft, text.writeByte('x'));
    try testing.expectEqualStrings("12345678ab", text.written());
}
