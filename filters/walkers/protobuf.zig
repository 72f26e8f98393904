//! Protobuf wire-format walker: walks one complete message without a schema,
//! reporting string and bytes fields (and varints, when the policy scans
//! numbers) with their field path (`1.3.2`, or `user.cards.number` when a
//! field table from a descriptor set names them).
//!
//! Nesting is walked with an explicit stack of `depth_max` levels, never by
//! recursion. Without a schema a length-delimited field may be a string, bytes
//! or a nested message; the walker decides as tools like `protoc --decode_raw`
//! do: it is a nested message when its bytes parse completely as fields (valid
//! field numbers and wire types, lengths inside the field, groups balanced) and
//! contain a control byte (tags of low field numbers are control bytes: field
//! 1's is '\n'); otherwise it is a string when it is valid UTF-8, else bytes.
//! Text without control bytes that happens to parse as fields is read as text
//! (short strings often do); a message made only of printable bytes is then
//! scanned as one string, which still finds what is in it. A field table
//! removes the guesswork for the fields it names.
//!
//! For masking, every length-delimited field walked as a message is recorded
//! as a `Node` so the rewriter can fix up its length prefix when an edit inside
//! it changes its size.

const std = @import("std");
const assert = std.debug.assert;
const walker = @import("walker.zig");
const Path = @import("path.zig").Path;

pub const Error = error{ MalformedProtobuf, TooDeep, TooManyNodes };

pub const WireType = enum(u3) { varint = 0, i64 = 1, len = 2, group_start = 3, group_end = 4, i32 = 5, _ };

/// Largest field number protobuf allows (2^29 - 1).
pub const field_number_max: u32 = (1 << 29) - 1;

/// A length-delimited field walked as a nested message (offsets in the message).
pub const Node = struct {
    tag_start: u32,
    length_start: u32,
    content_start: u32,
    content_end: u32,
};

/// Nested messages recorded during a walk, in pre-order (sorted by offset).
pub fn NodeList(comptime capacity: usize) type {
    return struct {
        items: [capacity]Node = undefined,
        len: usize = 0,

        pub fn append(self: *@This(), node: Node) Error!void {
            if (self.len == capacity) return error.TooManyNodes;
            self.items[self.len] = node;
            self.len += 1;
        }

        pub fn slice(self: *const @This()) []const Node {
            return self.items[0..self.len];
        }
    };
}

// ---------------------------------------------------------------- field table

/// What a field table says a field holds.
pub const FieldKind = enum(u8) { scalar = 0, string = 1, bytes = 2, message = 3 };

pub const FieldEntry = struct {
    message: u16,
    number: u32,
    kind: FieldKind,
    /// The field's message type when `kind == .message`.
    child: u16,
    name: []const u8,
};

pub const Method = struct {
    /// The gRPC `:path`, `/package.Service/Method`.
    path: []const u8,
    request: u16,
    response: u16,
};

