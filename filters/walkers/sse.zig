//! Server-sent events walker (text/event-stream, the WHATWG HTML standard's
//! format, as LLM APIs stream their output). Only `data` fields are scanned;
//! other fields and comments pass by. An event whose first data line starts
//! with '{', or with '[' and then a byte that can follow it in JSON (so the
//! common `data: [DONE]` terminator is text), is JSON: its data lines are
//! walked as one JSON document
//! (lines join with a line break, as the standard joins them), with JSON paths
//! and key context. Any other data line is text.
//!
//! LLM APIs stream a reply one token per event, so a value can be split over
//! events. Consecutive events' values are joined into one logical value:
//!   - text data lines, one after another (also across events), with nothing
//!     between them (a token stream has no separator; lines of one event are
//!     joined the same way, so a match may cross a line break);
//!   - JSON strings at the same path under a `delta` member (OpenAI
//!     `$.choices[0].delta.content`, Anthropic `$.delta.text`, tool-call
//!     arguments), except discriminators (`type`, `role`, `id`). Other fields
//!     (ids, model names) are values of their own, never joined.
//! A join ends with the first event that does not continue it. The framing
//! between the joined parts is a gap in the value's raw map, so a mask edits
//! each event's part on its own and every event keeps its framing. A joined
//! value is reported in overlapping pieces like any long value; while it is
//! open its start is held back. The hold stays bounded: a join whose raw span
//! would pass `join_raw_max` moves on to its next piece, and one whose parts
//! are further apart than that is ended (a value split across such a gap is
//! two values; token streams never come close to it).

const std = @import("std");
const assert = std.debug.assert;
const walker = @import("walker.zig");
const json = @import("json.zig");
const PieceBuffer = @import("piece_buffer.zig").PieceBuffer;
const in_place = @import("in_place.zig");

const Line = enum(u8) { field, data, ignore };
/// `bracket`: the event's data began with '[', decided by the byte after it.
const EventMode = enum(u8) { none, bracket, json, text };

/// Longest field name compared ("data"); longer names are other fields.
const field_name_max = 8;
/// Raw bytes an open join may span (its held-back tail); within the rewriter's
/// `hold_bytes_max`, leaving room for one more piece of the current event.
pub const join_raw_max: u64 = walker.member_hold_bytes_max;
/// Path of joined text data lines.
const text_path = "data";

comptime {
    assert(join_raw_max + walker.piece_raw_bytes_max <= walker.hold_bytes_max);
}

