//! Walkers for what arrives in headers: a header value as a whole, the query
//! string of a `:path`, and the pairs of `cookie` and `set-cookie`. Each is
//! fed the complete value once (headers are not streamed) and follows the
//! walker contract, so the same masker that rewrites a body rewrites a header
//! value; raw offsets are offsets in the value.

const std = @import("std");
const assert = std.debug.assert;
const walker = @import("walker.zig");
const form = @import("form.zig");

/// A header value reported whole (long ones in overlapping pieces): path and
/// context are the header name, e.g. `authorization`.
pub const HeaderWalker = struct {
    name: []const u8,
    position: u64 = 0,

    pub fn init(name: []const u8) HeaderWalker {
        return .{ .name = name[0..@min(name.len, walker.path_bytes_max)] };
    }

    pub fn feed(self: *HeaderWalker, value: []const u8, sink: anytype) !void {
        assert(self.position == 0);
        self.position = value.len;
        if (value.len == 0) return;
        const template = walker.Value{
            .kind = .string,
            .encoding = .identity,
            .bytes = value,
            .path = self.name,
            .context_key = self.name[0..@min(self.name.len, walker.context_key_bytes_max)],
            .raw = walker.RawMap.identity(0, value.len),
            .token_start = 0,
            .token_end = value.len,
        };
        try walker.reportContiguous(template, value, 0, sink);
    }

    pub fn finish(self: *HeaderWalker, sink: anytype) !void {
        _ = self;
        _ = sink;
    }

    pub fn holdFrom(self: *HeaderWalker) u64 {
        return self.position;
    }
};

/// The query string of a request target (`/search?q=...&card=...#frag`),
/// decoded like a form: names are keys, values are reported under their name.
pub const QueryWalker = struct {
    form: form.FormWalker,
    position: u64 = 0,

    pub fn init(options: form.Options) QueryWalker {
        return .{ .form = form.FormWalker.init(options) };
    }

    pub fn feed(self: *QueryWalker, target: []const u8, sink: anytype) !void {
        assert(self.position == 0);
        self.position = target.len;
        const query = queryRange(target) orelse return;
        try self.form.feedAt(target[query.start..query.end], query.start, sink);
    }

    pub fn finish(self: *QueryWalker, sink: anytype) !void {
        try self.form.finish(sink);
    }

    pub fn holdFrom(self: *QueryWalker) u64 {
        return if (self.form.in_pair) self.form.holdFrom() else self.position;
    }
};

pub const Range = struct { start: usize, end: usize };

/// Where the query is in a request target: after the first '?', before '#'.
pub fn queryRange(target: []const u8) ?Range {
    const question = std.mem.indexOfScalar(u8, target, '?') orelse return null;
    const end = std.mem.indexOfScalarPos(u8, target, question + 1, '#') orelse target.len;
    return .{ .start = question + 1, .end = end };
}

pub const CookieHeader = enum {
    /// `cookie: a=b; c=d`: every pair.
    cookie,
    /// `set-cookie: a=b; Path=/; HttpOnly`: the first pair; the rest are attributes.
    set_cookie,
};

/// Cookie values by name (RFC 6265: values are opaque, not percent-decoded;
/// surrounding double quotes are not part of what is reported).
pub const CookieWalker = struct {
    header: CookieHeader,
    position: u64 = 0,

    pub fn init(header: CookieHeader) CookieWalker {
        return .{ .header = header };
    }

    pub fn feed(self: *CookieWalker, value: []const u8, sink: anytype) !void {
        assert(self.position == 0);
        self.position = value.len;
        var start: usize = 0;
        // Each turn moves past one ';' or ends.
        while (start <= value.len) {
            const end = std.mem.indexOfScalarPos(u8, value, start, ';') orelse value.len;
            try reportPair(value, start, end, sink);
            if (self.header == .set_cookie or end == value.len) return;
            start = end + 1;
        }
    }

    pub fn finish(self: *CookieWalker, sink: anytype) !void {
        _ = self;
        _ = sink;
    }

    pub fn holdFrom(self: *CookieWalker) u64 {
        return self.position;
    }
};