/// Field names and types compiled by the control plane from a descriptor set.
///
/// Binary form (little-endian), as it rides in the signed config:
///
///     "MVFT" u8 version(=1)
///     u16 method_count, then per method:  u16 path_len, path, u16 request, u16 response
///     u16 message_count
///     u32 field_count, then per field:    u16 message, u32 number, u8 kind, u16 child,
///                                         u8 name_len, name
///
/// Fields are sorted by (message, number); message indexes are below
/// message_count. Names are printable ASCII. `parse` checks all of it.
pub const FieldTable = struct {
    methods: []const Method,
    fields: []const FieldEntry,
    message_count: u16,

    pub const ParseError = error{ MalformedFieldTable, FieldTableTooLarge };

    pub fn parse(bytes: []const u8, methods: []Method, fields: []FieldEntry, diagnostic: *walker.Diagnostic) ParseError!FieldTable {
        var reader = Reader{ .bytes = bytes, .diagnostic = diagnostic };
        const magic = try reader.take(4);
        if (!std.mem.eql(u8, magic, "MVFT")) return reader.fail("field table: bad magic (want MVFT)");
        if ((try reader.int(u8)) != 1) return reader.fail("field table: unsupported version");
        const method_count = try reader.int(u16);
        if (method_count > methods.len) return error.FieldTableTooLarge;
        for (methods[0..method_count]) |*method| {
            const path_len = try reader.int(u16);
            method.* = .{ .path = try reader.take(path_len), .request = try reader.int(u16), .response = try reader.int(u16) };
        }
        const message_count = try reader.int(u16);
        const field_count = try reader.int(u32);
        if (field_count > fields.len) return error.FieldTableTooLarge;
        for (fields[0..field_count], 0..) |*field, index| {
            const message = try reader.int(u16);
            const number = try reader.int(u32);
            const kind_byte = try reader.int(u8);
            const child = try reader.int(u16);
            const name_len = try reader.int(u8);
            const name = try reader.take(name_len);
            if (kind_byte > @intFromEnum(FieldKind.message)) return reader.fail("field table: unknown field kind");
            const kind: FieldKind = @enumFromInt(kind_byte);
            if (message >= message_count or (kind == .message and child >= message_count)) {
                return reader.fail("field table: message index out of range");
            }
            if (number == 0 or number > field_number_max) return reader.fail("field table: invalid field number");
            for (name) |byte| if (!std.ascii.isPrint(byte) or byte == '.') return reader.fail("field table: invalid field name");
            field.* = .{ .message = message, .number = number, .kind = kind, .child = child, .name = name };
            if (index > 0 and !lessThan(fields[index - 1], field.*)) return reader.fail("field table: fields not sorted");
        }
        for (methods[0..method_count]) |method| {
            if (method.request >= message_count or method.response >= message_count) {
                return reader.fail("field table: method message index out of range");
            }
        }
        if (reader.offset != bytes.len) return reader.fail("field table: trailing bytes");
        return .{ .methods = methods[0..method_count], .fields = fields[0..field_count], .message_count = message_count };
    }

    pub const Counts = struct { methods: u16, fields: u32 };

    /// The method and field counts a table declares, so the caller can size the arrays
    /// `parse` fills; null when the table is too short to say (`parse` then says why).
    pub fn declaredCounts(bytes: []const u8) ?Counts {
        var diagnostic = walker.Diagnostic{};
        var reader = Reader{ .bytes = bytes, .diagnostic = &diagnostic };
        _ = reader.take(5) catch return null;
        const method_count = reader.int(u16) catch return null;
        for (0..method_count) |_| {
            const path_len = reader.int(u16) catch return null;
            _ = reader.take(path_len + 4) catch return null;
        }
        _ = reader.int(u16) catch return null;
        return .{ .methods = method_count, .fields = reader.int(u32) catch return null };
    }

    pub fn lookup(self: *const FieldTable, message: u16, number: u32) ?FieldEntry {
        var low: usize = 0;
        var high: usize = self.fields.len;
        const key = FieldEntry{ .message = message, .number = number, .kind = .scalar, .child = 0, .name = "" };
        while (low < high) {
            const middle = low + (high - low) / 2;
            if (lessThan(self.fields[middle], key)) low = middle + 1 else high = middle;
        }
        if (low < self.fields.len and self.fields[low].message == message and self.fields[low].number == number) {
            return self.fields[low];
        }
        return null;
    }

    /// The root message type for a gRPC path, request or response side.
    pub fn rootFor(self: *const FieldTable, grpc_path: []const u8, response: bool) ?u16 {
        for (self.methods) |method| {
            if (std.mem.eql(u8, method.path, grpc_path)) return if (response) method.response else method.request;
        }
        return null;
    }

    fn lessThan(a: FieldEntry, b: FieldEntry) bool {
        return a.message < b.message or (a.message == b.message and a.number < b.number);
    }
};