pub const SseWalker = struct {
    json_options: json.Options,
    json: json.JsonWalker,
    /// The joined value being collected (text lines or a JSON delta string).
    join: PieceBuffer = .{},
    join_kind: walker.Kind = .text,
    join_encoding: walker.Encoding = .identity,
    join_path: [walker.path_bytes_max]u8 = undefined,
    join_path_len: u32 = 0,
    join_path_truncated: bool = false,
    join_key: [walker.context_key_bytes_max]u8 = undefined,
    join_key_len: u32 = 0,
    /// The current event added to the join; an event that does not ends it.
    join_fed: bool = false,
    line: Line = .field,
    field: [field_name_max]u8 = undefined,
    field_len: u8 = 0,
    field_too_long: bool = false,
    /// After ':' of a data field: one space there is not part of the value.
    skip_space: bool = false,
    /// A '\r' ended the last line; a '\n' right after it belongs to it.
    skip_lf: bool = false,
    event: EventMode = .none,
    bracket_at: u64 = 0,
    position: u64 = 0,

    pub fn init(json_options: json.Options) SseWalker {
        return .{ .json_options = json_options, .json = json.JsonWalker.init(json_options) };
    }

    /// `init` where the walker lives (~31 KiB, mostly scratch): no copy of it, or of
    /// its JSON walker, in a wasm stack frame.
    pub fn reset(self: *SseWalker, json_options: json.Options) void {
        in_place.initDefaults(self);
        self.json_options = json_options;
        self.json.reset(json_options);
        assert(self.event == .none and !self.join.active);
    }

    pub fn feed(self: *SseWalker, chunk: []const u8, sink: anytype) !void {
        var index: usize = 0;
        while (index < chunk.len) {
            const consumed = try self.step(chunk[index..], sink);
            assert(consumed > 0);
            index += consumed;
            self.position += consumed;
        }
        // Events between the join's parts that are too long to hold end it.
        if (self.join.active and self.position - self.join.raw_start > join_raw_max) try self.closeJoin(sink);
    }

    /// End of stream: an event without its closing blank line is still scanned.
    pub fn finish(self: *SseWalker, sink: anytype) !void {
        try self.endLine(sink);
        try self.dispatch(sink);
        try self.closeJoin(sink);
    }

    pub fn holdFrom(self: *SseWalker) u64 {
        var hold = self.position;
        if (self.event == .json) hold = @min(hold, self.json.holdFrom());
        if (self.join.active) hold = @min(hold, self.join.raw_start);
        return hold;
    }

    fn step(self: *SseWalker, rest: []const u8, sink: anytype) !usize {
        const byte = rest[0];
        if (self.skip_lf) {
            self.skip_lf = false;
            if (byte == '\n') return 1;
        }
        if (byte == '\r' or byte == '\n') {
            const blank = self.line == .field and self.field_len == 0 and !self.field_too_long;
            try self.endLine(sink);
            if (blank) try self.dispatch(sink);
            self.skip_lf = byte == '\r';
            return 1;
        }
        switch (self.line) {
            .field => {
                if (byte == ':') {
                    const is_data = !self.field_too_long and std.mem.eql(u8, self.field[0..self.field_len], "data");
                    self.line = if (is_data) .data else .ignore;
                    self.skip_space = true;
                } else if (self.field_len < field_name_max) {
                    self.field[self.field_len] = byte;
                    self.field_len += 1;
                } else {
                    self.field_too_long = true;
                }
                return 1;
            },
            .ignore => return lineRun(rest),
            .data => {
                if (self.skip_space) {
                    self.skip_space = false;
                    if (byte == ' ') return 1;
                }
                const run = lineRun(rest);
                try self.onData(rest[0..run], sink);
                return run;
            },
        }
    }

    fn onData(self: *SseWalker, bytes: []const u8, sink: anytype) !void {
        assert(bytes.len > 0);
        var rest = bytes;
        if (self.event == .none) {
            if (bytes[0] == '[') {
                self.event = .bracket;
                self.bracket_at = self.position;
                rest = bytes[1..];
                if (rest.len == 0) return;
            } else if (bytes[0] == '{') {
                self.beginJson();
            } else {
                self.event = .text;
            }
        }
        const at = self.position + (bytes.len - rest.len);
        if (self.event == .bracket) try self.decideBracket(rest[0], sink);
        if (self.event == .json) {
            var join_sink = JoinSink(@TypeOf(sink)){ .sse = self, .inner = sink };
            return self.json.feedAt(rest, at, &join_sink);
        }
        try self.appendText(rest, at, sink);
    }

    fn beginJson(self: *SseWalker) void {
        self.event = .json;
        self.json.reset(self.json_options);
    }

    /// After a leading '[': JSON if `next` can follow it in JSON (or the line
    /// ended, a multi-line array), else text; the '[' goes to whichever it is.
    fn decideBracket(self: *SseWalker, next: ?u8, sink: anytype) !void {
        assert(self.event == .bracket);
        const is_json = if (next) |byte| switch (byte) {
            '{', '[', ']', '"', '-', '0'...'9', 't', 'f', 'n', ' ', '\t' => true,
            else => false,
        } else true;
        if (is_json) {
            self.beginJson();
            var join_sink = JoinSink(@TypeOf(sink)){ .sse = self, .inner = sink };
            return self.json.feedAt("[", self.bracket_at, &join_sink);
        }
        self.event = .text;
        try self.appendText("[", self.bracket_at, sink);
    }

    /// Text data bytes (raw = decoded) at absolute offset `at` join the text value.
    fn appendText(self: *SseWalker, bytes: []const u8, at: u64, sink: anytype) !void {
        const is_text_join = self.join.active and self.join_kind == .text;
        if (!is_text_join) try self.openJoin(.text, .identity, text_path, text_path, false, at, sink);
        try self.joinGapTo(at, sink);
        var rest = bytes;
        while (rest.len > 0) {
            try self.ensureRoom(1, sink);
            const take = @min(rest.len, self.join.room());
            self.join.appendPlain(rest[0..take]);
            rest = rest[take..];
        }
        self.join_fed = true;
    }

    fn endLine(self: *SseWalker, sink: anytype) !void {
        if (self.event == .bracket) try self.decideBracket(null, sink);
        self.line = .field;
        self.field_len = 0;
        self.field_too_long = false;
        self.skip_space = false;
    }

    fn dispatch(self: *SseWalker, sink: anytype) !void {
        if (self.event == .json) {
            var join_sink = JoinSink(@TypeOf(sink)){ .sse = self, .inner = sink };
            try self.json.finish(&join_sink);
        }
        // An event with data that did not continue the join ends it; one with
        // no data (a comment, a keep-alive) is not an event for the join.
        if (self.event != .none and !self.join_fed) try self.closeJoin(sink);
        self.join_fed = false;
        self.event = .none;
    }

    /// Whether a JSON value is part of a streamed reply: a string under a
    /// `delta` member that is not a discriminator.
    fn isJoinable(value: *const walker.Value) bool {
        if (value.kind != .string or value.path_truncated) return false;
        for ([_][]const u8{ "type", "role", "id" }) |key| {
            if (std.mem.eql(u8, value.context_key, key)) return false;
        }
        return std.mem.indexOf(u8, value.path, ".delta.") != null or std.mem.endsWith(u8, value.path, ".delta");
    }

    /// A JSON value from the current event: joined, or passed on as it is.
    fn onJsonValue(self: *SseWalker, value: *const walker.Value, sink: anytype) !void {
        if (!isJoinable(value)) return sink.onValue(value);
        const same_path = self.join.active and self.join_kind == .string and
            std.mem.eql(u8, self.join_path[0..self.join_path_len], value.path);
        // Only the value's fresh bytes: a later piece repeats the overlap.
        const from = value.piece.overlap;
        const raw_start = value.raw.rawStartOf(from);
        if (!same_path) {
            try self.openJoin(.string, value.encoding, value.path, value.context_key, false, raw_start, sink);
        }
        self.join_fed = true;
        if (from == value.bytes.len) return;
        try self.joinGapTo(raw_start, sink);
        try self.appendMapped(value, from, sink);
    }

    /// Copies decoded bytes `from..` of `value` with their escapes into the join.
    fn appendMapped(self: *SseWalker, value: *const walker.Value, from: u32, sink: anytype) !void {
        const bytes = value.bytes;
        const marks = value.raw.marks;
        var index: u32 = from;
        var mark_index: usize = 0;
        while (mark_index < marks.len and marks[mark_index].decoded_start < index) mark_index += 1;
        while (index < bytes.len) {
            if (mark_index < marks.len and marks[mark_index].decoded_start == index) {
                const mark = marks[mark_index];
                assert(!mark.isGap() and self.join.raw_next == value.raw.start + mark.raw_offset);
                try self.ensureRoom(mark.decoded_len, sink);
                self.join.appendEscape(bytes[index..][0..mark.decoded_len], mark.raw_len);
                index += mark.decoded_len;
                mark_index += 1;
            } else {
                const run_end: u32 = if (mark_index < marks.len) marks[mark_index].decoded_start else @intCast(bytes.len);
                try self.ensureRoom(1, sink);
                const take = @min(run_end - index, self.join.room());
                self.join.appendPlain(bytes[index..][0..take]);
                index += take;
            }
        }
    }

    /// Opens a join for a value starting at raw `at`, ending the open one.
    fn openJoin(self: *SseWalker, kind: walker.Kind, encoding: walker.Encoding, path: []const u8, key: []const u8, truncated: bool, at: u64, sink: anytype) !void {
        try self.closeJoin(sink);
        assert(path.len <= self.join_path.len and key.len <= self.join_key.len);
        @memcpy(self.join_path[0..path.len], path);
        self.join_path_len = @intCast(path.len);
        self.join_path_truncated = truncated;
        @memcpy(self.join_key[0..key.len], key);
        self.join_key_len = @intCast(key.len);
        self.join_kind = kind;
        self.join_encoding = encoding;
        self.join.begin(at);
    }

    /// Skips the raw bytes between the join's last part and `at` as a gap;
    /// past `join_raw_max` the join moves on to its next piece, or ends.
    fn joinGapTo(self: *SseWalker, at: u64, sink: anytype) !void {
        assert(self.join.active and at >= self.join.raw_next);
        if (at == self.join.raw_next) return;
        if (at - self.join.raw_start > join_raw_max / 2) try self.nextPiece(at, sink);
        if (at - self.join.raw_start > join_raw_max / 2) {
            try self.restartJoin(at, sink);
            return;
        }
        try self.ensureRoom(0, sink);
        if (self.join.len == 0 and self.join.piece_index == 0) {
            // Nothing collected yet: the value simply starts later.
            self.join.raw_start = at;
            self.join.raw_next = at;
            return;
        }
        self.join.appendGap(at - self.join.raw_next);
    }

    /// Makes room for `decoded_len` bytes (0: a gap) and a mark: the next
    /// piece, or when even that has no mark left, a new value.
    fn ensureRoom(self: *SseWalker, decoded_len: u32, sink: anytype) !void {
        if (self.join.hasRoomForEscape(@max(decoded_len, 1))) return;
        try self.nextPiece(self.join.raw_next, sink);
        if (self.join.hasRoomForEscape(@max(decoded_len, 1))) return;
        try self.restartJoin(self.join.raw_next, sink);
    }

    /// Reports the piece so far and keeps an overlap that starts no more than
    /// half of `join_raw_max` before raw `at`.
    fn nextPiece(self: *SseWalker, at: u64, sink: anytype) !void {
        if (self.join.len == 0) return;
        try self.emitJoin(false, sink);
        self.join.startNextPieceWithin(at -| join_raw_max / 2);
    }

    /// Ends the join and opens one with the same path at raw `at`.
    fn restartJoin(self: *SseWalker, at: u64, sink: anytype) !void {
        try self.closeJoin(sink);
        self.join.begin(at);
    }

    fn closeJoin(self: *SseWalker, sink: anytype) !void {
        if (!self.join.active) return;
        if (self.join.len > 0 or self.join.piece_index > 0) try self.emitJoin(true, sink);
        self.join.end();
    }

    fn emitJoin(self: *SseWalker, last: bool, sink: anytype) !void {
        const value = walker.Value{
            .kind = self.join_kind,
            .encoding = self.join_encoding,
            .bytes = self.join.view(),
            .path = self.join_path[0..self.join_path_len],
            .path_truncated = self.join_path_truncated,
            .context_key = self.join_key[0..self.join_key_len],
            .piece = self.join.piece(last),
            .raw = self.join.map(),
            .token_start = self.join.raw_start,
            .token_end = self.join.raw_next,
            .joined = true,
        };
        try sink.onValue(&value);
    }
};

