//! Masking streamed JSON end to end: every action, split at every offset,
//! output validity, drops, long values and many findings per chunk.

const std = @import("std");
const testing = std.testing;
const walkers = @import("walkers");
const walker = walkers.walker;
const JsonWalker = walkers.json.JsonWalker;
const StreamMasker = @import("stream_masker.zig").StreamMasker;
const rewriter = @import("rewriter.zig");
const support = @import("test_support.zig");
const format_preserving = @import("format_preserving.zig");

const JsonMasker = StreamMasker(JsonWalker);

/// Output collected over a whole stream (unchanged chunks copied in as they are).
const Collected = struct {
    buffer: [64 * 1024]u8 = undefined,
    out: rewriter.FixedOutput = undefined,
    len: usize = 0,

    fn add(self: *Collected, result: rewriter.Result, chunk: []const u8) void {
        const bytes = if (result == .unchanged) chunk else self.out.written();
        @memcpy(self.buffer[self.len .. self.len + bytes.len], bytes);
        self.len += bytes.len;
    }

    fn text(self: *const Collected) []const u8 {
        return self.buffer[0..self.len];
    }
};

/// Masks `input` fed as the given chunks; returns the output in `collected`.
fn maskChunks(masker: *JsonMasker, chunks: []const []const u8, policy: *const support.TestPolicy, collected: *Collected) !void {
    var scanner = support.TestScanner{};
    var scratch: [64 * 1024]u8 = undefined;
    for (chunks) |chunk| {
        collected.out = .{ .buffer = &scratch };
        const result = try masker.feed(chunk, &scanner, policy, &collected.out);
        collected.add(result, chunk);
    }
    collected.out = .{ .buffer = &scratch };
    const result = try masker.finish(&scanner, policy, &collected.out);
    collected.add(result, "");
}

fn maskWhole(input: []const u8, options: walkers.json.Options, policy: *const support.TestPolicy, collected: *Collected) !void {
    var masker = JsonMasker.init(JsonWalker.init(options));
    try maskChunks(&masker, &.{input}, policy, collected);
}

const sample =
    \\{"user": {"name": "Ada", "card": "4111-1111-1111-1111", "note": "my secret is 123-45-6789"},
    \\ "cards": ["4000\u00200000 0000 0002", {"pan": "5500000000000004"}], "email": "ada@example.com",
    \\ "escaped": "caf\u00e9 \"q\" 123456789\n", "n": 987654321}
;

test "every action masks the JSON sample, and the output is valid JSON" {
    const key = support.test_key;
    const cases = [_]struct { digits: @import("actions.zig").Action, expect: []const u8 }{
        .{ .digits = .{ .partial = .{} }, .expect = "****-****-****-1111" },
        .{ .digits = .{ .redact = .{ .placeholder = "[REDACTED:CREDIT_CARD]" } }, .expect = "[REDACTED:CREDIT_CARD]" },
        .{ .digits = .{ .hash_token = .{ .key = key } }, .expect = "tok_" },
        .{ .digits = .{ .format_preserving = .{ .key = key, .keep_last = 4 } }, .expect = "-1111" },
    };
    for (cases) |case| {
        const policy = support.TestPolicy{ .digits = case.digits };
        var collected = Collected{};
        try maskWhole(sample, .{}, &policy, &collected);
        const output = collected.text();
        try support.expectValidJson(output);
        try testing.expect(std.mem.indexOf(u8, output, case.expect) != null);
        // No digit run of a card or SSN survives anywhere.
        for ([_][]const u8{ "4111-1111-1111-1111", "123-45-6789", "5500000000000004", "123456789", "0000 0000 0002" }) |raw| {
            try testing.expect(std.mem.indexOf(u8, output, raw) == null);
        }
        try testing.expect(std.mem.indexOf(u8, output, "[REDACTED:SECRET]") != null);
        try testing.expect(std.mem.indexOf(u8, output, "[REDACTED:EMAIL]") != null);
        // Untouched values keep their raw bytes, escapes included.
        try testing.expect(std.mem.indexOf(u8, output, "caf\\u00e9 \\\"q\\\"") != null);
        try testing.expect(std.mem.indexOf(u8, output, "\"n\": 987654321") != null);
    }
}