const Reader = struct {
    bytes: []const u8,
    offset: usize = 0,
    diagnostic: *walker.Diagnostic,

    fn take(self: *Reader, len: usize) FieldTable.ParseError![]const u8 {
        if (self.bytes.len - self.offset < len) return self.fail("field table: truncated");
        defer self.offset += len;
        return self.bytes[self.offset .. self.offset + len];
    }

    fn int(self: *Reader, comptime T: type) FieldTable.ParseError!T {
        const bytes = try self.take(@sizeOf(T));
        return std.mem.readInt(T, bytes[0..@sizeOf(T)], .little);
    }

    fn fail(self: *Reader, reason: []const u8) FieldTable.ParseError {
        self.diagnostic.set(self.offset, reason);
        return error.MalformedFieldTable;
    }
};

// ---------------------------------------------------------------- walking

pub const Options = struct {
    /// Report varint fields as numbers (decimal text).
    scan_numbers: bool = false,
    fields: ?*const FieldTable = null,
    /// The message type of the walked message in `fields`.
    root_message: ?u16 = null,
};

const Level = struct {
    end: u32,
    path_mark: Path.Mark,
    message: ?u16,
    /// Non-zero for a group: the field number its end tag must carry.
    group: u32,
};

pub const ProtobufWalker = struct {
    options: Options,
    levels: [walker.depth_max]Level = undefined,
    depth: u32 = 0,
    path: Path = .{},
    diagnostic: walker.Diagnostic = .{},
    /// Decimal text of the varint being reported.
    number_text: [20]u8 = undefined,

    pub fn init(options: Options) ProtobufWalker {
        return .{ .options = options };
    }

    /// Walks `message`, whose first byte is at absolute offset `base`.
    /// `nodes`, if given, receives every nested message walked (a NodeList).
    pub fn walk(self: *ProtobufWalker, message: []const u8, base: u64, nodes: anytype, sink: anytype) !void {
        if (message.len > std.math.maxInt(u32)) return self.fail(0, "message longer than 4 GiB");
        self.path.reset("");
        self.depth = 0;
        try self.push(@intCast(message.len), self.options.root_message, 0);
        var offset: u32 = 0;
        // Each turn consumes at least one byte or pops a level, so the loop is
        // bounded by the message length plus the levels pushed.
        while (self.depth > 0) {
            const level = self.levels[self.depth - 1];
            if (offset == level.end) {
                if (level.group != 0) return self.fail(offset, "group not closed before the end of its message");
                self.pop();
                continue;
            }
            offset = try self.field(message, base, offset, nodes, sink);
        }
        assert(offset == message.len);
    }

    /// Walks the field at `offset`; returns the offset after it (or after the
    /// tag and length of a nested message it descends into).
    fn field(self: *ProtobufWalker, message: []const u8, base: u64, offset: u32, nodes: anytype, sink: anytype) !u32 {
        const level = self.levels[self.depth - 1];
        const bytes = message[0..level.end];
        const tag = readVarint(bytes, offset) orelse return self.fail(offset, "truncated field tag");
        const number_u64 = tag.value >> 3;
        if (number_u64 == 0 or number_u64 > field_number_max) return self.fail(offset, "invalid field number");
        const number: u32 = @intCast(number_u64);
        const wire: WireType = @enumFromInt(@as(u3, @truncate(tag.value)));
        const entry = self.lookup(level.message, number);
        var after = tag.end;
        switch (wire) {
            .varint => {
                const value = readVarint(bytes, after) orelse return self.fail(after, "truncated varint");
                if (self.options.scan_numbers) try self.reportNumber(number, entry, value.value, base, offset, after, value.end, sink);
                return value.end;
            },
            .i64 => after = try self.skip(bytes, after, 8),
            .i32 => after = try self.skip(bytes, after, 4),
            .len => {
                const length = readVarint(bytes, after) orelse return self.fail(after, "truncated length");
                if (length.value > level.end - length.end) return self.fail(after, "length runs past the end of its message");
                const content_start = length.end;
                const content_end: u32 = content_start + @as(u32, @intCast(length.value));
                const content = bytes[content_start..content_end];
                switch (classify(entry, content)) {
                    .message => {
                        if (@typeInfo(@TypeOf(nodes)) != .null) {
                            try nodes.append(.{ .tag_start = offset, .length_start = after, .content_start = content_start, .content_end = content_end });
                        }
                        self.pushFieldSegment(number, entry);
                        try self.push(content_end, if (entry) |known| known.child else null, 0);
                        return content_start;
                    },
                    .string, .bytes => |kind| try self.reportLen(kind, number, entry, content, base, offset, content_start, sink),
                    .empty => {},
                }
                return content_end;
            },
            .group_start => {
                self.pushFieldSegment(number, entry);
                try self.push(level.end, if (entry) |known| known.child else null, number);
                return after;
            },
            .group_end => {
                if (level.group != number) return self.fail(offset, "group end without a matching start");
                self.pop();
                return after;
            },
            _ => return self.fail(offset, "invalid wire type"),
        }
        return after;
    }

    fn skip(self: *ProtobufWalker, bytes: []const u8, offset: u32, len: u32) !u32 {
        if (bytes.len - offset < len) return self.fail(offset, "truncated fixed-width field");
        return offset + len;
    }

    fn lookup(self: *const ProtobufWalker, message: ?u16, number: u32) ?FieldEntry {
        const table = self.options.fields orelse return null;
        return table.lookup(message orelse return null, number);
    }

    fn push(self: *ProtobufWalker, end: u32, message: ?u16, group: u32) !void {
        if (self.depth == walker.depth_max) {
            self.diagnostic.set(0, "protobuf nesting is deeper than the walker accepts");
            return error.TooDeep;
        }
        self.levels[self.depth] = .{ .end = end, .path_mark = self.path.mark(), .message = message, .group = group };
        self.depth += 1;
    }

    /// Leaves a nested message or group, dropping its path segment.
    fn pop(self: *ProtobufWalker) void {
        assert(self.depth > 0);
        self.depth -= 1;
        if (self.depth == 0) return;
        self.path.pop(self.levels[self.depth - 1].path_mark);
    }

    fn pushFieldSegment(self: *ProtobufWalker, number: u32, entry: ?FieldEntry) void {
        if (entry) |known| self.path.pushFieldName(known.name) else self.path.pushFieldNumber(number);
    }

    /// Reports a string or bytes field (a long one in overlapping pieces).
    fn reportLen(self: *ProtobufWalker, kind: Classification, number: u32, entry: ?FieldEntry, content: []const u8, base: u64, tag_start: u32, content_start: u32, sink: anytype) !void {
        const mark = self.path.mark();
        defer self.path.pop(mark);
        self.pushFieldSegment(number, entry);
        const start = base + content_start;
        const template = walker.Value{
            .kind = if (kind == .string) .string else .bytes,
            .encoding = .identity,
            .bytes = content,
            .path = self.path.text(),
            .path_truncated = self.path.truncated(),
            .context_key = contextOf(entry),
            .raw = walker.RawMap.identity(start, content.len),
            .token_start = start,
            .token_end = start + content.len,
            .member = .{ .start = base + tag_start, .end = start + content.len, .first = false, .separator = 0 },
        };
        try walker.reportContiguous(template, content, start, sink);
    }

    fn reportNumber(self: *ProtobufWalker, number: u32, entry: ?FieldEntry, varint: u64, base: u64, tag_start: u32, value_start: u32, value_end: u32, sink: anytype) !void {
        const mark = self.path.mark();
        defer self.path.pop(mark);
        self.pushFieldSegment(number, entry);
        const text = std.fmt.bufPrint(&self.number_text, "{d}", .{varint}) catch unreachable;
        const value = walker.Value{
            .kind = .number,
            .encoding = .protobuf_varint,
            .bytes = text,
            .path = self.path.text(),
            .path_truncated = self.path.truncated(),
            .context_key = contextOf(entry),
            // The decimal text has no byte-for-byte raw form: any span maps to the whole varint.
            .raw = .{ .start = base + value_start, .end = base + value_end, .marks = &.{} },
            .token_start = base + value_start,
            .token_end = base + value_end,
            .member = .{ .start = base + tag_start, .end = base + value_end, .first = false, .separator = 0 },
        };
        try sink.onValue(&value);
    }

    fn fail(self: *ProtobufWalker, offset: u64, reason: []const u8) Error {
        self.diagnostic.set(offset, reason);
        return error.MalformedProtobuf;
    }
};

