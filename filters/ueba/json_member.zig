//! Reads one top-level member of a small JSON object (a JWT payload) without allocating.
//!
//! Why not the shared body walker: it is built for streaming bodies and resets a 10 KiB
//! piece buffer per value and a 17 KiB state per document, which costs tens of
//! microseconds on a wasm32 target without bulk memory, per request, for a 100-byte
//! payload. This reader only has to find `"name": value` at depth one: it decodes keys
//! and the wanted string (escapes and surrogate pairs to UTF-8, a lone surrogate to
//! U+FFFD), skips everything else with a bounded depth counter, and answers null for
//! anything malformed.

const std = @import("std");
const assert = std.debug.assert;

/// Nesting a skipped value may have; deeper payloads are refused, not recursed into.
pub const depth_max: u32 = 64;

/// The decoded string, or the number token as written, of the top-level member `name`;
/// null when absent, of another type, longer than `out`, named twice (RFC 7519 lets a JWT
/// reader refuse duplicates, and an ambiguous identity is no identity), or when `json` is
/// not one well-formed object.
pub fn topLevelMember(json: []const u8, name: []const u8, out: []u8) ?[]const u8 {
    var reader = Reader{ .bytes = json };
    reader.skipSpace();
    if (!reader.take('{')) return null;
    reader.skipSpace();
    if (reader.take('}')) return null;
    var found: ?[]const u8 = null;
    var seen = false;
    var key_buffer: [64]u8 = undefined;
    // Each member consumes at least one byte, so the loop is bounded by the input.
    while (reader.pos < json.len) {
        if (!reader.take('"')) return null;
        const key = reader.string(&key_buffer);
        if (key == .malformed) return null;
        reader.skipSpace();
        if (!reader.take(':')) return null;
        reader.skipSpace();
        if (key == .decoded and std.mem.eql(u8, key.decoded, name)) {
            if (seen) return null;
            seen = true;
            found = reader.scalar(out);
            // A value of another type still has to be well-formed.
            if (found == null and !reader.skipValue()) return null;
        } else if (!reader.skipValue()) return null;
        reader.skipSpace();
        if (reader.take(',')) {
            reader.skipSpace();
            continue;
        }
        if (!reader.take('}')) return null;
        reader.skipSpace();
        return if (reader.pos == json.len) found else null;
    }
    return null;
}

const Decoded = union(enum) {
    decoded: []const u8,
    /// Well-formed, but longer than the buffer; fully consumed.
    too_long,
    malformed,
};

const Reader = struct {
    bytes: []const u8,
    pos: usize = 0,

    fn take(self: *Reader, byte: u8) bool {
        if (self.pos >= self.bytes.len or self.bytes[self.pos] != byte) return false;
        self.pos += 1;
        return true;
    }

    fn skipSpace(self: *Reader) void {
        while (self.pos < self.bytes.len) : (self.pos += 1) {
            switch (self.bytes[self.pos]) {
                ' ', '\t', '\r', '\n' => {},
                else => return,
            }
        }
    }

    /// The value of the wanted member: a string (decoded) or a number (as written). On
    /// null the reader has not moved, so the caller can skip (and so check) the value.
    fn scalar(self: *Reader, out: []u8) ?[]const u8 {
        const start = self.pos;
        if (self.take('"')) {
            switch (self.string(out)) {
                .decoded => |value| return value,
                .too_long, .malformed => {
                    self.pos = start;
                    return null;
                },
            }
        }
        self.skipToken();
        const token = self.bytes[start..self.pos];
        const number = token.len > 0 and (std.ascii.isDigit(token[0]) or token[0] == '-');
        if (!number or token.len > out.len) {
            self.pos = start;
            return null;
        }
        @memcpy(out[0..token.len], token);
        return out[0..token.len];
    }

    /// Reads a string whose opening quote was taken, decoding into `out`.
    fn string(self: *Reader, out: []u8) Decoded {
        var len: usize = 0;
        var overflow = false;
        while (self.pos < self.bytes.len) {
            const byte = self.bytes[self.pos];
            self.pos += 1;
            var encoded: [4]u8 = undefined;
            const piece: []const u8 = switch (byte) {
                '"' => return if (overflow) .too_long else .{ .decoded = out[0..len] },
                '\\' => self.escape(&encoded) orelse return .malformed,
                0...0x1f => return .malformed,
                else => self.bytes[self.pos - 1 .. self.pos],
            };
            if (len + piece.len > out.len) {
                overflow = true;
            } else {
                @memcpy(out[len..][0..piece.len], piece);
                len += piece.len;
            }
        }
        return .malformed;
    }

    fn escape(self: *Reader, encoded: *[4]u8) ?[]const u8 {
        if (self.pos >= self.bytes.len) return null;
        const kind = self.bytes[self.pos];
        self.pos += 1;
        const simple: u8 = switch (kind) {
            '"', '\\', '/' => kind,
            'b' => 0x08,
            'f' => 0x0c,
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => return self.unicode(encoded),
            else => return null,
        };
        encoded[0] = simple;
        return encoded[0..1];
    }

    fn unicode(self: *Reader, encoded: *[4]u8) ?[]const u8 {
        const high = self.hex4() orelse return null;
        var code_point: u21 = high;
        if (high >= 0xD800 and high <= 0xDBFF) {
            const rest = self.bytes[self.pos..];
            if (rest.len >= 6 and rest[0] == '\\' and rest[1] == 'u') {
                const saved = self.pos;
                self.pos += 2;
                const low = self.hex4() orelse return null;
                if (low >= 0xDC00 and low <= 0xDFFF) {
                    code_point = 0x10000 + ((@as(u21, high) - 0xD800) << 10) + (low - 0xDC00);
                } else {
                    self.pos = saved;
                    code_point = 0xFFFD;
                }
            } else code_point = 0xFFFD;
        } else if (high >= 0xDC00 and high <= 0xDFFF) code_point = 0xFFFD;
        const len = std.unicode.utf8Encode(code_point, encoded) catch return null;
        return encoded[0..len];
    }

    fn hex4(self: *Reader) ?u16 {
        if (self.pos + 4 > self.bytes.len) return null;
        const value = std.fmt.parseUnsigned(u16, self.bytes[self.pos..][0..4], 16) catch return null;
        self.pos += 4;
        return value;
    }

    fn skipToken(self: *Reader) void {
        while (self.pos < self.bytes.len) : (self.pos += 1) {
            switch (self.bytes[self.pos]) {
                'a'...'z', 'A'...'Z', '0'...'9', '+', '-', '.' => {},
                else => return,
            }
        }
    }

    /// Skips one value of any type; false when it is malformed or nested too deep.
    fn skipValue(self: *Reader) bool {
        var depth: u32 = 0;
        var discard: [0]u8 = .{};
        // Every pass consumes at least one byte or returns: bounded by the input.
        while (self.pos < self.bytes.len) {
            self.skipSpace();
            if (self.pos >= self.bytes.len) return false;
            const before = self.pos;
            switch (self.bytes[self.pos]) {
                '"' => {
                    self.pos += 1;
                    if (self.string(&discard) == .malformed) return false;
                },
                '{', '[' => {
                    if (depth == depth_max) return false;
                    depth += 1;
                    self.pos += 1;
                    continue;
                },
                '}', ']' => {
                    if (depth == 0) return false;
                    depth -= 1;
                    self.pos += 1;
                },
                ',', ':' => {
                    if (depth == 0) return false;
                    self.pos += 1;
                    continue;
                },
                else => {
                    self.skipToken();
                    if (self.pos == before) return false;
                },
            }
            assert(self.pos > before);
            if (depth == 0) return true;
        }
        return false;
    }
};