fn reportPair(value: []const u8, pair_start: usize, pair_end: usize, sink: anytype) !void {
    const pair = trimRange(value, pair_start, pair_end);
    const equals = std.mem.indexOfScalarPos(u8, value[0..pair.end], pair.start, '=') orelse return;
    const name_range = trimRange(value, pair.start, equals);
    var value_range = trimRange(value, equals + 1, pair.end);
    if (value_range.end - value_range.start >= 2 and value[value_range.start] == '"' and value[value_range.end - 1] == '"') {
        value_range = .{ .start = value_range.start + 1, .end = value_range.end - 1 };
    }
    if (value_range.end == value_range.start) return;
    const name = value[name_range.start..name_range.end];
    const bytes = value[value_range.start..value_range.end];
    const template = walker.Value{
        .kind = .string,
        .encoding = .identity,
        .bytes = bytes,
        .path = name[0..@min(name.len, walker.path_bytes_max)],
        .path_truncated = name.len > walker.path_bytes_max,
        .context_key = name[0..@min(name.len, walker.context_key_bytes_max)],
        .raw = walker.RawMap.identity(value_range.start, bytes.len),
        .token_start = value_range.start,
        .token_end = value_range.end,
    };
    try walker.reportContiguous(template, bytes, value_range.start, sink);
}

fn trimRange(value: []const u8, start: usize, end: usize) Range {
    var from = start;
    var to = end;
    while (from < to and (value[from] == ' ' or value[from] == '\t')) from += 1;
    while (to > from and (value[to - 1] == ' ' or value[to - 1] == '\t')) to -= 1;
    return .{ .start = from, .end = to };
}

const testing = std.testing;
const Recorder = walker.RecordingSink(16, 8 * 1024);

test "a header value is one value named by its header" {
    var recorder = Recorder{};
    var header = HeaderWalker.init("authorization");
    try header.feed("Bearer eyJhbGciOi.secret", &recorder);
    try header.finish(&recorder);
    try testing.expectEqualStrings("Bearer eyJhbGciOi.secret", recorder.values()[0].bytes);
    try testing.expectEqualStrings("authorization", recorder.values()[0].path);
}

test "query strings are decoded like forms, fragment excluded" {
    var recorder = Recorder{};
    var query = QueryWalker.init(.{ .scan_keys = false });
    const target = "/pay?card=4111+1111%201111&email=a%40b.c#card=1";
    try query.feed(target, &recorder);
    try query.finish(&recorder);
    const values = recorder.values();
    try testing.expectEqual(@as(usize, 2), values.len);
    try testing.expectEqualStrings("4111 1111 1111", values[0].bytes);
    try testing.expectEqualStrings("card", values[0].path);
    try testing.expectEqual(@as(u64, std.mem.indexOf(u8, target, "4111").?), values[0].raw_start);
    try testing.expectEqualStrings("a@b.c", values[1].bytes);
    var none = Recorder{};
    var plain = QueryWalker.init(.{});
    try plain.feed("/no/query", &none);
    try plain.finish(&none);
    try testing.expectEqual(@as(usize, 0), none.count);
}

test "cookie pairs, quoted values, and set-cookie attributes left alone" {
    var recorder = Recorder{};
    var cookies = CookieWalker.init(.cookie);
    const value = "session=abc123; ssn=\"123-45-6789\" ;empty=; flag";
    try cookies.feed(value, &recorder);
    const values = recorder.values();
    try testing.expectEqual(@as(usize, 2), values.len);
    try testing.expectEqualStrings("abc123", values[0].bytes);
    try testing.expectEqualStrings("session", values[0].path);
    try testing.expectEqualStrings("123-45-6789", values[1].bytes);
    try testing.expectEqual(@as(u64, std.mem.indexOf(u8, value, "123-").?), values[1].raw_start);
    var set = Recorder{};
    var set_cookie = CookieWalker.init(.set_cookie);
    try set_cookie.feed("id=4111111111111111; Path=/; Domain=example.com; HttpOnly", &set);
    try testing.expectEqual(@as(usize, 1), set.count);
    try testing.expectEqualStrings("id", set.values()[0].path);
}
