//! Streaming JSON walker (RFC 8259). Reports string values, object keys and,
//! when the policy asks, numbers, each with its JSON path (`$.user.cards[2]`),
//! the nearest key as context, and a raw map for rewriting.
//!
//! Strings are unescaped as they are read: `\n`, `\"`, `\uXXXX` and surrogate
//! pairs become UTF-8; a lone surrogate becomes U+FFFD (what browsers and
//! Python's decoder substitute), so the scanner always sees valid text for
//! valid input. Nesting is tracked on a fixed stack of `depth_max` levels;
//! deeper documents are refused with `error.TooDeep`, never recursed into.
//! Malformed JSON is refused with `error.JsonSyntax` and a diagnostic naming
//! the offset and what was expected, so the policy's failure mode applies
//! rather than the body slipping through half-read.

const std = @import("std");
const assert = std.debug.assert;
const walker = @import("walker.zig");
const Path = @import("path.zig").Path;
const PieceBuffer = @import("piece_buffer.zig").PieceBuffer;
const in_place = @import("in_place.zig");

pub const Options = struct {
    /// Report object keys (maps keyed by e-mail address are common).
    scan_keys: bool = true,
    /// Report numbers (a card or account number sent as a JSON number).
    scan_numbers: bool = false,
    /// Hold each member back until its value ends, so the masker may drop it.
    hold_members: bool = false,
    /// Accept a sequence of documents (JSON lines, NDJSON).
    multiple_documents: bool = false,
};

pub const Error = error{ JsonSyntax, TooDeep, NumberTooLong };

/// Longest JSON number token accepted; longer ones are refused, not truncated.
pub const number_bytes_max: u32 = 256;

const State = enum(u8) {
    value,
    array_first,
    object_first,
    object_key,
    colon,
    after_value,
    string,
    escape,
    unicode,
    surrogate_backslash,
    surrogate_u,
    number,
    literal,
    done,
};

const ContainerKind = enum(u8) { object, array };

const Level = struct {
    kind: ContainerKind,
    /// The path of the container itself; member segments go after it.
    path_mark: Path.Mark,
    /// Elements (arrays) or members (objects) completed so far.
    index: u32 = 0,
    member_start: u64 = 0,
    member_first: bool = false,
    member_active: bool = false,
    member_droppable: bool = false,
    key_len: u8 = 0,
};

