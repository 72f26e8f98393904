//! The contract every body walker follows, and the types walkers hand to their sinks.
//!
//! A walker is a resumable state machine over one body (or one header value).
//! It is fed the body chunk by chunk, in order, as the host delivers it:
//!
//!     walker.feed(chunk, sink)      // any number of times
//!     walker.finish(sink)           // at end of stream: flushes the last value, checks
//!                                   // the document is complete
//!
//! and it never allocates: all state (container stack, path, the value being
//! decoded) lives in fixed arrays inside the walker struct, sized by the bounds
//! below. A chunk is not retained after `feed` returns.
//!
//! For every scannable value the walker calls `sink.onValue(&value)` with a
//! `Value`: the value's decoded bytes (a JSON string unescaped, a form value
//! percent-decoded, a protobuf string as is), where it is (`path`: a JSON path
//! like `$.user.cards[2].number`, a form key, a protobuf field path like `1.3.2`,
//! a header name), the nearest key name as context (`context_key`: "ssn" for the
//! value of `"ssn": "..."`, so a detector can require it), and a `RawMap` that
//! maps any decoded byte range back to absolute byte offsets in the raw stream,
//! so a mask operation can rewrite the raw bytes exactly (re-escaping for JSON,
//! re-percent-encoding for forms).
//!
//! Values longer than `piece_bytes_max` are reported in pieces: each piece after
//! the first repeats the last `overlap_bytes` (rounded down to a character or
//! escape boundary) of the piece before, and says so in `piece.overlap`. A match
//! no longer than `overlap_bytes` is therefore always wholly inside some piece.
//! `Value.owns` tells a consumer which piece acts on a match: not one that ends
//! within the overlap (the previous piece had it), nor one that touches the end
//! of a piece that is not the last (it may continue; the next piece sees it
//! whole). Longer matches that straddle a piece boundary can be cut or missed;
//! detectors' longest match must stay under `overlap_bytes`.
//!
//! Streaming rewrite: `holdFrom()` names the earliest absolute raw offset that a
//! later `onValue` may still ask to rewrite (the start of the unfinished piece, or
//! of the unfinished JSON member when members may be dropped). Everything before
//! it is final and can be passed on; the bytes from it on are the held-back tail.
//! The tail is bounded by `hold_bytes_max`; `masking/rewriter.zig` keeps it.

const std = @import("std");
const assert = std.debug.assert;

/// Decoded bytes a walker collects before it reports a piece of a long value.
pub const piece_bytes_max: u32 = 4096;
/// Bytes each piece repeats from the previous one; the longest match that is
/// always found in a value split into pieces.
pub const overlap_bytes: u32 = 256;
/// Escape sequences one piece may map; a piece with more is reported early.
pub const escape_marks_max: u32 = 512;
/// Raw bytes one escape sequence can span (a JSON surrogate pair `\uD83D\uDE00`).
pub const escape_raw_bytes_max: u32 = 12;
/// Raw bytes one piece can span: every decoded byte plain, plus the worst escapes.
pub const piece_raw_bytes_max: u32 = piece_bytes_max + escape_marks_max * escape_raw_bytes_max;
/// Bytes of location text (`$.a.b[3]`, `1.4.2`); deeper paths are cut and flagged.
pub const path_bytes_max: u32 = 256;
/// Nesting (JSON containers, protobuf messages) a walker accepts before it
/// refuses the body with `error.TooDeep`.
pub const depth_max: u32 = 64;
/// Bytes of a key name kept as context for the value that follows it.
pub const context_key_bytes_max: u32 = 64;
/// Raw bytes a JSON member (its separator, key and value) may span and still be
/// dropped as a whole; a longer member is masked in place instead.
pub const member_hold_bytes_max: u32 = 2 * piece_raw_bytes_max;
/// Largest held-back tail any walker asks for: an unfinished member, plus the
/// piece before the current one whose last edit may reach into it.
pub const hold_bytes_max: u32 = member_hold_bytes_max + piece_raw_bytes_max;

comptime {
    assert(overlap_bytes * 2 < piece_bytes_max);
    assert(escape_raw_bytes_max * escape_marks_max < std.math.maxInt(u32));
    assert(context_key_bytes_max <= path_bytes_max);
}

