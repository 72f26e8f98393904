//! Streaming application/x-www-form-urlencoded walker (the WHATWG URL
//! standard's parser), also used for URL query strings. Pairs are split on
//! '&', names from values on the first '='; '+' decodes to a space and
//! `%XX` to its byte. A '%' not followed by two hex digits stays literally, as
//! browsers and servers read it. Names are reported as keys; each value is
//! reported with its (decoded) name as both path and context.

const std = @import("std");
const assert = std.debug.assert;
const walker = @import("walker.zig");
const PieceBuffer = @import("piece_buffer.zig").PieceBuffer;

pub const Options = struct {
    scan_keys: bool = true,
    /// Hold each pair back until it ends, so the masker may drop it.
    hold_members: bool = false,
};

const Part = enum(u8) { name, value };
const Percent = enum(u8) { none, percent, percent_digit };

pub const FormWalker = struct {
    options: Options,
    /// Inside a pair (something read since the last '&').
    in_pair: bool = false,
    part: Part = .name,
    percent: Percent = .none,
    first_digit: u8 = 0,
    buffer: PieceBuffer = .{},
    /// The decoded name of the current pair, the path and context of its value.
    name: [walker.path_bytes_max]u8 = undefined,
    name_len: u32 = 0,
    name_truncated: bool = false,
    pair_start: u64 = 0,
    pair_first: bool = true,
    pair_droppable: bool = false,
    position: u64 = 0,

    pub fn init(options: Options) FormWalker {
        return .{ .options = options };
    }

    pub fn feed(self: *FormWalker, chunk: []const u8, sink: anytype) !void {
        return self.feedAt(chunk, self.position, sink);
    }

    /// Feeds bytes at absolute `offset` (a query string inside a `:path`
    /// header starts after the '?'). Offsets must be contiguous after the first feed.
    pub fn feedAt(self: *FormWalker, chunk: []const u8, offset: u64, sink: anytype) !void {
        assert(offset == self.position or (self.position == 0 and !self.in_pair));
        self.position = offset;
        var index: usize = 0;
        while (index < chunk.len) {
            const consumed = try self.step(chunk[index..], sink);
            assert(consumed > 0);
            index += consumed;
            self.position += consumed;
        }
    }

    pub fn finish(self: *FormWalker, sink: anytype) !void {
        try self.flushPercent(sink);
        if (self.in_pair) try self.endPair(self.position, sink);
    }

    pub fn holdFrom(self: *FormWalker) u64 {
        if (!self.in_pair) return self.position;
        if (self.options.hold_members and self.pair_droppable) {
            if (self.position - self.pair_start <= walker.member_hold_bytes_max) return self.pair_start;
            self.pair_droppable = false;
        }
        return self.buffer.raw_start;
    }

    fn step(self: *FormWalker, rest: []const u8, sink: anytype) !usize {
        if (!self.in_pair) self.beginPair(self.position, self.position);
        const byte = rest[0];
        switch (self.percent) {
            .percent => {
                if (std.ascii.isHex(byte)) {
                    self.first_digit = byte;
                    self.percent = .percent_digit;
                    return 1;
                }
                try self.flushPercent(sink);
            },
            .percent_digit => {
                if (std.ascii.isHex(byte)) {
                    const decoded = (hexValue(self.first_digit) << 4) | hexValue(byte);
                    self.percent = .none;
                    if (!self.buffer.hasRoomForEscape(1)) try self.emitPieceAndContinue(sink);
                    self.buffer.appendEscape(&.{decoded}, 3);
                    return 1;
                }
                try self.flushPercent(sink);
            },
            .none => {},
        }
        switch (byte) {
            '&' => {
                try self.endPair(self.position, sink);
                self.in_pair = false;
                self.pair_first = false;
                // The next pair starts at this separator, so dropping it takes the '&'.
                self.beginPair(self.position, self.position + 1);
            },
            '=' => if (self.part == .name) {
                try self.endName(sink);
                self.part = .value;
                self.buffer.begin(self.position + 1);
            } else try self.appendPlain("=", sink),
            '%' => self.percent = .percent,
            '+' => try self.appendPlain(" ", sink),
            else => {
                var run: usize = 1;
                while (run < rest.len and isPlain(rest[run])) run += 1;
                try self.appendPlain(rest[0..run], sink);
                return run;
            },
        }
        return 1;
    }

    fn beginPair(self: *FormWalker, pair_start: u64, content_start: u64) void {
        self.in_pair = true;
        self.part = .name;
        self.name_len = 0;
        self.name_truncated = false;
        self.pair_start = pair_start;
        self.pair_droppable = true;
        self.buffer.begin(content_start);
    }

    /// A '%' (and maybe one hex digit) that did not become an escape: literal bytes.
    fn flushPercent(self: *FormWalker, sink: anytype) !void {
        switch (self.percent) {
            .none => return,
            .percent => try self.appendPlain("%", sink),
            .percent_digit => try self.appendPlain(&.{ '%', self.first_digit }, sink),
        }
        self.percent = .none;
    }

    fn appendPlain(self: *FormWalker, plain: []const u8, sink: anytype) !void {
        var rest = plain;
        while (rest.len > 0) {
            if (self.buffer.room() == 0) try self.emitPieceAndContinue(sink);
            const take = @min(rest.len, self.buffer.room());
            self.buffer.appendPlain(rest[0..take]);
            rest = rest[take..];
        }
    }

    fn emitPieceAndContinue(self: *FormWalker, sink: anytype) !void {
        if (self.part == .name) {
            if (self.buffer.piece_index == 0) self.keepName();
            self.name_truncated = true;
        }
        self.pair_droppable = false;
        if (self.part == .value or self.options.scan_keys) try self.emit(false, self.buffer.raw_next, sink);
        self.buffer.startNextPiece();
    }

    fn endName(self: *FormWalker, sink: anytype) !void {
        if (self.buffer.piece_index == 0) self.keepName();
        if (self.options.scan_keys and (self.buffer.len > 0 or self.buffer.piece_index > 0)) {
            try self.emit(true, self.buffer.raw_next, sink);
        }
    }

    fn endPair(self: *FormWalker, end: u64, sink: anytype) !void {
        try self.flushPercent(sink);
        if (self.part == .name) {
            // A pair without '=' is a name with an empty value.
            try self.endName(sink);
        } else if (self.buffer.len > 0 or self.buffer.piece_index > 0) {
            try self.emit(true, end, sink);
        }
        self.buffer.end();
    }

    fn keepName(self: *FormWalker) void {
        const name = self.buffer.view();
        const len = @min(name.len, self.name.len);
        @memcpy(self.name[0..len], name[0..len]);
        self.name_len = @intCast(len);
        self.name_truncated = name.len > self.name.len;
    }

    fn emit(self: *FormWalker, last: bool, end: u64, sink: anytype) !void {
        const is_name = self.part == .name;
        const name = self.name[0..self.name_len];
        const member: ?walker.Member = if (!is_name and last and self.options.hold_members and self.pair_droppable)
            .{ .start = self.pair_start, .end = end, .first = self.pair_first, .separator = '&' }
        else
            null;
        const value = walker.Value{
            .kind = if (is_name) .key else .string,
            .encoding = .form_urlencoded,
            .bytes = self.buffer.view(),
            .path = if (is_name) "" else name,
            .path_truncated = !is_name and self.name_truncated,
            .context_key = if (is_name) "" else name[0..@min(name.len, walker.context_key_bytes_max)],
            .piece = self.buffer.piece(last),
            .raw = self.buffer.map(),
            .token_start = self.buffer.raw_start,
            .token_end = end,
            .member = member,
        };
        try sink.onValue(&value);
    }
};