fn contextOf(entry: ?FieldEntry) []const u8 {
    const known = entry orelse return "";
    return known.name[0..@min(known.name.len, walker.context_key_bytes_max)];
}

const Classification = enum { message, string, bytes, empty };

fn classify(entry: ?FieldEntry, content: []const u8) Classification {
    if (content.len == 0) return .empty;
    if (entry) |known| return switch (known.kind) {
        .message => .message,
        .string => .string,
        .bytes => .bytes,
        // A packed repeated scalar: nothing textual to scan.
        .scalar => .empty,
    };
    const utf8 = std.unicode.utf8ValidateSlice(content);
    if (parsesAsMessage(content) and !(utf8 and isPrintable(content))) return .message;
    return if (utf8) .string else .bytes;
}

/// True when `bytes` is a complete sequence of well-formed fields at one level
/// (nested contents are not examined; groups must balance).
pub fn parsesAsMessage(bytes: []const u8) bool {
    if (bytes.len > std.math.maxInt(u32)) return false;
    var offset: u32 = 0;
    var groups: u32 = 0;
    var group_numbers: [walker.depth_max]u32 = undefined;
    while (offset < bytes.len) {
        const tag = readVarint(bytes, offset) orelse return false;
        const number = tag.value >> 3;
        if (number == 0 or number > field_number_max) return false;
        offset = tag.end;
        switch (@as(WireType, @enumFromInt(@as(u3, @truncate(tag.value))))) {
            .varint => offset = (readVarint(bytes, offset) orelse return false).end,
            .i64 => offset = std.math.add(u32, offset, 8) catch return false,
            .i32 => offset = std.math.add(u32, offset, 4) catch return false,
            .len => {
                const length = readVarint(bytes, offset) orelse return false;
                if (length.value > bytes.len - length.end) return false;
                offset = length.end + @as(u32, @intCast(length.value));
            },
            .group_start => {
                if (groups == walker.depth_max) return false;
                group_numbers[groups] = @intCast(number);
                groups += 1;
            },
            .group_end => {
                if (groups == 0 or group_numbers[groups - 1] != number) return false;
                groups -= 1;
            },
            _ => return false,
        }
        if (offset > bytes.len) return false;
    }
    return groups == 0;
}