pub const JsonWalker = struct {
    options: Options,
    state: State = .value,
    levels: [walker.depth_max]Level = undefined,
    keys: [walker.depth_max][walker.context_key_bytes_max]u8 = undefined,
    depth: u32 = 0,
    path: Path = .{},
    buffer: PieceBuffer = .{},
    number: [number_bytes_max]u8 = undefined,
    number_len: u32 = 0,
    string_is_key: bool = false,
    key_too_long_for_path: bool = false,
    token_start: u64 = 0,
    escape_start: u64 = 0,
    unicode_value: u16 = 0,
    unicode_digits: u8 = 0,
    high_surrogate_pending: bool = false,
    high_surrogate: u16 = 0,
    literal_rest: []const u8 = "",
    /// Absolute offset of the next byte.
    position: u64 = 0,
    documents: u32 = 0,
    diagnostic: walker.Diagnostic = .{},

    pub fn init(options: Options) JsonWalker {
        var self = JsonWalker{ .options = options };
        self.path.reset("$");
        return self;
    }

    /// `init` where the walker lives: its ~19 KiB are mostly scratch, and `x = init(...)`
    /// builds a copy in a wasm stack frame first.
    pub fn reset(self: *JsonWalker, options: Options) void {
        in_place.initDefaults(self);
        self.options = options;
        self.path.reset("$");
        assert(self.depth == 0 and self.state == .value);
    }

    /// Feeds the next chunk; its first byte is at the current position.
    pub fn feed(self: *JsonWalker, chunk: []const u8, sink: anytype) !void {
        return self.feedAt(chunk, self.position, sink);
    }

    /// Feeds bytes that sit at absolute `offset` of the raw stream. A gap
    /// (bytes the caller keeps from this walker, e.g. SSE framing) is allowed
    /// only between tokens, where it reads as whitespace.
    pub fn feedAt(self: *JsonWalker, chunk: []const u8, offset: u64, sink: anytype) !void {
        assert(offset >= self.position);
        if (offset != self.position) {
            // The gap reads as one line break between tokens; a string cannot span it.
            if (self.inToken() and self.state != .number) {
                return self.fail(self.position, "a JSON token continues past the end of its line");
            }
            _ = try self.step("\n", sink);
            self.position = offset;
        }
        var index: usize = 0;
        while (index < chunk.len) {
            const consumed = try self.step(chunk[index..], sink);
            assert(consumed > 0 and consumed <= chunk.len - index);
            index += consumed;
            self.position += consumed;
        }
    }

    /// Ends the stream: reports a trailing top-level number and checks that the
    /// document is complete.
    pub fn finish(self: *JsonWalker, sink: anytype) !void {
        if (self.state == .number and self.depth == 0) try self.endNumber(sink);
        switch (self.state) {
            .done => {},
            // Still expecting a value at the top: the body held no document at all.
            .value => if (self.depth != 0) return self.fail(self.position, "the body ended where a JSON value was expected"),
            else => return self.fail(self.position, "the body ended inside a JSON value"),
        }
    }

    /// Earliest absolute offset a later report may still rewrite (see walker.zig).
    pub fn holdFrom(self: *JsonWalker) u64 {
        var hold = self.position;
        switch (self.state) {
            .string, .escape, .unicode, .surrogate_backslash, .surrogate_u => hold = self.buffer.raw_start,
            .number => if (self.options.scan_numbers) {
                hold = self.token_start;
            },
            else => {},
        }
        if (!self.options.hold_members or self.depth == 0) return hold;
        const level = &self.levels[self.depth - 1];
        if (!level.member_active or !level.member_droppable) return hold;
        if (self.position - level.member_start > walker.member_hold_bytes_max) {
            // Too long to hold whole: from here on it can only be masked in place.
            level.member_droppable = false;
            return hold;
        }
        return @min(hold, level.member_start);
    }

    fn inToken(self: *const JsonWalker) bool {
        return switch (self.state) {
            .string, .escape, .unicode, .surrogate_backslash, .surrogate_u, .number, .literal => true,
            else => false,
        };
    }

    fn fail(self: *JsonWalker, offset: u64, reason: []const u8) Error {
        self.diagnostic.set(offset, reason);
        return error.JsonSyntax;
    }

    fn step(self: *JsonWalker, rest: []const u8, sink: anytype) !usize {
        const byte = rest[0];
        switch (self.state) {
            .value => try self.onValueStart(byte),
            .array_first => {
                if (byte == ']') try self.closeContainer(.array) else try self.onValueStart(byte);
            },
            .object_first => {
                if (isWhitespace(byte)) return 1;
                if (byte == '}') {
                    try self.closeContainer(.object);
                    return 1;
                }
                if (byte != '"') return self.fail(self.position, "expected an object key or '}'");
                self.beginMember(self.position, true);
                self.beginString(true);
            },
            .object_key => {
                if (isWhitespace(byte)) return 1;
                if (byte != '"') return self.fail(self.position, "expected an object key after ','");
                self.beginString(true);
            },
            .colon => {
                if (isWhitespace(byte)) return 1;
                if (byte != ':') return self.fail(self.position, "expected ':' after an object key");
                self.state = .value;
            },
            .after_value => try self.onAfterValue(byte),
            .string => return self.onStringRun(rest, sink),
            .escape => try self.onEscape(byte, sink),
            .unicode => try self.onUnicodeDigit(byte, sink),
            .surrogate_backslash => {
                if (byte != '\\') {
                    try self.flushLoneHighSurrogate(sink);
                    return self.onStringRun(rest, sink);
                }
                self.escape_start = self.position;
                self.state = .surrogate_u;
            },
            .surrogate_u => {
                if (byte != 'u') {
                    try self.flushLoneHighSurrogate(sink);
                    self.escape_start = self.position - 1;
                    try self.onEscape(byte, sink);
                    return 1;
                }
                self.unicode_value = 0;
                self.unicode_digits = 0;
                self.state = .unicode;
            },
            .number => {
                if (isNumberByte(byte)) {
                    if (self.number_len == number_bytes_max) {
                        self.diagnostic.set(self.token_start, "a JSON number is longer than the walker accepts");
                        return error.NumberTooLong;
                    }
                    self.number[self.number_len] = byte;
                    self.number_len += 1;
                    return 1;
                }
                try self.endNumber(sink);
                if (self.state == .done) try self.onDone(byte) else try self.onAfterValue(byte);
            },
            .literal => {
                if (byte != self.literal_rest[0]) return self.fail(self.position, "invalid literal (expected true, false or null)");
                self.literal_rest = self.literal_rest[1..];
                if (self.literal_rest.len == 0) try self.endElement();
            },
            .done => try self.onDone(byte),
        }
        return 1;
    }

    fn onDone(self: *JsonWalker, byte: u8) !void {
        if (isWhitespace(byte)) return;
        if (!self.options.multiple_documents) return self.fail(self.position, "data after the end of the JSON document");
        self.path.reset("$");
        self.state = .value;
        try self.onValueStart(byte);
    }

    fn onValueStart(self: *JsonWalker, byte: u8) !void {
        if (isWhitespace(byte)) return;
        switch (byte) {
            '{', '[' => {
                self.beginElement();
                if (self.depth > 0) self.levels[self.depth - 1].member_droppable = false;
                try self.pushLevel(if (byte == '{') .object else .array);
                self.state = if (byte == '{') .object_first else .array_first;
            },
            '"' => {
                self.beginElement();
                self.beginString(false);
            },
            '-', '0'...'9' => {
                self.beginElement();
                self.token_start = self.position;
                self.number[0] = byte;
                self.number_len = 1;
                self.state = .number;
            },
            't', 'f', 'n' => {
                self.beginElement();
                self.literal_rest = switch (byte) {
                    't' => "rue",
                    'f' => "alse",
                    else => "ull",
                };
                self.state = .literal;
            },
            else => return self.fail(self.position, "expected a JSON value"),
        }
    }

    fn onAfterValue(self: *JsonWalker, byte: u8) !void {
        if (isWhitespace(byte)) return;
        assert(self.depth > 0);
        const level = &self.levels[self.depth - 1];
        switch (byte) {
            ',' => {
                self.beginMember(self.position, false);
                self.state = if (level.kind == .object) .object_key else .value;
            },
            '}' => try self.closeContainer(.object),
            ']' => try self.closeContainer(.array),
            else => return self.fail(self.position, if (level.kind == .object) "expected ',' or '}'" else "expected ',' or ']'"),
        }
    }

    fn beginMember(self: *JsonWalker, start: u64, first: bool) void {
        assert(self.depth > 0);
        const level = &self.levels[self.depth - 1];
        level.member_start = start;
        level.member_first = first;
        level.member_active = true;
        level.member_droppable = true;
    }

    /// A value starts: in an array it gets its index segment (and, if first,
    /// its member start).
    fn beginElement(self: *JsonWalker) void {
        if (self.depth == 0) {
            self.documents += 1;
            return;
        }
        const level = &self.levels[self.depth - 1];
        if (level.kind != .array) return;
        if (level.index == 0) self.beginMember(self.position, true);
        self.path.pushIndex(level.index);
    }

    /// A value ended: drop its path segment and move on in the container.
    fn endElement(self: *JsonWalker) !void {
        if (self.depth == 0) {
            self.state = .done;
            return;
        }
        const level = &self.levels[self.depth - 1];
        self.path.pop(level.path_mark);
        level.index += 1;
        level.member_active = false;
        self.state = .after_value;
    }

    fn pushLevel(self: *JsonWalker, kind: ContainerKind) !void {
        if (self.depth == walker.depth_max) {
            self.diagnostic.set(self.position, "JSON nesting is deeper than the walker accepts");
            return error.TooDeep;
        }
        self.levels[self.depth] = .{ .kind = kind, .path_mark = self.path.mark() };
        self.depth += 1;
    }

    fn closeContainer(self: *JsonWalker, kind: ContainerKind) !void {
        assert(self.depth > 0);
        if (self.levels[self.depth - 1].kind != kind) {
            return self.fail(self.position, if (kind == .object) "'}' closes an array" else "']' closes an object");
        }
        self.depth -= 1;
        try self.endElement();
    }

    fn beginString(self: *JsonWalker, is_key: bool) void {
        self.token_start = self.position;
        self.string_is_key = is_key;
        self.key_too_long_for_path = false;
        self.high_surrogate_pending = false;
        self.buffer.begin(self.position + 1);
        self.state = .string;
    }

    /// Consumes a run of plain string bytes, or the one byte that ends the run.
    fn onStringRun(self: *JsonWalker, rest: []const u8, sink: anytype) !usize {
        var run: usize = 0;
        while (run < rest.len and isPlainStringByte(rest[run])) run += 1;
        if (run > 0) {
            try self.appendPlain(rest[0..run], sink);
            return run;
        }
        switch (rest[0]) {
            '"' => try self.endString(sink),
            '\\' => {
                self.escape_start = self.position;
                self.state = .escape;
            },
            else => return self.fail(self.position, "unescaped control character in a JSON string"),
        }
        return 1;
    }

    fn appendPlain(self: *JsonWalker, plain: []const u8, sink: anytype) !void {
        assert(self.buffer.raw_next == self.position);
        var rest = plain;
        while (rest.len > 0) {
            if (self.buffer.room() == 0) try self.emitPieceAndContinue(sink);
            const take = @min(rest.len, self.buffer.room());
            self.buffer.appendPlain(rest[0..take]);
            rest = rest[take..];
        }
    }

    fn appendEscape(self: *JsonWalker, decoded: []const u8, raw_len: u32, sink: anytype) !void {
        if (!self.buffer.hasRoomForEscape(@intCast(decoded.len))) try self.emitPieceAndContinue(sink);
        self.buffer.appendEscape(decoded, raw_len);
    }

    fn onEscape(self: *JsonWalker, byte: u8, sink: anytype) !void {
        assert(self.buffer.raw_next == self.escape_start);
        const decoded: u8 = switch (byte) {
            '"', '\\', '/' => byte,
            'b' => 0x08,
            'f' => 0x0c,
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                self.unicode_value = 0;
                self.unicode_digits = 0;
                self.state = .unicode;
                return;
            },
            else => return self.fail(self.position, "invalid escape sequence in a JSON string"),
        };
        try self.appendEscape(&.{decoded}, 2, sink);
        self.state = .string;
    }

    fn onUnicodeDigit(self: *JsonWalker, byte: u8, sink: anytype) !void {
        const digit = std.fmt.charToDigit(byte, 16) catch {
            return self.fail(self.position, "\\u escape needs four hex digits");
        };
        self.unicode_value = self.unicode_value * 16 + digit;
        self.unicode_digits += 1;
        if (self.unicode_digits < 4) return;
        const unit = self.unicode_value;
        if (self.high_surrogate_pending) {
            if (std.unicode.utf16IsLowSurrogate(unit)) {
                const pair = [2]u16{ self.high_surrogate, unit };
                const codepoint = std.unicode.utf16DecodeSurrogatePair(&pair) catch unreachable;
                self.high_surrogate_pending = false;
                try self.appendCodepoint(codepoint, 12, sink);
                self.state = .string;
                return;
            }
            try self.flushLoneHighSurrogate(sink);
        }
        if (std.unicode.utf16IsHighSurrogate(unit)) {
            self.high_surrogate = unit;
            self.high_surrogate_pending = true;
            self.state = .surrogate_backslash;
            return;
        }
        const codepoint: u21 = if (std.unicode.utf16IsLowSurrogate(unit)) replacement_character else unit;
        try self.appendCodepoint(codepoint, 6, sink);
        self.state = .string;
    }

    fn flushLoneHighSurrogate(self: *JsonWalker, sink: anytype) !void {
        assert(self.high_surrogate_pending);
        self.high_surrogate_pending = false;
        try self.appendCodepoint(replacement_character, 6, sink);
        self.state = .string;
    }

    fn appendCodepoint(self: *JsonWalker, codepoint: u21, raw_len: u32, sink: anytype) !void {
        var encoded: [4]u8 = undefined;
        const len = std.unicode.utf8Encode(codepoint, &encoded) catch unreachable;
        try self.appendEscape(encoded[0..len], raw_len, sink);
    }

    fn endString(self: *JsonWalker, sink: anytype) !void {
        const token_end = self.position + 1;
        if (self.string_is_key) {
            if (self.buffer.piece_index == 0) self.keepKeyContext();
            if (self.options.scan_keys) try self.emit(.key, true, token_end, sink);
            if (self.buffer.piece_index == 0 and !self.key_too_long_for_path) {
                self.path.pushJsonKey(self.buffer.view());
            } else {
                self.path.pushUnknown();
            }
            self.buffer.end();
            self.state = .colon;
            return;
        }
        if (self.buffer.len > 0 or self.buffer.piece_index > 0) try self.emit(.string, true, token_end, sink);
        self.buffer.end();
        try self.endElement();
    }

    fn endNumber(self: *JsonWalker, sink: anytype) !void {
        const token = self.number[0..self.number_len];
        if (!isJsonNumber(token)) return self.fail(self.token_start, "malformed JSON number");
        if (self.options.scan_numbers) {
            const value = walker.Value{
                .kind = .number,
                .encoding = .json_number,
                .bytes = token,
                .path = self.path.text(),
                .path_truncated = self.path.truncated(),
                .context_key = self.contextKey(),
                .raw = walker.RawMap.identity(self.token_start, token.len),
                .token_start = self.token_start,
                .token_end = self.token_start + token.len,
                .member = self.memberOf(self.token_start + token.len, true),
            };
            try sink.onValue(&value);
        }
        try self.endElement();
    }

    fn emitPieceAndContinue(self: *JsonWalker, sink: anytype) !void {
        if (self.string_is_key and self.buffer.piece_index == 0) {
            self.keepKeyContext();
            self.key_too_long_for_path = true;
        }
        if (!self.string_is_key or self.options.scan_keys) {
            try self.emit(if (self.string_is_key) .key else .string, false, self.buffer.raw_next, sink);
        }
        // A value in several pieces is never dropped whole: its start is gone.
        if (self.depth > 0) self.levels[self.depth - 1].member_droppable = false;
        self.buffer.startNextPiece();
    }

    fn emit(self: *JsonWalker, kind: walker.Kind, last: bool, token_end: u64, sink: anytype) !void {
        const value = walker.Value{
            .kind = kind,
            .encoding = .json_string,
            .bytes = self.buffer.view(),
            .path = self.path.text(),
            .path_truncated = self.path.truncated(),
            .context_key = if (kind == .key) "" else self.contextKey(),
            .piece = self.buffer.piece(last),
            .raw = self.buffer.map(),
            .token_start = self.token_start,
            .token_end = token_end,
            .member = if (kind == .key or self.buffer.piece_index > 0) null else self.memberOf(token_end, last),
        };
        try sink.onValue(&value);
    }

    fn memberOf(self: *const JsonWalker, token_end: u64, last: bool) ?walker.Member {
        if (!last or !self.options.hold_members or self.depth == 0) return null;
        const level = &self.levels[self.depth - 1];
        if (!level.member_active or !level.member_droppable) return null;
        return .{ .start = level.member_start, .end = token_end, .first = level.member_first, .separator = ',' };
    }

    fn keepKeyContext(self: *JsonWalker) void {
        assert(self.depth > 0 and self.levels[self.depth - 1].kind == .object);
        const key = self.buffer.view();
        const len = @min(key.len, walker.context_key_bytes_max);
        @memcpy(self.keys[self.depth - 1][0..len], key[0..len]);
        self.levels[self.depth - 1].key_len = @intCast(len);
    }

    /// The key of the nearest enclosing object member ("ssn" for `{"ssn": [..]}`).
    fn contextKey(self: *const JsonWalker) []const u8 {
        var depth = self.depth;
        while (depth > 0) : (depth -= 1) {
            const level = &self.levels[depth - 1];
            if (level.kind == .object) return self.keys[depth - 1][0..level.key_len];
        }
        return "";
    }
};