test "format-preserving card numbers keep length, classes and Luhn inside JSON" {
    const policy = support.TestPolicy{ .digits = .{ .format_preserving = .{ .key = support.test_key, .keep_first = 6, .keep_last = 4 } } };
    var collected = Collected{};
    try maskWhole("{\"pan\": \"5500000000000004\", \"c\": \"4111 1111 1111 1111\"}", .{}, &policy, &collected);
    const parsed = try std.json.parseFromSlice(std.json.Value, testing.allocator, collected.text(), .{});
    defer parsed.deinit();
    const pan = parsed.value.object.get("pan").?.string;
    const spaced = parsed.value.object.get("c").?.string;
    try testing.expectEqual(@as(usize, 16), pan.len);
    try testing.expect(format_preserving.luhnValid(pan) and format_preserving.luhnValid(spaced));
    try testing.expect(!std.mem.eql(u8, pan, "5500000000000004"));
    try testing.expectEqualStrings("550000", pan[0..6]);
    try testing.expectEqual(@as(usize, 19), spaced.len);
    try testing.expectEqual(@as(u8, ' '), spaced[4]);
}

test "split at every offset: same output as the whole body" {
    const policy = support.TestPolicy{};
    var whole = Collected{};
    try maskWhole(sample, .{ .scan_numbers = true }, &policy, &whole);
    try support.expectValidJson(whole.text());
    var split: usize = 0;
    while (split <= sample.len) : (split += 1) {
        var masker = JsonMasker.init(JsonWalker.init(.{ .scan_numbers = true }));
        var collected = Collected{};
        try maskChunks(&masker, &.{ sample[0..split], sample[split..] }, &policy, &collected);
        testing.expectEqualStrings(whole.text(), collected.text()) catch |err| {
            std.debug.print("split at {d}\n", .{split});
            return err;
        };
        try testing.expectEqual(@as(u32, 0), masker.stats.unmasked);
    }
}

test "three chunks, every pair of split points, one byte at a time" {
    const policy = support.TestPolicy{};
    const input = "{\"a\": \"x 4111111111111111 y\", \"b\": [\"12\\u0033456789\"]}";
    var whole = Collected{};
    try maskWhole(input, .{}, &policy, &whole);
    try testing.expect(std.mem.indexOf(u8, whole.text(), "************1111") != null);
    try testing.expect(std.mem.indexOf(u8, whole.text(), "\"*****6789\"") != null);
    var first: usize = 0;
    while (first <= input.len) : (first += 1) {
        var second = first;
        while (second <= input.len) : (second += 1) {
            var masker = JsonMasker.init(JsonWalker.init(.{}));
            var collected = Collected{};
            try maskChunks(&masker, &.{ input[0..first], input[first..second], input[second..] }, &policy, &collected);
            try testing.expectEqualStrings(whole.text(), collected.text());
        }
    }
    var chunks: [input.len][]const u8 = undefined;
    for (&chunks, 0..) |*chunk, index| chunk.* = input[index .. index + 1];
    var masker = JsonMasker.init(JsonWalker.init(.{}));
    var collected = Collected{};
    try maskChunks(&masker, &chunks, &policy, &collected);
    try testing.expectEqualStrings(whole.text(), collected.text());
}