/// What a value is, for policies that scan only some kinds (e.g. keys or numbers).
pub const Kind = enum(u8) {
    /// A JSON object key or a form/query/cookie name.
    key,
    /// A JSON string, a form/query value, a header or cookie value.
    string,
    /// A JSON number, as written.
    number,
    /// Plain text, or an SSE data line that is not JSON.
    text,
    /// A protobuf length-delimited field that is not valid UTF-8 text.
    bytes,
};

/// How decoded bytes were written in the raw stream, so a replacement can be
/// written back in the same form.
pub const Encoding = enum(u8) {
    /// Inside a JSON string: replacements are JSON-escaped.
    json_string,
    /// A JSON number token: a replacement that is not a number becomes a string.
    json_number,
    /// application/x-www-form-urlencoded: replacements are percent-encoded.
    form_urlencoded,
    /// Raw bytes are the decoded bytes (text, SSE text, protobuf, cookies).
    identity,
    /// A protobuf varint reported as decimal text: a replacement must be a
    /// number again (it is re-encoded as a varint), or the field is dropped.
    protobuf_varint,
};

/// One escape sequence in a piece: `decoded_len` decoded bytes at `decoded_start`
/// came from `raw_len` raw bytes at `raw_offset` (relative to `RawMap.start`).
/// Bytes between marks are copied one to one. A mark with `decoded_len` 0 is a
/// gap: raw bytes that are not part of the value (the framing between the SSE
/// events a streamed value is joined from); an edit must not span one.
pub const EscapeMark = struct {
    decoded_start: u32,
    raw_offset: u32,
    raw_len: u32,
    decoded_len: u8,

    pub fn isGap(self: EscapeMark) bool {
        return self.decoded_len == 0;
    }
};

/// Maps decoded byte offsets of a piece to absolute raw offsets in the stream.
pub const RawMap = struct {
    /// Absolute raw offset of decoded byte 0.
    start: u64,
    /// Absolute raw offset just past the piece's last raw byte.
    end: u64,
    /// Escape sequences in decoded order; empty when raw bytes are the decoded bytes.
    marks: []const EscapeMark,

    pub fn identity(start: u64, len: usize) RawMap {
        return .{ .start = start, .end = start + len, .marks = &.{} };
    }

    /// Raw offset where the character holding decoded byte `decoded` starts.
    pub fn rawStartOf(self: RawMap, decoded: u32) u64 {
        const index = self.markAtOrBefore(decoded) orelse return self.start + decoded;
        const mark = self.marks[index];
        if (decoded < mark.decoded_start + mark.decoded_len) return self.start + mark.raw_offset;
        return self.start + mark.raw_offset + mark.raw_len + (decoded - mark.decoded_start - mark.decoded_len);
    }

    /// Raw offset just past the character holding decoded byte `decoded_end - 1`.
    pub fn rawEndOf(self: RawMap, decoded_end: u32) u64 {
        if (decoded_end == 0) return self.start;
        const last = decoded_end - 1;
        const index = self.markAtOrBefore(last) orelse return self.start + decoded_end;
        const mark = self.marks[index];
        if (last < mark.decoded_start + mark.decoded_len) return self.start + mark.raw_offset + mark.raw_len;
        return self.rawStartOf(last) + 1;
    }

    /// First decoded offset whose raw start is at or past `raw` (piece length if none).
    pub fn decodedAtOrAfter(self: RawMap, raw: u64, decoded_len: u32) u32 {
        var low: u32 = 0;
        var high: u32 = decoded_len;
        // Raw starts grow with decoded offsets, so a binary search is exact.
        while (low < high) {
            const middle = low + (high - low) / 2;
            if (self.rawStartOf(middle) < raw) low = middle + 1 else high = middle;
        }
        return low;
    }

    /// The first gap strictly inside decoded `(from, to)`, as its decoded offset.
    pub fn gapInside(self: RawMap, from: u32, to: u32) ?u32 {
        for (self.marks) |mark| {
            if (mark.decoded_start >= to) return null;
            if (mark.isGap() and mark.decoded_start > from) return mark.decoded_start;
        }
        return null;
    }

    fn markAtOrBefore(self: RawMap, decoded: u32) ?usize {
        var low: usize = 0;
        var high: usize = self.marks.len;
        while (low < high) {
            const middle = low + (high - low) / 2;
            if (self.marks[middle].decoded_start <= decoded) low = middle + 1 else high = middle;
        }
        return if (low == 0) null else low - 1;
    }
};

/// Which part of a long value a report holds.
pub const Piece = struct {
    index: u32 = 0,
    /// Leading bytes repeated from the previous piece (0 for the first).
    overlap: u32 = 0,
    /// True when this piece ends the value.
    last: bool = true,
};