/// No control bytes at all. Tag bytes of low field numbers are control bytes
/// (field 1, length-delimited, is '\n'), so a message nearly always has one,
/// while text that parses as fields rarely does.
fn isPrintable(bytes: []const u8) bool {
    for (bytes) |byte| {
        if (byte < 0x20 or byte == 0x7f) return false;
    }
    return true;
}

pub const Varint = struct { value: u64, end: u32 };

/// Reads a base-128 varint at `offset`; null when truncated or longer than 10 bytes.
pub fn readVarint(bytes: []const u8, offset: u32) ?Varint {
    var value: u64 = 0;
    var index: u32 = 0;
    while (index < 10) : (index += 1) {
        if (offset + index >= bytes.len) return null;
        const byte = bytes[offset + index];
        if (index == 9 and byte > 1) return null;
        value |= @as(u64, byte & 0x7f) << @intCast(7 * index);
        if (byte < 0x80) return .{ .value = value, .end = offset + index + 1 };
    }
    return null;
}

/// Bytes the varint encoding of `value` takes.
pub fn varintLength(value: u64) u32 {
    var length: u32 = 1;
    var rest = value >> 7;
    while (rest != 0) : (rest >>= 7) length += 1;
    return length;
}

/// Writes the varint encoding of `value`; `out` holds at least 10 bytes.
pub fn writeVarint(value: u64, out: []u8) []const u8 {
    assert(out.len >= 10);
    var rest = value;
    var index: usize = 0;
    while (rest >= 0x80) : (index += 1) {
        out[index] = @as(u8, @truncate(rest)) | 0x80;
        rest >>= 7;
    }
    out[index] = @intCast(rest);
    return out[0 .. index + 1];
}