test "drop removes whole members and elements, output stays valid" {
    const policy = support.TestPolicy{ .digits = .drop, .secret = .drop };
    const cases = [_]struct { input: []const u8, expect: []const u8 }{
        .{ .input = "{\"ssn\": \"123-45-6789\", \"a\": 1}", .expect = "{\"a\": 1}" },
        .{ .input = "{\"a\": 1, \"ssn\": \"123-45-6789\"}", .expect = "{\"a\": 1}" },
        .{ .input = "{\"a\": 1, \"ssn\": \"123-45-6789\", \"b\": 2}", .expect = "{\"a\": 1, \"b\": 2}" },
        .{ .input = "{\"ssn\": \"123-45-6789\"}", .expect = "{}" },
        .{ .input = "{\"x\": \"secret\", \"ssn\": \"123456789\", \"b\": 2}", .expect = "{\"b\": 2}" },
        .{ .input = "[\"123456789\", \"ok\", \"987654321\"]", .expect = "[\"ok\"]" },
        .{ .input = "{\"n\": 123456789, \"k\": [1, 123456789]}", .expect = "{\"k\": [1]}" },
    };
    for (cases) |case| {
        var collected = Collected{};
        try maskWhole(case.input, .{ .hold_members = true, .scan_numbers = true }, &policy, &collected);
        try testing.expectEqualStrings(case.expect, collected.text());
        try support.expectValidJson(collected.text());
        // Split everywhere: same result.
        var split: usize = 0;
        while (split <= case.input.len) : (split += 1) {
            var masker = JsonMasker.init(JsonWalker.init(.{ .hold_members = true, .scan_numbers = true }));
            var pieces = Collected{};
            try maskChunks(&masker, &.{ case.input[0..split], case.input[split..] }, &policy, &pieces);
            try testing.expectEqualStrings(case.expect, pieces.text());
        }
    }
}

test "a drop where members are not held masks in place instead (valid JSON either way)" {
    const policy = support.TestPolicy{ .digits = .drop };
    var collected = Collected{};
    try maskWhole("{\"ssn\": \"a 123456789 b\"}", .{}, &policy, &collected);
    try testing.expectEqualStrings("{\"ssn\": \"a  b\"}", collected.text());
}

test "masked numbers become strings unless the replacement is a number" {
    var collected = Collected{};
    try maskWhole("{\"n\": 123456789}", .{ .scan_numbers = true }, &.{}, &collected);
    try testing.expectEqualStrings("{\"n\": \"*****6789\"}", collected.text());
    var fpe = Collected{};
    const policy = support.TestPolicy{ .digits = .{ .format_preserving = .{ .key = support.test_key } } };
    try maskWhole("[123456789]", .{ .scan_numbers = true }, &policy, &fpe);
    try support.expectValidJson(fpe.text());
    try testing.expect(!std.mem.eql(u8, "[123456789]", fpe.text()));
}

test "a card number at any position across a piece boundary is masked whole" {
    const prefix = "{\"doc\": \"";
    var card_offset: usize = walker.piece_bytes_max - 20;
    while (card_offset < walker.piece_bytes_max + 4) : (card_offset += 1) {
        var input: [3 * walker.piece_bytes_max]u8 = undefined;
        @memcpy(input[0..prefix.len], prefix);
        var len = prefix.len;
        const card_at = prefix.len + card_offset;
        while (len < card_at) : (len += 1) input[len] = 'a' + @as(u8, @intCast(len % 26));
        @memcpy(input[len .. len + 16], "4111111111111111");
        len += 16;
        while (len < 2 * walker.piece_bytes_max) : (len += 1) input[len] = 'x';
        @memcpy(input[len .. len + 2], "\"}");
        len += 2;
        var collected = Collected{};
        var masker = JsonMasker.init(JsonWalker.init(.{}));
        try maskChunks(&masker, &.{ input[0 .. len / 3], input[len / 3 .. len] }, &.{}, &collected);
        try testing.expect(std.mem.indexOf(u8, collected.text(), "************1111") != null);
        try testing.expectEqual(len, collected.text().len);
        try testing.expectEqual(@as(u32, 1), masker.stats.masked);
        try testing.expectEqual(@as(u32, 1), masker.stats.findings);
    }
}

test "thousands of findings in one chunk: edit space is flushed as it goes" {
    var input: [48 * 1024]u8 = undefined;
    var len: usize = 0;
    input[0] = '[';
    len = 1;
    var count: usize = 0;
    while (count < 2000) : (count += 1) {
        const element = if (count == 0) "\"4111111111111111\"" else ",\"4111111111111111\"";
        @memcpy(input[len .. len + element.len], element);
        len += element.len;
    }
    input[len] = ']';
    len += 1;
    var collected = Collected{};
    var masker = JsonMasker.init(JsonWalker.init(.{}));
    try maskChunks(&masker, &.{input[0..len]}, &.{}, &collected);
    try testing.expectEqual(@as(u32, 2000), masker.stats.masked);
    try testing.expect(std.mem.indexOf(u8, collected.text(), "4111111111111111") == null);
    try support.expectValidJson(collected.text());
}