const testing = std.testing;

test "a top-level string or number, decoded" {
    var out: [64]u8 = undefined;
    const json =
        \\ {"iss": "https://idp", "nested": {"sub": "no", "list": [1, {"x": "]"}]},
        \\  "sub": "al\u00e9x \"the\" \ud83d\ude00", "n": -12.5e3, "flag": true}
    ;
    try testing.expectEqualStrings("al\u{e9}x \"the\" \u{1F600}", topLevelMember(json, "sub", &out).?);
    try testing.expectEqualStrings("-12.5e3", topLevelMember(json, "n", &out).?);
    try testing.expectEqualStrings("https://idp", topLevelMember(json, "iss", &out).?);
    // Present but not a string or number; absent; only nested.
    try testing.expect(topLevelMember(json, "flag", &out) == null);
    try testing.expect(topLevelMember(json, "aud", &out) == null);
    try testing.expect(topLevelMember(json, "x", &out) == null);
}

test "lone surrogates become U+FFFD; too long and malformed read as absent" {
    var out: [8]u8 = undefined;
    try testing.expectEqualStrings("a\u{FFFD}b", topLevelMember("{\"k\":\"a\\ud800b\"}", "k", &out).?);
    try testing.expect(topLevelMember("{\"k\":\"123456789\"}", "k", &out) == null);
    try testing.expect(topLevelMember("{\"k\":\"v\",\"k\":\"w\"}", "k", &out) == null);
    try testing.expect(topLevelMember("{\"k\":\"v\"", "k", &out) == null);
    try testing.expect(topLevelMember("{\"k\":\"v\"} trailing", "k", &out) == null);
    // A long key or value before the wanted member is skipped, not a failure.
    try testing.expectEqualStrings("v", topLevelMember("{\"" ++ "x" ** 100 ++ "\":\"" ++ "y" ** 100 ++ "\",\"k\":\"v\"}", "k", &out).?);
    const malformed = [_][]const u8{ "", "[]", "{\"k\" \"v\"}", "{\"a\":1 \"k\":\"v\"}", "{\"k\":\"v", "{\"a\":\"\\q\",\"k\":\"v\"}", "{\"a\":}" };
    for (malformed) |json| try testing.expect(topLevelMember(json, "k", &out) == null);
    const deep = "{\"a\":" ++ "[" ** (depth_max + 1) ++ "]" ** (depth_max + 1) ++ ",\"k\":\"v\"}";
    try testing.expect(topLevelMember(deep, "k", &out) == null);
    const ok_deep = "{\"a\":" ++ "[" ** depth_max ++ "]" ** depth_max ++ ",\"k\":\"v\"}";
    try testing.expectEqualStrings("v", topLevelMember(ok_deep, "k", &out).?);
}