// ---------------------------------------------------------------- tests

const testing = std.testing;
const Recorder = walker.RecordingSink(32, 16 * 1024);

/// A tiny protobuf encoder for building test messages.
pub const TestEncoder = struct {
    buffer: [4096]u8 = undefined,
    len: usize = 0,

    pub fn tag(self: *TestEncoder, number: u32, wire: WireType) void {
        self.varint((@as(u64, number) << 3) | @intFromEnum(wire));
    }

    pub fn varint(self: *TestEncoder, value: u64) void {
        var scratch: [10]u8 = undefined;
        self.raw(writeVarint(value, &scratch));
    }

    pub fn raw(self: *TestEncoder, data: []const u8) void {
        @memcpy(self.buffer[self.len .. self.len + data.len], data);
        self.len += data.len;
    }

    pub fn lenField(self: *TestEncoder, number: u32, data: []const u8) void {
        self.tag(number, .len);
        self.varint(data.len);
        self.raw(data);
    }

    pub fn bytes(self: *const TestEncoder) []const u8 {
        return self.buffer[0..self.len];
    }
};

/// message { 1: "Ada", 2: { 1: "4111111111111111", 2: 42, 3: { 1: "123-45-6789" } }, 3: 0xff 0xfe, 4: fixed64 }
fn sampleMessage(encoder: *TestEncoder) void {
    var inner = TestEncoder{};
    inner.lenField(1, "123-45-6789");
    var card = TestEncoder{};
    card.lenField(1, "4111111111111111");
    card.tag(2, .varint);
    card.varint(42);
    card.lenField(3, inner.bytes());
    encoder.lenField(1, "Ada");
    encoder.lenField(2, card.bytes());
    encoder.lenField(3, "\xff\xfe");
    encoder.tag(4, .i64);
    encoder.raw("12345678");
}

test "nested messages walked by wire format, field numbers as the path" {
    var encoder = TestEncoder{};
    sampleMessage(&encoder);
    var recorder = Recorder{};
    var nodes = NodeList(8){};
    var protobuf = ProtobufWalker.init(.{ .scan_numbers = true });
    try protobuf.walk(encoder.bytes(), 100, &nodes, &recorder);
    const values = recorder.values();
    try testing.expectEqual(@as(usize, 5), values.len);
    const expected = [_]struct { kind: walker.Kind, bytes: []const u8, path: []const u8 }{
        .{ .kind = .string, .bytes = "Ada", .path = "1" },
        .{ .kind = .string, .bytes = "4111111111111111", .path = "2.1" },
        .{ .kind = .number, .bytes = "42", .path = "2.2" },
        .{ .kind = .string, .bytes = "123-45-6789", .path = "2.3.1" },
        .{ .kind = .bytes, .bytes = "\xff\xfe", .path = "3" },
    };
    for (expected, values) |want, got| {
        try testing.expectEqual(want.kind, got.kind);
        try testing.expectEqualStrings(want.bytes, got.bytes);
        try testing.expectEqualStrings(want.path, got.path);
    }
    try testing.expectEqual(@as(usize, 2), nodes.len);
    const card_at = std.mem.indexOf(u8, encoder.bytes(), "4111").?;
    try testing.expectEqual(@as(u64, 100 + card_at), values[1].raw_start);
}