test "held-back tail stays within its bound for a long value in small chunks" {
    var masker = JsonMasker.init(JsonWalker.init(.{ .hold_members = true }));
    var scanner = support.TestScanner{};
    var scratch: [64 * 1024]u8 = undefined;
    var out = rewriter.FixedOutput{ .buffer = &scratch };
    _ = try masker.feed("{\"a\": \"", &scanner, &support.TestPolicy{}, &out);
    var chunk_index: usize = 0;
    while (chunk_index < 400) : (chunk_index += 1) {
        out = .{ .buffer = &scratch };
        _ = try masker.feed("y" ** 200, &scanner, &support.TestPolicy{}, &out);
        try testing.expect(masker.rewriter.tail_len <= walker.hold_bytes_max);
    }
    try testing.expect(masker.rewriter.bytes_out > 60_000);
}

test "header values, query strings and cookies are masked through the same masker" {
    const headers = walkers.headers;
    {
        var masker = StreamMasker(headers.QueryWalker).init(headers.QueryWalker.init(.{}));
        var collected = CollectedOf(headers.QueryWalker){};
        try collected.mask(&masker, "/pay?card=4111+1111%201111+1111&email=ada%40example.com&n=1#card=4111111111111111");
        try testing.expectEqualStrings("/pay?card=****+****+****+1111&email=%5BREDACTED%3AEMAIL%5D&n=1#card=4111111111111111", collected.text());
    }
    {
        var masker = StreamMasker(headers.CookieWalker).init(headers.CookieWalker.init(.cookie));
        var collected = CollectedOf(headers.CookieWalker){};
        try collected.mask(&masker, "session=abc; card=\"4111111111111111\"; note=secret");
        try testing.expectEqualStrings("session=abc; card=\"************1111\"; note=[REDACTED:SECRET]", collected.text());
    }
    {
        var masker = StreamMasker(headers.HeaderWalker).init(headers.HeaderWalker.init("x-account"));
        var collected = CollectedOf(headers.HeaderWalker){};
        try collected.mask(&masker, "acct 123456789");
        try testing.expectEqualStrings("acct *****6789", collected.text());
    }
}

/// Masks one complete value (a header) and keeps the result.
fn CollectedOf(comptime Walker: type) type {
    return struct {
        collected: Collected = .{},

        fn mask(self: *@This(), masker: *StreamMasker(Walker), value: []const u8) !void {
            var scanner = support.TestScanner{};
            const policy = support.TestPolicy{};
            var scratch: [4096]u8 = undefined;
            self.collected.out = .{ .buffer = &scratch };
            self.collected.add(try masker.feed(value, &scanner, &policy, &self.collected.out), value);
            self.collected.out = .{ .buffer = &scratch };
            self.collected.add(try masker.finish(&scanner, &policy, &self.collected.out), "");
        }

        fn text(self: *const @This()) []const u8 {
            return self.collected.text();
        }
    };
}

test "more findings in one value than one scanner batch holds are all masked" {
    var input: [4096]u8 = undefined;
    var len: usize = 0;
    for ("{\"list\": \"") |byte| {
        input[len] = byte;
        len += 1;
    }
    var count: usize = 0;
    while (count < 100) : (count += 1) {
        @memcpy(input[len .. len + 18], "4111111111111111, ");
        len += 18;
    }
    @memcpy(input[len .. len + 2], "\"}");
    len += 2;
    var collected = Collected{};
    var masker = JsonMasker.init(JsonWalker.init(.{}));
    try maskChunks(&masker, &.{input[0..len]}, &.{}, &collected);
    try testing.expectEqual(@as(u32, 100), masker.stats.masked);
    try testing.expect(std.mem.indexOf(u8, collected.text(), "4111") == null);
}

