//! The decoded bytes of the value a walker is inside, one piece at a time, with
//! the escape marks that map them back to raw offsets. Walkers append decoded
//! bytes as they read raw ones; when the buffer is full they report the piece
//! and call `startNextPiece`, which keeps the last `overlap_bytes` (cut on a
//! character and escape boundary) so a match across the boundary is still seen.

const std = @import("std");
const assert = std.debug.assert;
const walker = @import("walker.zig");

pub const PieceBuffer = struct {
    bytes: [walker.piece_bytes_max]u8 = undefined,
    len: u32 = 0,
    marks: [walker.escape_marks_max]walker.EscapeMark = undefined,
    marks_len: u32 = 0,
    /// Absolute raw offset of decoded byte 0.
    raw_start: u64 = 0,
    /// Absolute raw offset just past the last raw byte consumed into the piece.
    raw_next: u64 = 0,
    piece_index: u32 = 0,
    overlap: u32 = 0,
    active: bool = false,

    pub fn begin(self: *PieceBuffer, raw_start: u64) void {
        self.* = .{ .raw_start = raw_start, .raw_next = raw_start, .active = true };
    }

    pub fn end(self: *PieceBuffer) void {
        self.active = false;
    }

    pub fn view(self: *const PieceBuffer) []const u8 {
        return self.bytes[0..self.len];
    }

    pub fn map(self: *const PieceBuffer) walker.RawMap {
        return .{ .start = self.raw_start, .end = self.raw_next, .marks = self.marks[0..self.marks_len] };
    }

    pub fn piece(self: *const PieceBuffer, last: bool) walker.Piece {
        return .{ .index = self.piece_index, .overlap = self.overlap, .last = last };
    }

    /// Decoded bytes that still fit in this piece.
    pub fn room(self: *const PieceBuffer) u32 {
        return walker.piece_bytes_max - self.len;
    }

    /// True when an escape of `decoded_len` bytes fits (bytes and a mark).
    pub fn hasRoomForEscape(self: *const PieceBuffer, decoded_len: u32) bool {
        return self.room() >= decoded_len and self.marks_len < walker.escape_marks_max;
    }

    /// Appends bytes whose raw form is themselves, read right after the last unit.
    pub fn appendPlain(self: *PieceBuffer, plain: []const u8) void {
        assert(self.active);
        assert(plain.len <= self.room());
        @memcpy(self.bytes[self.len .. self.len + plain.len], plain);
        self.len += @intCast(plain.len);
        self.raw_next += plain.len;
    }

    /// Appends the decoded form of an escape spanning `raw_len` raw bytes that
    /// start where the last unit ended.
    pub fn appendEscape(self: *PieceBuffer, decoded: []const u8, raw_len: u32) void {
        assert(self.active);
        assert(decoded.len > 0 and decoded.len <= 4);
        assert(raw_len > 0 and raw_len <= walker.escape_raw_bytes_max);
        assert(self.hasRoomForEscape(@intCast(decoded.len)));
        self.marks[self.marks_len] = .{
            .decoded_start = self.len,
            .raw_offset = @intCast(self.raw_next - self.raw_start),
            .decoded_len = @intCast(decoded.len),
            .raw_len = @intCast(raw_len),
        };
        self.marks_len += 1;
        @memcpy(self.bytes[self.len .. self.len + decoded.len], decoded);
        self.len += @intCast(decoded.len);
        self.raw_next += raw_len;
    }

    /// Skips `raw_len` raw bytes that are not part of the value (the framing
    /// between joined SSE events): a gap mark, so edits can stop at it.
    pub fn appendGap(self: *PieceBuffer, raw_len: u64) void {
        assert(self.active);
        assert(raw_len > 0 and raw_len <= std.math.maxInt(u32));
        assert(self.marks_len < walker.escape_marks_max);
        self.marks[self.marks_len] = .{
            .decoded_start = self.len,
            .raw_offset = @intCast(self.raw_next - self.raw_start),
            .decoded_len = 0,
            .raw_len = @intCast(raw_len),
        };
        self.marks_len += 1;
        self.raw_next += raw_len;
    }

    /// Starts the next piece of the same value, keeping the overlap.
    pub fn startNextPiece(self: *PieceBuffer) void {
        self.startNextPieceAt(self.overlapCut());
    }

    /// Like `startNextPiece`, but the overlap starts at raw `raw_min` or later,
    /// so a value joined across gaps holds back a bounded raw span.
    pub fn startNextPieceWithin(self: *PieceBuffer, raw_min: u64) void {
        var cut = self.overlapCut();
        const raw_map = self.map();
        if (raw_map.rawStartOf(cut) < raw_min) {
            cut = raw_map.decodedAtOrAfter(raw_min, self.len);
            // Forward to the next character start (escapes are never cut into).
            while (cut < self.len and (self.bytes[cut] & 0xC0) == 0x80 and !self.isMarkStart(cut)) cut += 1;
        }
        self.startNextPieceAt(cut);
    }

    fn startNextPieceAt(self: *PieceBuffer, cut: u32) void {
        assert(self.active);
        assert(cut <= self.len);
        const raw_map = self.map();
        const new_raw_start = raw_map.rawStartOf(cut);
        const kept = self.len - cut;
        std.mem.copyForwards(u8, self.bytes[0..kept], self.bytes[cut..self.len]);
        var kept_marks: u32 = 0;
        for (self.marks[0..self.marks_len]) |mark| {
            // A gap right at the cut lies before the new piece's first byte.
            if (mark.decoded_start < cut or (mark.isGap() and mark.decoded_start == cut)) continue;
            self.marks[kept_marks] = .{
                .decoded_start = mark.decoded_start - cut,
                .raw_offset = @intCast(self.raw_start + mark.raw_offset - new_raw_start),
                .decoded_len = mark.decoded_len,
                .raw_len = mark.raw_len,
            };
            kept_marks += 1;
        }
        self.marks_len = kept_marks;
        self.len = kept;
        self.raw_start = new_raw_start;
        self.piece_index += 1;
        self.overlap = kept;
    }

    /// Where the next piece starts: `overlap_bytes` from the end, moved back to
    /// the start of an escape or UTF-8 character it falls inside.
    fn overlapCut(self: *const PieceBuffer) u32 {
        if (self.len <= walker.overlap_bytes) return 0;
        var cut = self.len - walker.overlap_bytes;
        for (self.marks[0..self.marks_len]) |mark| {
            if (mark.decoded_start < cut and cut < mark.decoded_start + mark.decoded_len) {
                cut = mark.decoded_start;
                break;
            }
        }
        var steps: u32 = 0;
        while (steps < 3 and cut > 0 and (self.bytes[cut] & 0xC0) == 0x80 and !self.isMarkStart(cut)) : (steps += 1) {
            cut -= 1;
        }
        return cut;
    }

    fn isMarkStart(self: *const PieceBuffer, decoded: u32) bool {
        for (self.marks[0..self.marks_len]) |mark| {
            if (mark.decoded_start == decoded) return true;
        }
        return false;
    }
};