test "printable text that parses as fields stays text; binary that does not stays bytes" {
    // "hi" = 0x68 0x69: field 13 varint 0x69: it parses, but it is text.
    try testing.expect(parsesAsMessage("hi"));
    try testing.expectEqual(Classification.string, classify(null, "hi"));
    try testing.expectEqual(Classification.string, classify(null, "4111111111111111"));
    try testing.expectEqual(Classification.bytes, classify(null, "\xff\xff\xff"));
    try testing.expectEqual(Classification.message, classify(null, "\x0a\x03abc"));
}

test "malformed messages are refused with the offset" {
    const cases = [_]struct { bytes: []const u8, offset: u64 }{
        .{ .bytes = "\x0a\x05ab", .offset = 1 }, // length past the end
        .{ .bytes = "\x00", .offset = 0 }, // field number 0
        .{ .bytes = "\x0f", .offset = 0 }, // wire type 7
        .{ .bytes = "\x09abc", .offset = 1 }, // fixed64 truncated
        .{ .bytes = "\x0b\x08\x01", .offset = 3 }, // group never closed
        .{ .bytes = "\x0c", .offset = 0 }, // group end without start
    };
    for (cases) |case| {
        var recorder = Recorder{};
        var protobuf = ProtobufWalker.init(.{});
        try testing.expectError(error.MalformedProtobuf, protobuf.walk(case.bytes, 0, null, &recorder));
        try testing.expectEqual(case.offset, protobuf.diagnostic.offset);
    }
}

test "a long string field comes in overlapping pieces" {
    var long: [walker.piece_bytes_max + 500]u8 = undefined;
    for (&long, 0..) |*byte, index| byte.* = 'a' + @as(u8, @intCast(index % 26));
    var recorder = Recorder{};
    var protobuf = ProtobufWalker.init(.{});
    // Longer than the test encoder's buffer: field 7, length-delimited, by hand.
    var message: [walker.piece_bytes_max + 600]u8 = undefined;
    var scratch: [10]u8 = undefined;
    message[0] = (7 << 3) | 2;
    const length = writeVarint(long.len, &scratch);
    @memcpy(message[1 .. 1 + length.len], length);
    @memcpy(message[1 + length.len ..][0..long.len], &long);
    const total = 1 + length.len + long.len;
    try protobuf.walk(message[0..total], 0, null, &recorder);
    try testing.expectEqual(@as(usize, 2), recorder.count);
    var joined: [long.len]u8 = undefined;
    try testing.expectEqualStrings(&long, recorder.joined("7", &joined));
    try testing.expectEqual(@as(u32, walker.overlap_bytes), recorder.values()[1].piece.overlap);
}

test "groups are walked as nesting" {
    var encoder = TestEncoder{};
    encoder.tag(5, .group_start);
    encoder.lenField(1, "inside");
    encoder.tag(5, .group_end);
    var recorder = Recorder{};
    var protobuf = ProtobufWalker.init(.{});
    try protobuf.walk(encoder.bytes(), 0, null, &recorder);
    try testing.expectEqualStrings("5.1", recorder.values()[0].path);
}

test "nesting past the bound is refused" {
    var levels: [walker.depth_max + 1]TestEncoder = undefined;
    levels[0] = .{};
    levels[0].lenField(1, "\x01\x02\x03");
    for (levels[1..], 0..) |*level, index| {
        level.* = .{};
        level.lenField(1, levels[index].bytes());
    }
    var recorder = Recorder{};
    var protobuf = ProtobufWalker.init(.{});
    try testing.expectError(error.TooDeep, protobuf.walk(levels[walker.depth_max].bytes(), 0, null, &recorder));
}

