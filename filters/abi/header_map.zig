//! The serialised form of header maps (proxy-Wasm "Serialization"): a u32
//! count, then (key size, value size) u32 pairs, then each key and value
//! followed by a NUL byte; little-endian. An empty map may be zero bytes or a
//! single NUL byte. Reading is a view over the host's bytes (no copies);
//! writing goes into a caller's buffer (no allocation).

const std = @import("std");
const assert = std.debug.assert;

/// Bound on pairs in one map: Envoy's default header count limit is 100, and
/// this leaves room for trailers and gRPC metadata while keeping loops bounded.
pub const pairs_max: u32 = 1024;

pub const Pair = struct {
    name: []const u8,
    value: []const u8,
};

pub const ParseError = error{MalformedHeaderMap};

pub const View = struct {
    bytes: []const u8,
    count: u32,

    pub const empty: View = .{ .bytes = &.{}, .count = 0 };

    /// Checks the whole structure once, so iteration never reads out of bounds.
    pub fn parse(bytes: []const u8) ParseError!View {
        if (bytes.len == 0) return empty;
        if (bytes.len == 1 and bytes[0] == 0) return empty;
        if (bytes.len < 4) return error.MalformedHeaderMap;
        const count = std.mem.readInt(u32, bytes[0..4], .little);
        if (count > pairs_max) return error.MalformedHeaderMap;
        const sizes_end = 4 + @as(usize, count) * 8;
        if (sizes_end > bytes.len) return error.MalformedHeaderMap;
        var offset = sizes_end;
        var index: u32 = 0;
        while (index < count) : (index += 1) {
            const sizes = bytes[4 + index * 8 ..][0..8];
            const name_size = std.mem.readInt(u32, sizes[0..4], .little);
            const value_size = std.mem.readInt(u32, sizes[4..8], .little);
            offset = try skipTerminated(bytes, offset, name_size);
            offset = try skipTerminated(bytes, offset, value_size);
        }
        if (offset != bytes.len) return error.MalformedHeaderMap;
        return .{ .bytes = bytes, .count = count };
    }

    pub fn iterator(self: View) Iterator {
        return .{ .view = self, .index = 0, .offset = 4 + @as(usize, self.count) * 8 };
    }

    /// First value of `name` (exact bytes; Envoy keeps names lowercase).
    pub fn get(self: View, name: []const u8) ?[]const u8 {
        var it = self.iterator();
        while (it.next()) |pair| {
            if (pair.name.len == name.len and std.mem.eql(u8, pair.name, name)) return pair.value;
        }
        return null;
    }
};

/// Whether header `name` is `literal`: the length, checked inline, rules out most
/// names without a call (headers are looked up by name on every stream).
pub inline fn nameIs(name: []const u8, comptime literal: []const u8) bool {
    return name.len == literal.len and std.mem.eql(u8, name, literal);
}

fn skipTerminated(bytes: []const u8, offset: usize, size: u32) ParseError!usize {
    const end = offset + @as(usize, size);
    if (end >= bytes.len) return error.MalformedHeaderMap;
    if (bytes[end] != 0) return error.MalformedHeaderMap;
    return end + 1;
}

pub const Iterator = struct {
    view: View,
    index: u32,
    offset: usize,

    pub fn next(self: *Iterator) ?Pair {
        if (self.index >= self.view.count) return null;
        const bytes = self.view.bytes;
        const sizes = bytes[4 + self.index * 8 ..][0..8];
        const name_size = std.mem.readInt(u32, sizes[0..4], .little);
        const value_size = std.mem.readInt(u32, sizes[4..8], .little);
        const name = bytes[self.offset..][0..name_size];
        self.offset += name_size + 1;
        const value = bytes[self.offset..][0..value_size];
        self.offset += value_size + 1;
        self.index += 1;
        assert(self.offset <= bytes.len);
        return .{ .name = name, .value = value };
    }
};

pub fn serializedSize(pairs: []const Pair) usize {
    var size: usize = 4 + pairs.len * 8;
    for (pairs) |pair| size += pair.name.len + 1 + pair.value.len + 1;
    return size;
}

pub const SerializeError = error{ BufferTooSmall, TooManyPairs };

/// Writes `pairs` into `out` and returns the bytes written.
pub fn serialize(pairs: []const Pair, out: []u8) SerializeError![]u8 {
    if (pairs.len > pairs_max) return error.TooManyPairs;
    const size = serializedSize(pairs);
    if (size > out.len) return error.BufferTooSmall;
    std.mem.writeInt(u32, out[0..4], @intCast(pairs.len), .little);
    var offset: usize = 4 + pairs.len * 8;
    for (pairs, 0..) |pair, index| {
        const sizes = out[4 + index * 8 ..][0..8];
        std.mem.writeInt(u32, sizes[0..4], @intCast(pair.name.len), .little);
        std.mem.writeInt(u32, sizes[4..8], @intCast(pair.value.len), .little);
        offset = writeTerminated(out, offset, pair.name);
        offset = writeTerminated(out, offset, pair.value);
    }
    assert(offset == size);
    return out[0..size];
}

fn writeTerminated(out: []u8, offset: usize, bytes: []const u8) usize {
    @memcpy(out[offset..][0..bytes.len], bytes);
    out[offset + bytes.len] = 0;
    return offset + bytes.len + 1;
}

test "round trip and the spec's example" {
    var buffer: [64]u8 = undefined;
    const pairs = [_]Pair{ .{ .name = "a", .value = "1" }, .{ .name = "b", .value = "22" } };
    const bytes = try serialize(&pairs, &buffer);
    try std.testing.expectEqualSlices(u8, &.{ 2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 'a', 0, '1', 0, 'b', 0, '2', '2', 0 }, bytes);
    const view = try View.parse(bytes);
    try std.testing.expectEqualStrings("22", view.get("b").?);
    try std.testing.expect(view.get("c") == null);
}

test "malformed maps are refused, empty forms accepted" {
    try std.testing.expectError(error.MalformedHeaderMap, View.parse(&.{ 1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 'a', 0 }));
    try std.testing.expectError(error.MalformedHeaderMap, View.parse(&.{ 1, 0 }));
    try std.testing.expectEqual(@as(u32, 0), (try View.parse(&.{0})).count);
    try std.testing.expectEqual(@as(u32, 0), (try View.parse(&.{})).count);
}

test "a header name is compared to a literal byte for byte" {
    try std.testing.expect(nameIs(":path", ":path"));
    try std.testing.expect(!nameIs(":pat", ":path"));
    try std.testing.expect(!nameIs(":patH", ":path"));
    try std.testing.expect(!nameIs("", "te"));
    try std.testing.expect(nameIs("te", "te"));
}
