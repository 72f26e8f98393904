//! Server-sent events walker (text/event-stream, the WHATWG HTML standard's
//! format, as LLM APIs stream their output). Only `data` fields are scanned;
//! other fields and comments pass by. An event whose first data line starts
//! with '{', or with '[' and then a byte that can follow it in JSON (so the
//! common `data: [DONE]` terminator is text), is JSON: its data lines are
//! walked as one JSON document
//! (lines join with a line break, as the standard joins them), with JSON paths
//! and key context. Any other data line is text, one value per line.
//!
//! Each event is scanned on its own: a value an LLM streams across several
//! events (one token per event) is several values here.

const std = @import("std");
const assert = std.debug.assert;
const walker = @import("walker.zig");
const json = @import("json.zig");
const PieceBuffer = @import("piece_buffer.zig").PieceBuffer;

const Line = enum(u8) { field, data, ignore };
/// `bracket`: the event's data began with '[', decided by the byte after it.
const EventMode = enum(u8) { none, bracket, json, text };

/// Longest field name compared ("data"); longer names are other fields.
const field_name_max = 8;

pub const SseWalker = struct {
    json_options: json.Options,
    json: json.JsonWalker,
    text: PieceBuffer = .{},
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

    pub fn feed(self: *SseWalker, chunk: []const u8, sink: anytype) !void {
        var index: usize = 0;
        while (index < chunk.len) {
            const consumed = try self.step(chunk[index..], sink);
            assert(consumed > 0);
            index += consumed;
            self.position += consumed;
        }
    }

    /// End of stream: an event without its closing blank line is still scanned.
    pub fn finish(self: *SseWalker, sink: anytype) !void {
        try self.endLine(sink);
        try self.dispatch(sink);
    }

    pub fn holdFrom(self: *SseWalker) u64 {
        if (self.text.active) return self.text.raw_start;
        if (self.event == .json) {
            const hold = self.json.holdFrom();
            if (hold < self.json.position) return hold;
        }
        return self.position;
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
        if (self.event == .json) return self.json.feedAt(rest, at, sink);
        if (!self.text.active) self.text.begin(at);
        try self.appendText(rest, sink);
    }

    fn beginJson(self: *SseWalker) void {
        self.event = .json;
        self.json = json.JsonWalker.init(self.json_options);
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
            return self.json.feedAt("[", self.bracket_at, sink);
        }
        self.event = .text;
        self.text.begin(self.bracket_at);
        try self.appendText("[", sink);
    }

    fn appendText(self: *SseWalker, bytes: []const u8, sink: anytype) !void {
        var rest = bytes;
        while (rest.len > 0) {
            if (self.text.room() == 0) {
                try self.emitText(false, sink);
                self.text.startNextPiece();
            }
            const take = @min(rest.len, self.text.room());
            self.text.appendPlain(rest[0..take]);
            rest = rest[take..];
        }
    }

    fn endLine(self: *SseWalker, sink: anytype) !void {
        if (self.event == .bracket) try self.decideBracket(null, sink);
        if (self.text.active) {
            if (self.text.len > 0 or self.text.piece_index > 0) try self.emitText(true, sink);
            self.text.end();
        }
        self.line = .field;
        self.field_len = 0;
        self.field_too_long = false;
        self.skip_space = false;
    }

    fn dispatch(self: *SseWalker, sink: anytype) !void {
        if (self.event == .json) try self.json.finish(sink);
        self.event = .none;
    }

    fn emitText(self: *SseWalker, last: bool, sink: anytype) !void {
        const value = walker.Value{
            .kind = .text,
            .encoding = .identity,
            .bytes = self.text.view(),
            .path = "data",
            .context_key = "data",
            .piece = self.text.piece(last),
            .raw = self.text.map(),
            .token_start = self.text.raw_start,
            .token_end = self.text.raw_next,
        };
        try sink.onValue(&value);
    }
};

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
    try testing.expectEqual(@as(usize, 5), values.len);
    try testing.expectEqualStrings("card 4111 1111", values[0].bytes);
    try testing.expectEqualStrings("$.choices[0].delta.content", values[0].path);
    try testing.expectEqualStrings("content", values[0].context_key);
    try testing.expectEqualStrings("1234", values[1].bytes);
    try testing.expectEqualStrings("$.choices[0].delta.content", values[1].path);
    try testing.expectEqualStrings("plain text line", values[2].bytes);
    try testing.expectEqualStrings("data", values[2].path);
    try testing.expectEqualStrings("second line", values[3].bytes);
    try testing.expectEqualStrings("[DONE]", values[4].bytes);
    // Raw offsets point into the stream.
    const at = std.mem.indexOf(u8, llm_stream, "card 4111 1111").?;
    try testing.expectEqual(@as(u64, at), values[0].raw_start);
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