const replacement_character: u21 = 0xFFFD;

fn isWhitespace(byte: u8) bool {
    return byte == ' ' or byte == '\t' or byte == '\n' or byte == '\r';
}

fn isPlainStringByte(byte: u8) bool {
    return byte != '"' and byte != '\\' and byte >= 0x20;
}

fn isNumberByte(byte: u8) bool {
    return switch (byte) {
        '0'...'9', '-', '+', '.', 'e', 'E' => true,
        else => false,
    };
}

/// The JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
pub fn isJsonNumber(token: []const u8) bool {
    var index: usize = 0;
    if (index < token.len and token[index] == '-') index += 1;
    if (index == token.len) return false;
    if (token[index] == '0') {
        index += 1;
    } else {
        if (!std.ascii.isDigit(token[index])) return false;
        index = skipDigits(token, index);
    }
    if (index < token.len and token[index] == '.') {
        const after = skipDigits(token, index + 1);
        if (after == index + 1) return false;
        index = after;
    }
    if (index < token.len and (token[index] == 'e' or token[index] == 'E')) {
        index += 1;
        if (index < token.len and (token[index] == '+' or token[index] == '-')) index += 1;
        const after = skipDigits(token, index);
        if (after == index) return false;
        index = after;
    }
    return index == token.len;
}