/// The whole JSON member (`,"key": value`) or array element a value belongs to,
/// present only when it can still be dropped: it is held back and its value is
/// a scalar in one piece.
pub const Member = struct {
    /// Absolute offset of the separator before the member, or of its first byte
    /// when it is the first in its container.
    start: u64,
    /// Absolute offset just past the value token (closing quote included).
    end: u64,
    /// First in its container: dropping it must also drop the separator after it.
    first: bool,
    /// The byte between members: ',' in JSON, '&' in forms.
    separator: u8,
};

/// One scannable value (or one piece of a long one) as a walker reports it.
pub const Value = struct {
    kind: Kind,
    encoding: Encoding,
    /// Decoded bytes; valid only during the `onValue` call.
    bytes: []const u8,
    path: []const u8,
    /// True when the path was longer than `path_bytes_max` and is cut short.
    path_truncated: bool = false,
    /// Nearest key name (JSON key, form name, header name, protobuf field name
    /// or number); empty when there is none. At most `context_key_bytes_max` bytes.
    context_key: []const u8 = "",
    piece: Piece = .{},
    raw: RawMap,
    /// Absolute raw range of the whole token, quotes included (JSON); equals the
    /// raw map's range for other encodings.
    token_start: u64,
    token_end: u64,
    member: ?Member = null,
    /// Joined from parts in several SSE events: the raw map has gaps between them
    /// and other values' bytes (ids, model names) may lie in those gaps.
    joined: bool = false,

    /// Whether this piece is the one to act on a match ending at `end`: it
    /// ends at or past the overlap's end (one ending inside the overlap ended
    /// before the previous piece's end, so that piece had it) and, unless this
    /// is the last piece, before the piece's end (there it may be cut short;
    /// the next piece, which repeats the overlap, sees it whole).
    pub fn owns(self: *const Value, end: u32) bool {
        assert(end <= self.bytes.len);
        return end >= self.piece.overlap and (self.piece.last or end < self.bytes.len);
    }
};

/// Reports bytes whose raw form is themselves (protobuf strings, header and
/// cookie values) as `template` describes them, in overlapping pieces when
/// they are longer than `piece_bytes_max`. `start` is the absolute offset of
/// `bytes[0]`; the template's bytes, piece and raw map are filled in here.
pub fn reportContiguous(template: Value, bytes: []const u8, start: u64, sink: anytype) !void {
    var value = template;
    var piece_start: usize = 0;
    value.piece = .{};
    // Each turn advances by at least piece_bytes_max - overlap_bytes - 3 bytes.
    while (true) {
        const piece_end = @min(piece_start + piece_bytes_max, bytes.len);
        value.piece.last = piece_end == bytes.len;
        value.bytes = bytes[piece_start..piece_end];
        value.raw = RawMap.identity(start + piece_start, piece_end - piece_start);
        try sink.onValue(&value);
        if (value.piece.last) return;
        const next = characterStart(bytes, piece_end - overlap_bytes);
        assert(next > piece_start);
        value.piece = .{ .index = value.piece.index + 1, .overlap = @intCast(piece_end - next), .last = false };
        piece_start = next;
    }
}

/// `offset` moved back (at most 3 bytes) to the start of the UTF-8 character it is in.
pub fn characterStart(bytes: []const u8, offset: usize) usize {
    var start = offset;
    var steps: u32 = 0;
    while (steps < 3 and start > 0 and (bytes[start] & 0xC0) == 0x80) : (steps += 1) start -= 1;
    return start;
}

/// Where a walker stopped on bad input: the offset and a reason a person can act on.
pub const Diagnostic = struct {
    offset: u64 = 0,
    reason: []const u8 = "",

    pub fn set(self: *Diagnostic, offset: u64, reason: []const u8) void {
        self.offset = offset;
        self.reason = reason;
    }
};