/// Sits between an event's JSON walker and the body's sink, so delta strings
/// join the open value.
fn JoinSink(comptime Inner: type) type {
    return struct {
        sse: *SseWalker,
        inner: Inner,

        pub fn onValue(self: *@This(), value: *const walker.Value) !void {
            try self.sse.onJsonValue(value, self.inner);
        }
    };
}

/// Bytes up to (not including) the next line break.
fn lineRun(rest: []const u8) usize {
    var run: usize = 0;
    while (run < rest.len and rest[run] != '\r' and rest[run] != '\n') run += 1;
    assert(run > 0);
    return run;
}

const testing = std.testing;
const Recorder = walker.RecordingSink(32, 16 * 1024);

const llm_stream =
    "event: message\r\n" ++
    ": keep-alive comment with 4111111111111111\r\n" ++
    "data: {\"choices\": [{\"delta\": {\"content\": \"card 4111 1111\"}}]}\r\n\r\n" ++
    "data:{\"choices\": [{\"delta\": \r\n" ++
    "data: {\"content\": \"\\u0031234\"}}]}\n\n" ++
    "id: 7\n" ++
    "data: plain text line\n" ++
    "data: second line\n\n" ++
    "data: [DONE]\n\n";

test "LLM stream: JSON data walked with paths, text lines as text, other fields ignored" {
    var recorder = Recorder{};
    var sse = SseWalker.init(.{ .scan_keys = false });
    try sse.feed(llm_stream, &recorder);
    try sse.finish(&recorder);
    const values = recorder.values();
    try testing.expectEqual(@as(usize, 2), values.len);
    // The two delta events are one value; the text events another.
    try testing.expectEqualStrings("card 4111 11111234", values[0].bytes);
    try testing.expectEqualStrings("$.choices[0].delta.content", values[0].path);
    try testing.expectEqualStrings("content", values[0].context_key);
    try testing.expectEqualStrings("plain text linesecond line[DONE]", values[1].bytes);
    try testing.expectEqualStrings("data", values[1].path);
    // Raw offsets point into the stream.
    const at = std.mem.indexOf(u8, llm_stream, "card 4111 1111").?;
    try testing.expectEqual(@as(u64, at), values[0].raw_start);
    try testing.expectEqual(@as(u64, std.mem.indexOf(u8, llm_stream, "1234\"}").? + 4), values[0].raw_end);
}