fn skipDigits(token: []const u8, from: usize) usize {
    var index = from;
    while (index < token.len and std.ascii.isDigit(token[index])) index += 1;
    return index;
}

// ---------------------------------------------------------------- tests

const testing = std.testing;
const Recorder = walker.RecordingSink(64, 64 * 1024);

fn walkWhole(input: []const u8, options: Options, recorder: *Recorder) !void {
    var json = JsonWalker.init(options);
    try json.feed(input, recorder);
    try json.finish(recorder);
}

fn expectRecord(record: Recorder.Record, kind: walker.Kind, bytes: []const u8, path: []const u8, context: []const u8) !void {
    try testing.expectEqual(kind, record.kind);
    try testing.expectEqualStrings(bytes, record.bytes);
    try testing.expectEqualStrings(path, record.path);
    try testing.expectEqualStrings(context, record.context_key);
}

test "nested objects and arrays: paths, keys and context" {
    var recorder = Recorder{};
    const input =
        \\{"user": {"name": "Ada", "cards": [{"number": "4111 1111 1111 1111"}, "x"]},
        \\ "ssns": ["123-45-6789"], "n": 5, "ok": true, "none": null}
    ;
    try walkWhole(input, .{ .scan_numbers = true }, &recorder);
    const values = recorder.values();
    try testing.expectEqual(@as(usize, 13), values.len);
    try expectRecord(values[0], .key, "user", "$", "");
    try expectRecord(values[1], .key, "name", "$.user", "");
    try expectRecord(values[2], .string, "Ada", "$.user.name", "name");
    try expectRecord(values[3], .key, "cards", "$.user", "");
    try expectRecord(values[4], .key, "number", "$.user.cards[0]", "");
    try expectRecord(values[5], .string, "4111 1111 1111 1111", "$.user.cards[0].number", "number");
    try expectRecord(values[6], .string, "x", "$.user.cards[1]", "cards");
    try expectRecord(values[7], .key, "ssns", "$", "");
    try expectRecord(values[8], .string, "123-45-6789", "$.ssns[0]", "ssns");
    try expectRecord(values[9], .key, "n", "$", "");
    try expectRecord(values[10], .number, "5", "$.n", "n");
    try expectRecord(values[11], .key, "ok", "$", "");
    try expectRecord(values[12], .key, "none", "$", "");
    // Raw offsets point at the value's bytes inside its quotes.
    const ssn_at = std.mem.indexOf(u8, input, "123-45-6789").?;
    try testing.expectEqual(@as(u64, ssn_at), values[8].raw_start);
    try testing.expectEqual(@as(u64, ssn_at + 11), values[8].raw_end);
}