fn isPlain(byte: u8) bool {
    return byte != '&' and byte != '=' and byte != '%' and byte != '+';
}

fn hexValue(digit: u8) u8 {
    return std.fmt.charToDigit(digit, 16) catch unreachable;
}

// ---------------------------------------------------------------- tests

const testing = std.testing;
const Recorder = walker.RecordingSink(32, 16 * 1024);

test "pairs are decoded: '+', percent escapes, literal stray '%'" {
    var recorder = Recorder{};
    var form = FormWalker.init(.{});
    try form.feed("name=Ada+Lovelace&card=4111%201111%2D1111&odd=100%&e%3Dmail=a%40b.c&flag&=v", &recorder);
    try form.finish(&recorder);
    const values = recorder.values();
    const expected = [_]struct { kind: walker.Kind, bytes: []const u8, path: []const u8 }{
        .{ .kind = .key, .bytes = "name", .path = "" },
        .{ .kind = .string, .bytes = "Ada Lovelace", .path = "name" },
        .{ .kind = .key, .bytes = "card", .path = "" },
        .{ .kind = .string, .bytes = "4111 1111-1111", .path = "card" },
        .{ .kind = .key, .bytes = "odd", .path = "" },
        .{ .kind = .string, .bytes = "100%", .path = "odd" },
        .{ .kind = .key, .bytes = "e=mail", .path = "" },
        .{ .kind = .string, .bytes = "a@b.c", .path = "e=mail" },
        .{ .kind = .key, .bytes = "flag", .path = "" },
        .{ .kind = .string, .bytes = "v", .path = "" },
    };
    try testing.expectEqual(expected.len, values.len);
    for (expected, values) |want, got| {
        try testing.expectEqual(want.kind, got.kind);
        try testing.expectEqualStrings(want.bytes, got.bytes);
        try testing.expectEqualStrings(want.path, got.path);
    }
    try testing.expectEqualStrings("card", values[3].context_key);
}

test "split at every offset: same values, same raw ranges" {
    const input = "a=1&card=4111%201111%201111%201111&x=%zz%4";
    const make = struct {
        fn walker_() FormWalker {
            return FormWalker.init(.{});
        }
    }.walker_;
    try walker.expectSameAtEverySplit(FormWalker, &make, input);
    var whole = Recorder{};
    var form = FormWalker.init(.{});
    try form.feed(input, &whole);
    try form.finish(&whole);
    try testing.expectEqualStrings("%zz%4", whole.values()[whole.count - 1].bytes);
}