test "next piece keeps the overlap and remaps escapes" {
    var buffer = PieceBuffer{};
    buffer.begin(1000);
    const filler = [_]u8{'a'} ** (walker.piece_bytes_max - 2 - walker.overlap_bytes / 2);
    buffer.appendPlain(&filler);
    buffer.appendEscape("\n", 2);
    const rest = [_]u8{'b'} ** (walker.overlap_bytes / 2);
    buffer.appendPlain(&rest);
    const old_map = buffer.map();
    const raw_of_newline = old_map.rawStartOf(@intCast(filler.len));
    buffer.startNextPiece();
    try std.testing.expectEqual(@as(u32, 1), buffer.piece_index);
    try std.testing.expectEqual(buffer.len, buffer.overlap);
    const newline_at = std.mem.indexOfScalar(u8, buffer.view(), '\n').?;
    try std.testing.expectEqual(raw_of_newline, buffer.map().rawStartOf(@intCast(newline_at)));
    try std.testing.expectEqual(raw_of_newline + 2, buffer.map().rawStartOf(@intCast(newline_at + 1)));
}

test "overlap cut does not split a UTF-8 character" {
    var buffer = PieceBuffer{};
    buffer.begin(0);
    const filler = [_]u8{'a'} ** 1000;
    buffer.appendPlain(&filler);
    buffer.appendPlain("\xe2\x82\xac"); // the euro sign; the naive cut lands on its second byte
    const tail = [_]u8{'b'} ** (walker.overlap_bytes - 2);
    buffer.appendPlain(&tail);
    try std.testing.expectEqual(@as(u32, filler.len + 1), buffer.len - walker.overlap_bytes);
    try std.testing.expectEqual(@as(u32, filler.len), buffer.overlapCut());
}