test "escapes and unicode are decoded; lone surrogates become U+FFFD" {
    var recorder = Recorder{};
    const input =
        \\{"k\u00e9y": "a\"b\\c\/d\n\t\u20ac\ud83d\ude00 caf\u00E9 \ud800x \udc00"}
    ;
    try walkWhole(input, .{}, &recorder);
    const values = recorder.values();
    try expectRecord(values[0], .key, "k\u{e9}y", "$", "");
    try expectRecord(values[1], .string, "a\"b\\c/d\n\t\u{20ac}\u{1F600} caf\u{e9} \u{FFFD}x \u{FFFD}", "$['k\u{e9}y']", "k\u{e9}y");
}

test "raw UTF-8 passes through and keys with odd characters use bracket paths" {
    var recorder = Recorder{};
    try walkWhole("{\"e-mail\": {\"名前\": \"山田\"}}", .{ .scan_keys = false }, &recorder);
    try expectRecord(recorder.values()[0], .string, "山田", "$['e-mail']['名前']", "名前");
}

test "numbers are reported only when the policy says" {
    var recorder = Recorder{};
    try walkWhole("[123456789, -1.5e3, 0]", .{}, &recorder);
    try testing.expectEqual(@as(usize, 0), recorder.count);
    try walkWhole("[123456789, -1.5e3, 0]", .{ .scan_numbers = true }, &recorder);
    try testing.expectEqual(@as(usize, 3), recorder.count);
    try expectRecord(recorder.values()[1], .number, "-1.5e3", "$[1]", "");
    var top = Recorder{};
    try walkWhole("  42 ", .{ .scan_numbers = true }, &top);
    try expectRecord(top.values()[0], .number, "42", "$", "");
    var trailing = Recorder{};
    try walkWhole("42", .{ .scan_numbers = true }, &trailing);
    try expectRecord(trailing.values()[0], .number, "42", "$", "");
}

