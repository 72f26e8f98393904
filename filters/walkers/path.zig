//! A location path built in a fixed buffer as a walker descends: JSON paths
//! (`$.user.cards[2].number`, `$['odd key']`) and protobuf field paths (`1.3.2`).
//! A segment that does not fit is left out and the path is flagged truncated,
//! so a report never claims a location it did not see.

const std = @import("std");
const assert = std.debug.assert;
const walker = @import("walker.zig");

pub const Path = struct {
    buffer: [walker.path_bytes_max]u8 = undefined,
    len: u16 = 0,
    /// Segments that did not fit; the path stays truncated until they are popped.
    overflowed: u32 = 0,

    pub fn text(self: *const Path) []const u8 {
        return self.buffer[0..self.len];
    }

    pub fn truncated(self: *const Path) bool {
        return self.overflowed > 0;
    }

    pub fn reset(self: *Path, root: []const u8) void {
        assert(root.len <= walker.path_bytes_max);
        @memcpy(self.buffer[0..root.len], root);
        self.len = @intCast(root.len);
        self.overflowed = 0;
    }

    /// A mark to hand back to `pop` to remove what is pushed after it.
    pub const Mark = struct { len: u16, overflowed: u32 };

    pub fn mark(self: *const Path) Mark {
        return .{ .len = self.len, .overflowed = self.overflowed };
    }

    pub fn pop(self: *Path, to: Mark) void {
        assert(to.len <= self.len);
        self.len = to.len;
        self.overflowed = to.overflowed;
    }

    /// Appends a JSON member segment: `.name` for identifier-like names, else
    /// `['name']` with `'` and `\` escaped.
    pub fn pushJsonKey(self: *Path, name: []const u8) void {
        if (isIdentifier(name)) {
            self.pushParts(&.{ ".", name });
            return;
        }
        var escaped_len: usize = 0;
        for (name) |byte| escaped_len += if (byte == '\'' or byte == '\\') 2 else 1;
        if (self.len + escaped_len + 4 > walker.path_bytes_max) {
            self.overflowed += 1;
            return;
        }
        self.appendAssumeFits("['");
        for (name) |byte| {
            if (byte == '\'' or byte == '\\') self.appendAssumeFits("\\");
            self.appendAssumeFits(&.{byte});
        }
        self.appendAssumeFits("']");
    }

    /// Records a segment that cannot be shown (a key longer than the path
    /// bound); the path reads as truncated until it is popped.
    pub fn pushUnknown(self: *Path) void {
        self.overflowed += 1;
    }

    pub fn pushIndex(self: *Path, index: u32) void {
        var digits: [10]u8 = undefined;
        const number = std.fmt.bufPrint(&digits, "{d}", .{index}) catch unreachable;
        self.pushParts(&.{ "[", number, "]" });
    }

    /// Appends `.number` (or `number` at the root) for a protobuf field.
    pub fn pushFieldNumber(self: *Path, number: u32) void {
        var digits: [10]u8 = undefined;
        const text_number = std.fmt.bufPrint(&digits, "{d}", .{number}) catch unreachable;
        self.pushParts(&.{ if (self.len == 0) "" else ".", text_number });
    }

    /// Appends `.name` (or `name` at the root) for a named protobuf field.
    pub fn pushFieldName(self: *Path, name: []const u8) void {
        self.pushParts(&.{ if (self.len == 0) "" else ".", name });
    }

    fn pushParts(self: *Path, parts: []const []const u8) void {
        var total: usize = 0;
        for (parts) |part| total += part.len;
        if (self.overflowed > 0 or self.len + total > walker.path_bytes_max) {
            self.overflowed += 1;
            return;
        }
        for (parts) |part| self.appendAssumeFits(part);
    }

    fn appendAssumeFits(self: *Path, bytes: []const u8) void {
        assert(self.len + bytes.len <= walker.path_bytes_max);
        @memcpy(self.buffer[self.len .. self.len + bytes.len], bytes);
        self.len += @intCast(bytes.len);
    }
};

fn isIdentifier(name: []const u8) bool {
    if (name.len == 0) return false;
    if (std.ascii.isDigit(name[0])) return false;
    for (name) |byte| {
        if (!std.ascii.isAlphanumeric(byte) and byte != '_') return false;
    }
    return true;
}

test "json path segments" {
    var path = Path{};
    path.reset("$");
    const root = path.mark();
    path.pushJsonKey("user");
    path.pushJsonKey("cards");
    path.pushIndex(2);
    path.pushJsonKey("number");
    try std.testing.expectEqualStrings("$.user.cards[2].number", path.text());
    path.pop(root);
    path.pushJsonKey("it's a\\b");
    try std.testing.expectEqualStrings("$['it\\'s a\\\\b']", path.text());
}

test "a segment past the bound is flagged, not cut in half" {
    var path = Path{};
    path.reset("$");
    const long = "k" ** (walker.path_bytes_max);
    const before = path.mark();
    path.pushJsonKey(long);
    try std.testing.expect(path.truncated());
    try std.testing.expectEqualStrings("$", path.text());
    path.pushIndex(1);
    try std.testing.expectEqualStrings("$", path.text());
    path.pop(before);
    try std.testing.expect(!path.truncated());
}

test "field number paths" {
    var path = Path{};
    path.reset("");
    path.pushFieldNumber(1);
    path.pushFieldNumber(3);
    path.pushFieldName("number");
    try std.testing.expectEqualStrings("1.3.number", path.text());
}
