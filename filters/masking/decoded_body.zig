//! Masks a compressed body: decode (gzip or deflate, resumable, bomb limits),
//! walk, scan and mask the decoded bytes, then re-encode as gzip or pass the
//! decoded bytes on, as the policy says. A compressed body is never passed on
//! unscanned here: a coding this cannot decode is the caller's to refuse or
//! pass with an alert, by policy.
//!
//! With `reencode`, the output is a gzip stream (whatever the input coding
//! was, so the filter sets `content-encoding: gzip`); without, the output is
//! the decoded body and the filter removes `content-encoding`. Either way the
//! length changes, so `content-length` goes (see content_length.zig).

const std = @import("std");
const assert = std.debug.assert;
const walkers = @import("walkers");
const Inflate = walkers.inflate.Inflate;
const gzip_encoder = @import("gzip_encoder.zig");

/// Decoded bytes handed to the inner masker per turn.
const decoded_slice_bytes = 16 * 1024;

pub fn DecodedBodyMasker(comptime Inner: type, comptime strategy: gzip_encoder.Strategy) type {
    const Encoder = gzip_encoder.GzipEncoder(strategy);
    return struct {
        const Self = @This();

        inflate: Inflate,
        /// The masker for the decoded body, owned by the caller.
        inner: *Inner,
        reencode: bool,
        encoder: Encoder = .{},
        decoded: [decoded_slice_bytes]u8 = undefined,
        /// The inner masker failed (the decoded body did not parse, or its tail
        /// overflowed); the decoder and encoder are still sound.
        inner_failed: bool = false,
        /// After a fail-open resumption: decoded bytes go to the encoder unscanned.
        passthrough: bool = false,
        /// Input of the failed `feed` not yet decoded; valid until that callback returns.
        pending_input: []const u8 = "",
        inflate_finished: bool = false,

        /// Sets up in place, field by field: the struct is too large to build
        /// on the 384 KiB wasm stack, and the encoder points into it.
        pub fn init(self: *Self, container: walkers.inflate.Container, limits: walkers.inflate.Limits, inner: *Inner, reencode: bool) void {
            self.inflate.reset(container, limits);
            self.inner = inner;
            self.reencode = reencode;
            self.encoder = .{};
            self.inner_failed = false;
            self.passthrough = false;
            self.pending_input = "";
            self.inflate_finished = false;
        }

        pub fn feed(self: *Self, chunk: []const u8, scanner: anytype, policy: anytype, out: anytype) !void {
            if (self.reencode and !self.encoder.started) try self.encoder.start(out);
            var input = chunk;
            // Every turn consumes input or produces output, or the loop ends.
            while (true) {
                const progress = try self.inflate.decode(input, &self.decoded);
                input = input[progress.consumed..];
                if (progress.produced > 0) {
                    const decoded = self.decoded[0..progress.produced];
                    if (self.passthrough) {
                        var sink = Onward(@TypeOf(out)){ .encoder = &self.encoder, .out = out, .reencode = self.reencode };
                        try sink.write(decoded);
                    } else {
                        self.maskDecoded(decoded, scanner, policy, out) catch |err| {
                            self.inner_failed = true;
                            self.pending_input = input;
                            return err;
                        };
                    }
                }
                if (progress.consumed == 0 and progress.produced == 0) break;
            }
            assert(input.len == 0 or self.inflate.atEnd());
        }

        /// Fail open after the inner masker failed: what it held back and had not
        /// read yet (`unsent`) goes to the encoder as it was decoded, the rest of
        /// the failed chunk follows, and from here on the body is decoded and
        /// re-encoded unscanned, so the client still gets one valid stream.
        pub fn continueUnscanned(self: *Self, unsent: [3][]const u8, scanner: anytype, policy: anytype, out: anytype) !void {
            assert(self.inner_failed and !self.passthrough);
            self.passthrough = true;
            var sink = Onward(@TypeOf(out)){ .encoder = &self.encoder, .out = out, .reencode = self.reencode };
            for (unsent) |part| if (part.len > 0) try sink.write(part);
            const rest = self.pending_input;
            self.pending_input = "";
            if (rest.len > 0) try self.feed(rest, scanner, policy, out);
        }

        pub fn finish(self: *Self, scanner: anytype, policy: anytype, out: anytype) !void {
            if (!self.inflate_finished) try self.inflate.finish();
            self.inflate_finished = true;
            if (self.reencode and !self.encoder.started) try self.encoder.start(out);
            if (!self.passthrough) {
                var sink = Onward(@TypeOf(out)){ .encoder = &self.encoder, .out = out, .reencode = self.reencode };
                const result = self.inner.finish(scanner, policy, &sink) catch |err| {
                    self.inner_failed = true;
                    return err;
                };
                assert(result == .unchanged or result == .rewritten);
            }
            if (self.reencode) try self.encoder.finish(out);
        }

        fn maskDecoded(self: *Self, decoded: []const u8, scanner: anytype, policy: anytype, out: anytype) !void {
            var sink = Onward(@TypeOf(out)){ .encoder = &self.encoder, .out = out, .reencode = self.reencode };
            const result = try self.inner.feed(decoded, scanner, policy, &sink);
            if (result == .unchanged) try sink.write(decoded);
        }

        /// The inner masker's output, on to the encoder or straight out.
        fn Onward(comptime Out: type) type {
            return struct {
                encoder: *Encoder,
                out: Out,
                reencode: bool,

                pub fn write(self: *@This(), bytes: []const u8) !void {
                    if (self.reencode) return self.encoder.write(bytes, self.out);
                    return self.out.write(bytes);
                }
            };
        }
    };
}

// ---------------------------------------------------------------- tests

const testing = std.testing;
const JsonWalker = walkers.json.JsonWalker;
const StreamMasker = @import("stream_masker.zig").StreamMasker;
const support = @import("test_support.zig");