/// A sink that keeps copies of what it was told, for tests across walkers.
pub fn RecordingSink(comptime values_max: usize, comptime bytes_max: usize) type {
    return struct {
        const Self = @This();
        pub const Record = struct {
            kind: Kind,
            bytes: []const u8,
            path: []const u8,
            context_key: []const u8,
            piece: Piece,
            raw_start: u64,
            raw_end: u64,
        };

        records: [values_max]Record = undefined,
        count: usize = 0,
        storage: [bytes_max]u8 = undefined,
        used: usize = 0,

        pub fn onValue(self: *Self, value: *const Value) error{SinkFull}!void {
            if (self.count == values_max) return error.SinkFull;
            self.records[self.count] = .{
                .kind = value.kind,
                .bytes = try self.keep(value.bytes),
                .path = try self.keep(value.path),
                .context_key = try self.keep(value.context_key),
                .piece = value.piece,
                .raw_start = value.raw.start,
                .raw_end = value.raw.end,
            };
            self.count += 1;
        }

        fn keep(self: *Self, bytes: []const u8) error{SinkFull}![]const u8 {
            if (self.used + bytes.len > bytes_max) return error.SinkFull;
            const copy = self.storage[self.used .. self.used + bytes.len];
            @memcpy(copy, bytes);
            self.used += bytes.len;
            return copy;
        }

        pub fn values(self: *const Self) []const Record {
            return self.records[0..self.count];
        }

        /// The decoded value at `path`, joining pieces (overlaps removed).
        pub fn joined(self: *const Self, path: []const u8, out: []u8) []const u8 {
            var len: usize = 0;
            for (self.values()) |record| {
                if (!std.mem.eql(u8, record.path, path)) continue;
                const fresh = record.bytes[record.piece.overlap..];
                @memcpy(out[len .. len + fresh.len], fresh);
                len += fresh.len;
            }
            return out[0..len];
        }
    };
}

/// Test helper: walking `input` split in two at every offset reports the same
/// values (bytes, path, raw range) as walking it whole. `make` builds a fresh walker.
pub fn expectSameAtEverySplit(comptime Walker: type, make: *const fn () Walker, input: []const u8) !void {
    const Recorder = RecordingSink(64, 64 * 1024);
    var whole = Recorder{};
    var whole_walker = make();
    try whole_walker.feed(input, &whole);
    try whole_walker.finish(&whole);
    var split: usize = 0;
    while (split <= input.len) : (split += 1) {
        var recorder = Recorder{};
        var parts = make();
        try parts.feed(input[0..split], &recorder);
        try parts.feed(input[split..], &recorder);
        try parts.finish(&recorder);
        try std.testing.expectEqual(whole.count, recorder.count);
        for (whole.values(), recorder.values()) |expected, actual| {
            try std.testing.expectEqualStrings(expected.bytes, actual.bytes);
            try std.testing.expectEqualStrings(expected.path, actual.path);
            try std.testing.expectEqual(expected.raw_start, actual.raw_start);
            try std.testing.expectEqual(expected.raw_end, actual.raw_end);
        }
    }
}

test "raw map: escapes shift raw offsets and stay atomic" {
    // Raw `a\"b\u00e9c`: decoded `a"b` + e9 as two bytes + `c`.
    const marks = [_]EscapeMark{
        .{ .decoded_start = 1, .decoded_len = 1, .raw_offset = 1, .raw_len = 2 },
        .{ .decoded_start = 3, .decoded_len = 2, .raw_offset = 4, .raw_len = 6 },
    };
    const map = RawMap{ .start = 100, .end = 111, .marks = &marks };
    try std.testing.expectEqual(@as(u64, 100), map.rawStartOf(0));
    try std.testing.expectEqual(@as(u64, 101), map.rawStartOf(1));
    try std.testing.expectEqual(@as(u64, 103), map.rawStartOf(2));
    try std.testing.expectEqual(@as(u64, 104), map.rawStartOf(3));
    try std.testing.expectEqual(@as(u64, 104), map.rawStartOf(4));
    try std.testing.expectEqual(@as(u64, 110), map.rawStartOf(5));
    try std.testing.expectEqual(@as(u64, 103), map.rawEndOf(2));
    try std.testing.expectEqual(@as(u64, 110), map.rawEndOf(4));
    try std.testing.expectEqual(@as(u64, 110), map.rawEndOf(5));
    try std.testing.expectEqual(@as(u64, 111), map.rawEndOf(6));
    try std.testing.expectEqual(@as(u32, 3), map.decodedAtOrAfter(104, 6));
    try std.testing.expectEqual(@as(u32, 5), map.decodedAtOrAfter(105, 6));
}

test "raw map: identity" {
    const map = RawMap.identity(7, 5);
    try std.testing.expectEqual(@as(u64, 9), map.rawStartOf(2));
    try std.testing.expectEqual(@as(u64, 12), map.rawEndOf(5));
}