const openai_stream =
    "data: {\"id\":\"c-1\",\"model\":\"m\",\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n" ++
    "data: {\"id\":\"c-1\",\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"pay 4111 11\"}}]}\n\n" ++
    ": keep-alive\n\n" ++
    "data: {\"id\":\"c-1\",\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"11 1111 \\u0031111\"}}]}\n\n" ++
    "data: {\"id\":\"c-1\",\"model\":\"m\",\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n" ++
    "data: [DONE]\n\n";

test "delta strings join across events; ids, roles and model names do not" {
    var recorder = Recorder{};
    var sse = SseWalker.init(.{ .scan_keys = false });
    try sse.feed(openai_stream, &recorder);
    try sse.finish(&recorder);
    var joined: [64]u8 = undefined;
    try testing.expectEqualStrings("pay 4111 1111 1111 1111", recorder.joined("$.choices[0].delta.content", &joined));
    var ids: usize = 0;
    for (recorder.values()) |record| {
        if (std.mem.eql(u8, record.path, "$.id")) {
            ids += 1;
            try testing.expectEqualStrings("c-1", record.bytes);
        }
    }
    try testing.expectEqual(@as(usize, 4), ids);
}

test "a joined value maps each part back to its own event, gaps between" {
    const Capture = struct {
        map_ok: bool = false,

        pub fn onValue(self: *@This(), value: *const walker.Value) !void {
            if (!std.mem.eql(u8, value.path, "$.choices[0].delta.content")) return;
            const second = "pay 4111 11".len;
            // The first part ends in its own event; the second starts in the next.
            const first_end: usize = @intCast(value.raw.rawEndOf(@intCast(second)));
            const second_start: usize = @intCast(value.raw.rawStartOf(@intCast(second)));
            try testing.expectEqualStrings("11\"", openai_stream[first_end - 2 .. first_end + 1]);
            try testing.expectEqualStrings("11 1111", openai_stream[second_start .. second_start + 7]);
            try testing.expectEqual(@as(?u32, @intCast(second)), value.raw.gapInside(0, @intCast(value.bytes.len)));
            // The escaped digit maps to its six raw bytes.
            const escaped = std.mem.lastIndexOfScalar(u8, value.bytes, '1').? - 3;
            const escape_start: usize = @intCast(value.raw.rawStartOf(@intCast(escaped)));
            const escape_end: usize = @intCast(value.raw.rawEndOf(@intCast(escaped + 1)));
            try testing.expectEqualStrings("\\u0031", openai_stream[escape_start..escape_end]);
            self.map_ok = true;
        }
    };
    var capture = Capture{};
    var sse = SseWalker.init(.{ .scan_keys = false });
    try sse.feed(openai_stream, &capture);
    try sse.finish(&capture);
    try testing.expect(capture.map_ok);
}