test "object keys are scanned and masked like values" {
    var collected = Collected{};
    try maskWhole("{\"4111111111111111\": {\"secret\": 1}}", .{}, &.{}, &collected);
    try testing.expectEqualStrings("{\"************1111\": {\"[REDACTED:SECRET]\": 1}}", collected.text());
}

const SseMasker = StreamMasker(walkers.sse.SseWalker);

test "SSE: a value streamed across events is masked in each event, framing kept, at every split" {
    const stream =
        "data: {\"delta\":{\"content\":\"card 4111 11\"}}\n\n" ++
        "data: {\"delta\":{\"content\":\"11 1111 1111\"}}\n\n" ++
        ": keep-alive\n\n" ++
        "data: {\"delta\":{\"content\":\" my sec\"}}\n\n" ++
        "data: {\"delta\":{\"content\":\"ret!\"}}\n\n" ++
        "data: [DONE]\n\n";
    // Partial masks keep each event's length; a placeholder goes where the value
    // starts and the rest of it leaves the later event.
    const expected =
        "data: {\"delta\":{\"content\":\"card **** **\"}}\n\n" ++
        "data: {\"delta\":{\"content\":\"** **** 1111\"}}\n\n" ++
        ": keep-alive\n\n" ++
        "data: {\"delta\":{\"content\":\" my [REDACTED:SECRET]\"}}\n\n" ++
        "data: {\"delta\":{\"content\":\"!\"}}\n\n" ++
        "data: [DONE]\n\n";
    const policy = support.TestPolicy{};
    const masker = try testing.allocator.create(SseMasker);
    defer testing.allocator.destroy(masker);
    var collected: Collected = undefined;
    var split: usize = 0;
    while (split <= stream.len) : (split += 1) {
        masker.* = SseMasker.init(walkers.sse.SseWalker.init(.{ .scan_keys = false }));
        collected = .{};
        var scanner = support.TestScanner{};
        var scratch: [4096]u8 = undefined;
        for ([_][]const u8{ stream[0..split], stream[split..] }) |chunk| {
            collected.out = .{ .buffer = &scratch };
            collected.add(try masker.feed(chunk, &scanner, &policy, &collected.out), chunk);
        }
        collected.out = .{ .buffer = &scratch };
        collected.add(try masker.finish(&scanner, &policy, &collected.out), "");
        try testing.expectEqualStrings(expected, collected.text());
        try testing.expectEqual(@as(u32, 2), masker.stats.masked);
        try testing.expectEqual(@as(u32, 0), masker.stats.unmasked);
    }
}

test "SSE: a joined part behind another field's edit is counted unmasked, never passed silently" {
    // The note's edit (in the first event, after the delta) is made before the
    // joined value ends, so the card's first part can no longer be edited.
    const stream =
        "data: {\"delta\":{\"content\":\"card 4111 1111\"},\"note\":\"a secret\"}\n\n" ++
        "data: {\"delta\":{\"content\":\" 1111 1111\"}}\n\n";
    const policy = support.TestPolicy{};
    const masker = try testing.allocator.create(SseMasker);
    defer testing.allocator.destroy(masker);
    masker.* = SseMasker.init(walkers.sse.SseWalker.init(.{ .scan_keys = false }));
    var collected = Collected{};
    var scanner = support.TestScanner{};
    var scratch: [4096]u8 = undefined;
    collected.out = .{ .buffer = &scratch };
    collected.add(try masker.feed(stream, &scanner, &policy, &collected.out), stream);
    collected.out = .{ .buffer = &scratch };
    collected.add(try masker.finish(&scanner, &policy, &collected.out), "");
    try testing.expectEqual(@as(u32, 1), masker.stats.unmasked);
    try testing.expect(std.mem.indexOf(u8, collected.text(), "\"content\":\" **** 1111\"") != null);
    try testing.expect(std.mem.indexOf(u8, collected.text(), "a [REDACTED:SECRET]") != null);
}