/// A field table for /shop.Payments/Charge: Charge { customer = 1; Card card = 2 },
/// Card { number = 1; Holder holder = 3 } (for tests here and in the pipeline).
pub fn sampleTable(storage: []u8) []const u8 {
    var len: usize = 0;
    const put = struct {
        fn bytes(out: []u8, at: *usize, data: []const u8) void {
            @memcpy(out[at.* .. at.* + data.len], data);
            at.* += data.len;
        }
        fn int(out: []u8, at: *usize, comptime T: type, value: T) void {
            std.mem.writeInt(T, out[at.*..][0..@sizeOf(T)], value, .little);
            at.* += @sizeOf(T);
        }
    };
    put.bytes(storage, &len, "MVFT\x01");
    put.int(storage, &len, u16, 1);
    put.int(storage, &len, u16, "/shop.Payments/Charge".len);
    put.bytes(storage, &len, "/shop.Payments/Charge");
    put.int(storage, &len, u16, 0);
    put.int(storage, &len, u16, 2);
    put.int(storage, &len, u16, 3); // messages: 0 Charge, 1 Card, 2 Holder
    put.int(storage, &len, u32, 4);
    const fields = [_]struct { message: u16, number: u32, kind: FieldKind, child: u16, name: []const u8 }{
        .{ .message = 0, .number = 1, .kind = .string, .child = 0, .name = "customer" },
        .{ .message = 0, .number = 2, .kind = .message, .child = 1, .name = "card" },
        .{ .message = 1, .number = 1, .kind = .string, .child = 0, .name = "number" },
        .{ .message = 1, .number = 3, .kind = .message, .child = 2, .name = "holder" },
    };
    for (fields) |field| {
        put.int(storage, &len, u16, field.message);
        put.int(storage, &len, u32, field.number);
        put.int(storage, &len, u8, @intFromEnum(field.kind));
        put.int(storage, &len, u16, field.child);
        put.int(storage, &len, u8, @intCast(field.name.len));
        put.bytes(storage, &len, field.name);
    }
    return storage[0..len];
}

test "a field table names fields and settles string-or-message" {
    var storage: [512]u8 = undefined;
    const table_bytes = sampleTable(&storage);
    var methods: [4]Method = undefined;
    var fields: [16]FieldEntry = undefined;
    var diagnostic = walker.Diagnostic{};
    const table = try FieldTable.parse(table_bytes, &methods, &fields, &diagnostic);
    const root = table.rootFor("/shop.Payments/Charge", false).?;
    var encoder = TestEncoder{};
    sampleMessage(&encoder);
    var recorder = Recorder{};
    var protobuf = ProtobufWalker.init(.{ .fields = &table, .root_message = root });
    try protobuf.walk(encoder.bytes(), 0, null, &recorder);
    const values = recorder.values();
    try testing.expectEqualStrings("customer", values[0].path);
    try testing.expectEqualStrings("card.number", values[1].path);
    try testing.expectEqualStrings("number", values[1].context_key);
    // Field 1 of Holder is not in the table: its number is the segment.
    try testing.expectEqualStrings("card.holder.1", values[2].path);
    try testing.expectEqual(FieldTable.Counts{ .methods = 1, .fields = 4 }, FieldTable.declaredCounts(table_bytes).?);
    try testing.expect(FieldTable.declaredCounts(table_bytes[0..12]) == null);
    // Truncations and disorder are refused with a reason.
    try testing.expectError(error.MalformedFieldTable, FieldTable.parse(table_bytes[0 .. table_bytes.len - 1], &methods, &fields, &diagnostic));
    try testing.expectEqualStrings("field table: truncated", diagnostic.reason);
}

test "varints round-trip" {
    var scratch: [10]u8 = undefined;
    for ([_]u64{ 0, 1, 127, 128, 300, 1 << 35, std.math.maxInt(u64) }) |value| {
        const encoded = writeVarint(value, &scratch);
        try testing.expectEqual(varintLength(value), @as(u32, @intCast(encoded.len)));
        try testing.expectEqual(value, readVarint(encoded, 0).?.value);
    }
    try testing.expect(readVarint("\x80\x80", 0) == null);
}