test "a long token stream is joined in bounded, overlapping pieces" {
    var recorder = walker.RecordingSink(64, 64 * 1024){};
    var sse = SseWalker.init(.{ .scan_keys = false });
    const event = "data: {\"delta\":{\"text\":\"abcdefgh\"}" ++ (" " ** 200) ++ "}\n\n";
    var index: usize = 0;
    while (index < 400) : (index += 1) {
        try sse.feed(event, &recorder);
        // The held-back tail never grows past the bound.
        try testing.expect(sse.position - sse.holdFrom() <= join_raw_max + event.len);
    }
    try sse.finish(&recorder);
    var joined: [8 * 400]u8 = undefined;
    const text = recorder.joined("$.delta.text", &joined);
    try testing.expectEqual(@as(usize, 8 * 400), text.len);
    try testing.expectEqualStrings("abcdefgh" ** 400, text);
}

test "split at every offset: same values and offsets" {
    const make = struct {
        fn walker_() SseWalker {
            return SseWalker.init(.{ .scan_keys = false });
        }
    }.walker_;
    try walker.expectSameAtEverySplit(SseWalker, &make, llm_stream);
}

test "a JSON event that does not parse is refused" {
    var recorder = Recorder{};
    var sse = SseWalker.init(.{});
    try testing.expectError(error.JsonSyntax, sse.feed("data: {\"a\": oops}\n\n", &recorder));
}