test "malformed documents are refused with the offset of the problem" {
    const cases = [_]struct { input: []const u8, offset: u64 }{
        .{ .input = "{\"a\" 1}", .offset = 5 },
        .{ .input = "[1,]", .offset = 3 },
        .{ .input = "{\"a\":1,}", .offset = 7 },
        .{ .input = "[\"a\\x\"]", .offset = 4 },
        .{ .input = "[01]", .offset = 1 },
        .{ .input = "[tru]", .offset = 4 },
        .{ .input = "{\"a\":1} x", .offset = 8 },
        .{ .input = "[\"a\nb\"]", .offset = 3 },
        .{ .input = "[1}", .offset = 2 },
        .{ .input = "[\"\\u12g4\"]", .offset = 6 },
    };
    for (cases) |case| {
        var recorder = Recorder{};
        var json = JsonWalker.init(.{});
        const result: anyerror!void = blk: {
            json.feed(case.input, &recorder) catch |err| break :blk err;
            json.finish(&recorder) catch |err| break :blk err;
        };
        try testing.expectError(error.JsonSyntax, result);
        try testing.expectEqual(case.offset, json.diagnostic.offset);
        try testing.expect(json.diagnostic.reason.len > 0);
    }
}

test "a body cut short is incomplete, not accepted" {
    var recorder = Recorder{};
    var json = JsonWalker.init(.{});
    try json.feed("{\"a\": [\"b\"", &recorder);
    try testing.expectError(error.JsonSyntax, json.finish(&recorder));
}

