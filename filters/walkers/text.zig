//! Plain-text walker: the whole body is one value, reported in pieces of
//! `piece_bytes_max` bytes that overlap by `overlap_bytes`, so a match that
//! straddles a chunk or piece boundary is still seen whole. Raw bytes are the
//! decoded bytes (no charset conversion: detectors match UTF-8 and ASCII).

const std = @import("std");
const assert = std.debug.assert;
const walker = @import("walker.zig");
const PieceBuffer = @import("piece_buffer.zig").PieceBuffer;

pub const TextWalker = struct {
    buffer: PieceBuffer = .{},
    position: u64 = 0,
    /// Location reported with every piece ("text", or "data" for SSE lines).
    path: []const u8 = "text",

    pub fn init(path: []const u8) TextWalker {
        return .{ .path = path };
    }

    pub fn feed(self: *TextWalker, chunk: []const u8, sink: anytype) !void {
        if (!self.buffer.active) self.buffer.begin(self.position);
        var rest = chunk;
        while (rest.len > 0) {
            if (self.buffer.room() == 0) {
                try self.emit(false, sink);
                self.buffer.startNextPiece();
            }
            const take = @min(rest.len, self.buffer.room());
            self.buffer.appendPlain(rest[0..take]);
            rest = rest[take..];
        }
        self.position += chunk.len;
        assert(self.buffer.raw_next == self.position);
    }

    pub fn finish(self: *TextWalker, sink: anytype) !void {
        if (self.buffer.active and (self.buffer.len > 0 or self.buffer.piece_index > 0)) try self.emit(true, sink);
        self.buffer.end();
    }

    pub fn holdFrom(self: *TextWalker) u64 {
        return if (self.buffer.active) self.buffer.raw_start else self.position;
    }

    fn emit(self: *TextWalker, last: bool, sink: anytype) !void {
        const value = walker.Value{
            .kind = .text,
            .encoding = .identity,
            .bytes = self.buffer.view(),
            .path = self.path,
            .piece = self.buffer.piece(last),
            .raw = self.buffer.map(),
            .token_start = self.buffer.raw_start,
            .token_end = self.buffer.raw_next,
        };
        try sink.onValue(&value);
    }
};

const testing = std.testing;
const Recorder = walker.RecordingSink(16, 64 * 1024);

test "a long body comes in overlapping pieces that rejoin to the body" {
    var body: [2 * walker.piece_bytes_max + 123]u8 = undefined;
    for (&body, 0..) |*byte, index| byte.* = 'a' + @as(u8, @intCast(index % 23));
    var recorder = Recorder{};
    var text = TextWalker.init("text");
    var offset: usize = 0;
    while (offset < body.len) : (offset += 700) try text.feed(body[offset..@min(offset + 700, body.len)], &recorder);
    try text.finish(&recorder);
    try testing.expectEqual(@as(usize, 3), recorder.count);
    var joined: [body.len]u8 = undefined;
    try testing.expectEqualStrings(&body, recorder.joined("text", &joined));
    const second = recorder.values()[1];
    try testing.expectEqual(@as(u32, walker.overlap_bytes), second.piece.overlap);
    try testing.expectEqual(@as(u64, walker.piece_bytes_max - walker.overlap_bytes), second.raw_start);
}

test "empty body reports nothing" {
    var recorder = Recorder{};
    var text = TextWalker.init("text");
    try text.feed("", &recorder);
    try text.finish(&recorder);
    try testing.expectEqual(@as(usize, 0), recorder.count);
}