/// An output that grows, for tests whose output size is not known up front.
const ListOutput = struct {
    list: std.ArrayList(u8),

    pub fn write(self: *ListOutput, bytes: []const u8) !void {
        try self.list.appendSlice(bytes);
    }
};

const body =
    \\{"orders": [{"card": "4111-1111-1111-1111", "email": "ada@example.com", "note": "secret"},
    \\ {"card": "5500 0000 0000 0004", "email": "bob@example.com", "note": "fine"}]}
;

fn gzip(data: []const u8, allocator: std.mem.Allocator) ![]u8 {
    var list = std.ArrayList(u8).init(allocator);
    var input = std.io.fixedBufferStream(data);
    try std.compress.gzip.compress(input.reader(), list.writer(), .{});
    return list.toOwnedSlice();
}

fn gunzip(data: []const u8, allocator: std.mem.Allocator) ![]u8 {
    var list = std.ArrayList(u8).init(allocator);
    var input = std.io.fixedBufferStream(data);
    try std.compress.gzip.decompress(input.reader(), list.writer());
    return list.toOwnedSlice();
}

fn maskPlain(allocator: std.mem.Allocator) ![]u8 {
    const masker = try allocator.create(StreamMasker(JsonWalker));
    defer allocator.destroy(masker);
    masker.* = StreamMasker(JsonWalker).init(JsonWalker.init(.{}));
    var out = ListOutput{ .list = std.ArrayList(u8).init(allocator) };
    var scanner = support.TestScanner{};
    const policy = support.TestPolicy{};
    if (try masker.feed(body, &scanner, &policy, &out) == .unchanged) try out.write(body);
    _ = try masker.finish(&scanner, &policy, &out);
    return out.list.toOwnedSlice();
}

fn roundTrip(comptime strategy: gzip_encoder.Strategy, compressed: []const u8, chunk_len: usize, reencode: bool) ![]u8 {
    const Masker = DecodedBodyMasker(StreamMasker(JsonWalker), strategy);
    const masker = try testing.allocator.create(Masker);
    defer testing.allocator.destroy(masker);
    const inner = try testing.allocator.create(StreamMasker(JsonWalker));
    defer testing.allocator.destroy(inner);
    inner.* = StreamMasker(JsonWalker).init(JsonWalker.init(.{}));
    masker.init(.gzip, .{}, inner, reencode);
    var out = ListOutput{ .list = std.ArrayList(u8).init(testing.allocator) };
    errdefer out.list.deinit();
    var scanner = support.TestScanner{};
    const policy = support.TestPolicy{};
    var offset: usize = 0;
    while (offset < compressed.len) : (offset += chunk_len) {
        try masker.feed(compressed[offset..@min(offset + chunk_len, compressed.len)], &scanner, &policy, &out);
    }
    try masker.finish(&scanner, &policy, &out);
    return out.list.toOwnedSlice();
}

test "gzip round trip: decoded, masked, re-encoded, and std decodes the result" {
    const expected = try maskPlain(testing.allocator);
    defer testing.allocator.free(expected);
    try testing.expect(std.mem.indexOf(u8, expected, "4111-1111-1111-1111") == null);
    const compressed = try gzip(body, testing.allocator);
    defer testing.allocator.free(compressed);
    inline for (.{ gzip_encoder.Strategy.lz77, gzip_encoder.Strategy.huffman }) |strategy| {
        for ([_]usize{ 1, 7, 64, compressed.len }) |chunk_len| {
            const reencoded = try roundTrip(strategy, compressed, chunk_len, true);
            defer testing.allocator.free(reencoded);
            const plain = try gunzip(reencoded, testing.allocator);
            defer testing.allocator.free(plain);
            try testing.expectEqualStrings(expected, plain);
            try support.expectValidJson(plain);
        }
    }
}

test "decode-only: the output is the masked plain body" {
    const expected = try maskPlain(testing.allocator);
    defer testing.allocator.free(expected);
    const compressed = try gzip(body, testing.allocator);
    defer testing.allocator.free(compressed);
    const decoded = try roundTrip(.huffman, compressed, 10, false);
    defer testing.allocator.free(decoded);
    try testing.expectEqualStrings(expected, decoded);
}

test "a gzip bomb is refused before it is expanded" {
    // 4 MiB of spaces inside a JSON string: valid, tiny, and 1000:1.
    var list = std.ArrayList(u8).init(testing.allocator);
    defer list.deinit();
    var compressor = try std.compress.gzip.compressor(list.writer(), .{ .level = .fast });
    _ = try compressor.write("[\"");
    const spaces = [_]u8{' '} ** 4096;
    var written: usize = 0;
    while (written < 4 * 1024 * 1024) : (written += spaces.len) _ = try compressor.write(&spaces);
    _ = try compressor.write("\"]");
    try compressor.finish();
    const Masker = DecodedBodyMasker(StreamMasker(JsonWalker), .huffman);
    const masker = try testing.allocator.create(Masker);
    defer testing.allocator.destroy(masker);
    const inner = try testing.allocator.create(StreamMasker(JsonWalker));
    defer testing.allocator.destroy(inner);
    inner.* = StreamMasker(JsonWalker).init(JsonWalker.init(.{}));
    masker.init(.gzip, .{ .ratio_max = 100 }, inner, true);
    var out = ListOutput{ .list = std.ArrayList(u8).init(testing.allocator) };
    defer out.list.deinit();
    var scanner = support.TestScanner{};
    const policy = support.TestPolicy{};
    try testing.expectError(error.RatioTooHigh, masker.feed(list.items, &scanner, &policy, &out));
    try testing.expect(masker.inflate.total_out < 2 * 1024 * 1024);
}