test "nesting past the bound is refused explicitly" {
    var recorder = Recorder{};
    var json = JsonWalker.init(.{});
    const deep = "[" ** (walker.depth_max + 1);
    try testing.expectError(error.TooDeep, json.feed(deep, &recorder));
    var ok = JsonWalker.init(.{});
    try ok.feed("[" ** walker.depth_max ++ "\"x\"" ++ "]" ** walker.depth_max, &recorder);
    try ok.finish(&recorder);
}

test "a value split at every offset is reported whole with the same raw range" {
    const input =
        \\{"a": {"ssn": "12\u0033-45-6789"}, "b": ["\ud83d\ude00 4111111111111111"], "c": 123456789}
    ;
    const make = struct {
        fn walker_() JsonWalker {
            return JsonWalker.init(.{ .scan_numbers = true });
        }
    }.walker_;
    try walker.expectSameAtEverySplit(JsonWalker, &make, input);
    var whole = Recorder{};
    try walkWhole(input, .{ .scan_numbers = true }, &whole);
    // One byte at a time, too.
    var recorder = Recorder{};
    var json = JsonWalker.init(.{ .scan_numbers = true });
    for (input) |byte| try json.feed(&.{byte}, &recorder);
    try json.finish(&recorder);
    try testing.expectEqual(whole.count, recorder.count);
    try testing.expectEqualStrings("123-45-6789", recorder.values()[2].bytes);
}

test "long strings come in overlapping pieces that rejoin to the value" {
    var input_buffer: [3 * walker.piece_bytes_max + 64]u8 = undefined;
    var expected_buffer: [3 * walker.piece_bytes_max]u8 = undefined;
    var len: usize = 0;
    var expected_len: usize = 0;
    for ("{\"doc\": \"") |byte| {
        input_buffer[len] = byte;
        len += 1;
    }
    var index: usize = 0;
    while (index < 2 * walker.piece_bytes_max + 100) : (index += 1) {
        const byte: u8 = if (index % 97 == 0) '\n' else 'a' + @as(u8, @intCast(index % 26));
        if (byte == '\n') {
            @memcpy(input_buffer[len .. len + 2], "\\n");
            len += 2;
        } else {
            input_buffer[len] = byte;
            len += 1;
        }
        expected_buffer[expected_len] = byte;
        expected_len += 1;
    }
    @memcpy(input_buffer[len .. len + 2], "\"}");
    len += 2;
    const input = input_buffer[0..len];

    var recorder = Recorder{};
    var json = JsonWalker.init(.{ .scan_keys = false });
    // Small chunks, so pieces fill mid-chunk and across chunks.
    var offset: usize = 0;
    while (offset < input.len) : (offset += 1000) try json.feed(input[offset..@min(offset + 1000, input.len)], &recorder);
    try json.finish(&recorder);
    try testing.expect(recorder.count >= 3);
    for (recorder.values()[1..]) |record| try testing.expect(record.piece.overlap > 0 and record.piece.overlap <= walker.overlap_bytes);
    try testing.expect(recorder.values()[recorder.count - 1].piece.last);
    var joined: [3 * walker.piece_bytes_max]u8 = undefined;
    try testing.expectEqualStrings(expected_buffer[0..expected_len], recorder.joined("$.doc", &joined));
}

test "hold-back: nothing held between values, the value piece held inside one" {
    var recorder = Recorder{};
    var json = JsonWalker.init(.{});
    try json.feed("{\"a\": \"xy", &recorder);
    try testing.expectEqual(@as(u64, 7), json.holdFrom());
    try json.feed("z\", \"b\": 1", &recorder);
    try testing.expectEqual(json.position, json.holdFrom());
    var members = JsonWalker.init(.{ .hold_members = true });
    try members.feed("{\"a\": \"x\", \"b\": \"y", &recorder);
    try testing.expectEqual(@as(u64, 9), members.holdFrom());
}

test "JSON lines: several documents, each rooted at $" {
    var recorder = Recorder{};
    try walkWhole("{\"a\":\"1\"}\n{\"a\":\"2\"}\n", .{ .multiple_documents = true, .scan_keys = false }, &recorder);
    try testing.expectEqual(@as(usize, 2), recorder.count);
    try expectRecord(recorder.values()[1], .string, "2", "$.a", "a");
}

test "number grammar" {
    for ([_][]const u8{ "0", "-0", "12", "1.5", "1e9", "1E+9", "-2.5e-3" }) |token| try testing.expect(isJsonNumber(token));
    for ([_][]const u8{ "", "-", "01", "1.", ".5", "1e", "+1", "1.5.2", "--1" }) |token| try testing.expect(!isJsonNumber(token));
}
