//! Masks gRPC bodies message by message: the framer collects each message
//! (frames split across chunks, several frames per chunk), the protobuf walker
//! reports its fields, the scanner and policy decide, and a message with edits
//! is rebuilt with every changed length prefix fixed up and a new frame prefix.
//! Messages without findings go out byte for byte as they came, and a chunk of
//! only such whole messages is reported `.unchanged` (nothing copied).
//!
//! Compressed messages (frame flag 1) are decoded with the stream's
//! `grpc-encoding` (gzip or deflate), bounded by the message buffer and the
//! bomb limits. A compressed message that needs masking goes out uncompressed
//! with flag 0, which gRPC allows whatever `grpc-encoding` says; one without
//! findings goes out compressed, unchanged.

const std = @import("std");
const assert = std.debug.assert;
const walkers = @import("walkers");
const walker = walkers.walker;
const protobuf = walkers.protobuf;
const grpc = walkers.grpc;
const inflate = walkers.inflate;
const actions = @import("actions.zig");
const encode = @import("encode.zig");
const protobuf_rewrite = @import("protobuf_rewrite.zig");
const stream_masker = @import("stream_masker.zig");

pub const Finding = stream_masker.Finding;
pub const Stats = stream_masker.Stats;
pub const Result = stream_masker.Result;
const findings_max = stream_masker.findings_max;

pub const Options = struct {
    walker: protobuf.Options = .{},
    /// How compressed messages are encoded (`grpc-encoding`); null refuses them.
    message_coding: ?inflate.Container = null,
    limits: inflate.Limits = .{},
};

pub const Error = error{ CompressedMessage, MessageTooLarge };

pub const GrpcMasker = struct {
    options: Options,
    framer: grpc.GrpcFramer,
    /// Holds a decompressed message; its size bounds one.
    decode_storage: []u8,
    walker: protobuf.ProtobufWalker,
    nodes: protobuf.NodeList(protobuf_rewrite.nodes_max) = .{},
    edits: protobuf_rewrite.EditList = .{},
    plan: protobuf_rewrite.Plan = .{},
    inflate: inflate.Inflate = undefined,
    findings: [findings_max]Finding = undefined,
    scratch: [walker.piece_bytes_max + 256]u8 = undefined,
    stats: Stats = .{},
    diagnostic: walker.Diagnostic = .{},
    // Per chunk: the chunk, and how much of it is accounted for in the output.
    chunk: []const u8 = "",
    chunk_start: u64 = 0,
    out_started: bool = false,
    /// Absolute offset from which in-place, unchanged frames are not yet written.
    pending_from: u64 = 0,
    /// Absolute offset up to which the input has gone out (written, or part of a
    /// chunk reported unchanged): a fail-open resumption passes the raw bytes from here.
    emitted: u64 = 0,
    /// A frame is being written: a failure now leaves half a frame out, so the
    /// body cannot be resumed.
    emitting: bool = false,
    /// The string field the last leaf node was recorded for.
    last_leaf_tag: ?u64 = null,

    /// `frame_storage` collects frames split across chunks and bounds a
    /// message; `decode_storage` bounds a decompressed one.
    pub fn init(frame_storage: []u8, decode_storage: []u8, options: Options) GrpcMasker {
        return .{
            .options = options,
            .framer = grpc.GrpcFramer.init(frame_storage),
            .decode_storage = decode_storage,
            .walker = protobuf.ProtobufWalker.init(options.walker),
        };
    }

    /// `init` where the masker lives: it is ~117 KiB, far too much to build in a
    /// wasm stack frame and copy.
    pub fn reset(self: *GrpcMasker, frame_storage: []u8, decode_storage: []u8, options: Options) void {
        walkers.in_place.initDefaults(self);
        self.options = options;
        self.framer = grpc.GrpcFramer.init(frame_storage);
        self.decode_storage = decode_storage;
        self.walker = protobuf.ProtobufWalker.init(options.walker);
    }

    pub fn feed(self: *GrpcMasker, chunk: []const u8, scanner: anytype, policy: anytype, out: anytype) !Result {
        self.chunk = chunk;
        self.chunk_start = self.framer.position;
        self.out_started = false;
        self.pending_from = self.chunk_start;
        self.emitted = self.framer.holdFrom();
        self.emitting = false;
        const partial_at_start = self.framer.prefix_len > 0;
        var handler = Handler(@TypeOf(scanner), @TypeOf(policy), @TypeOf(out)){ .masker = self, .scanner = scanner, .policy = policy, .out = out };
        try self.framer.feed(chunk, &handler);
        const chunk_end = self.chunk_start + chunk.len;
        const hold = self.framer.holdFrom();
        if (!self.out_started and !partial_at_start and hold == chunk_end) {
            self.emitted = chunk_end;
            return .unchanged;
        }
        if (!self.out_started and hold > self.pending_from) try out.write(self.chunkBytes(self.pending_from, hold));
        self.emitted = hold;
        return .rewritten;
    }

    /// After a failed `feed`: the raw bytes not yet passed on, in order (the held
    /// frame's prefix and message bytes from earlier chunks, then the chunk from
    /// there), so a fail-open policy passes the rest of the body as it came,
    /// starting on a frame boundary; null when half a frame is already out.
    pub fn unsent(self: *const GrpcMasker) ?[3][]const u8 {
        if (self.emitting) return null;
        const chunk_end = self.chunk_start + self.chunk.len;
        assert(self.emitted <= chunk_end);
        var parts: [3][]const u8 = .{ "", "", "" };
        if (self.emitted < self.chunk_start) {
            // Held bytes of the frame begun before this chunk: prefix, then message.
            const held: usize = @intCast(self.chunk_start - self.emitted);
            assert(held <= grpc.prefix_bytes + self.framer.storage.len);
            parts[0] = self.framer.prefix[0..@min(held, grpc.prefix_bytes)];
            if (held > grpc.prefix_bytes) parts[1] = self.framer.storage[0 .. held - grpc.prefix_bytes];
        }
        parts[2] = self.chunkBytes(@max(self.emitted, self.chunk_start), chunk_end);
        return parts;
    }

    /// End of stream: a frame cut short is refused.
    pub fn finish(self: *GrpcMasker) !void {
        try self.framer.finish();
    }

    fn chunkBytes(self: *const GrpcMasker, from: u64, to: u64) []const u8 {
        assert(from >= self.chunk_start and to <= self.chunk_start + self.chunk.len);
        return self.chunk[@intCast(from - self.chunk_start)..@intCast(to - self.chunk_start)];
    }

    fn Handler(comptime Scanner: type, comptime Policy: type, comptime Out: type) type {
        return struct {
            masker: *GrpcMasker,
            scanner: Scanner,
            policy: Policy,
            out: Out,

            pub fn onFrame(handler: *@This(), frame: grpc.Frame) !void {
                const masker = handler.masker;
                const in_place = frame.start >= masker.chunk_start;
                const frame_end = frame.start + grpc.prefix_bytes + frame.message.len;
                const message = try masker.plainMessage(frame);
                masker.edits.reset();
                masker.nodes.len = 0;
                masker.last_leaf_tag = null;
                var sink = ValueSink(Scanner, Policy){ .masker = masker, .message = message, .scanner = handler.scanner, .policy = handler.policy };
                masker.walker.walk(message, 0, &masker.nodes, &sink) catch |err| {
                    masker.diagnostic = masker.walker.diagnostic;
                    return err;
                };
                const changed = masker.edits.len > 0;
                masker.emitting = true;
                if (in_place and !changed) {
                    if (masker.out_started) {
                        try handler.out.write(masker.chunkBytes(frame.start, frame_end));
                        masker.emitted = frame_end;
                    }
                    masker.emitting = false;
                    return;
                }
                if (!masker.out_started) {
                    if (in_place) try handler.out.write(masker.chunkBytes(masker.pending_from, frame.start));
                    masker.out_started = true;
                }
                if (changed) {
                    try masker.writeRewritten(message, handler.out);
                } else {
                    const prefix = grpc.writePrefix(frame.compressed, @intCast(frame.message.len));
                    try handler.out.write(&prefix);
                    try handler.out.write(frame.message);
                }
                masker.pending_from = @max(masker.pending_from, frame_end);
                masker.emitted = frame_end;
                masker.emitting = false;
            }
        };
    }

    /// The message as protobuf bytes: decompressed when the frame says so.
    fn plainMessage(self: *GrpcMasker, frame: grpc.Frame) ![]const u8 {
        if (!frame.compressed) return frame.message;
        const coding = self.options.message_coding orelse {
            self.diagnostic.set(frame.start, "compressed gRPC message but no grpc-encoding to decode it");
            return error.CompressedMessage;
        };
        self.inflate.reset(coding, self.options.limits);
        const progress = try self.inflate.decode(frame.message, self.decode_storage);
        if (!self.inflate.atEnd() or progress.consumed != frame.message.len) {
            if (progress.produced == self.decode_storage.len) {
                self.diagnostic.set(frame.start, "decompressed gRPC message is larger than the buffer limit");
                return error.MessageTooLarge;
            }
            try self.inflate.finish();
        }
        return self.decode_storage[0..progress.produced];
    }

    fn writeRewritten(self: *GrpcMasker, message: []const u8, out: anytype) !void {
        self.plan.compute(message.len, self.nodes.slice(), self.edits.slice());
        if (self.plan.message_len > std.math.maxInt(u32)) return error.MessageTooLarge;
        const prefix = grpc.writePrefix(false, @intCast(self.plan.message_len));
        try out.write(&prefix);
        try self.plan.write(message, self.nodes.slice(), self.edits.slice(), out);
    }

    fn ValueSink(comptime Scanner: type, comptime Policy: type) type {
        return struct {
            masker: *GrpcMasker,
            message: []const u8,
            scanner: Scanner,
            policy: Policy,

            pub fn onValue(sink: *@This(), value: *const walker.Value) !void {
                try stream_masker.scanValue(sink.scanner, value, &sink.masker.findings, sink);
            }

            pub fn apply(sink: *@This(), value: *const walker.Value, finding: Finding) !stream_masker.Flow {
                const masker = sink.masker;
                if (!value.owns(finding.end)) return .next;
                masker.stats.findings += 1;
                const action = sink.policy.actionFor(finding.detector) orelse return .next;
                if (action == .drop) {
                    try masker.dropField(value);
                    return .value_done;
                }
                if (value.encoding == .protobuf_varint) {
                    try masker.maskVarint(value, action);
                    return .value_done;
                }
                try masker.maskSpan(sink.message, value, finding, action);
                return .next;
            }
        };
    }

    fn dropField(self: *GrpcMasker, value: *const walker.Value) !void {
        const member = value.member.?;
        try self.edits.addDrop(@intCast(member.start), @intCast(member.end));
        self.stats.dropped += 1;
    }

    /// A number field keeps a number (format-preserving replacement); any
    /// other replacement cannot be a varint, so the field is dropped.
    fn maskVarint(self: *GrpcMasker, value: *const walker.Value, action: actions.Action) !void {
        const replacement = actions.apply(action, value.bytes, &self.scratch);
        const encoded = encode.encode(.protobuf_varint, replacement, self.edits.space()) catch |err| switch (err) {
            error.NotRepresentable => return self.dropField(value),
            else => return err,
        };
        try self.edits.add(@intCast(value.token_start), @intCast(value.token_end), encoded.len);
        self.stats.masked += 1;
    }

    fn maskSpan(self: *GrpcMasker, message: []const u8, value: *const walker.Value, finding: Finding, action: actions.Action) !void {
        var start = finding.start;
        const editable = self.edits.editableFrom();
        if (value.raw.rawStartOf(start) < editable) {
            start = value.raw.decodedAtOrAfter(editable, @intCast(value.bytes.len));
            if (start >= finding.end) return;
        }
        const replacement = actions.apply(action, value.bytes[start..finding.end], &self.scratch);
        const encoded = try encode.encode(.identity, replacement, self.edits.space());
        const member = value.member.?;
        if (self.last_leaf_tag != member.start) {
            // The field's own length prefix changes with it.
            try self.nodes.append(protobuf_rewrite.leafNode(message, @intCast(member.start), @intCast(value.token_start), @intCast(value.token_end)));
            self.last_leaf_tag = member.start;
        }
        try self.edits.add(@intCast(value.raw.rawStartOf(start)), @intCast(value.raw.rawEndOf(finding.end)), encoded.len);
        self.stats.masked += 1;
    }
};

// ---------------------------------------------------------------- tests

const testing = std.testing;
const TestEncoder = protobuf.TestEncoder;
const support = @import("test_support.zig");
const FixedOutput = @import("rewriter.zig").FixedOutput;

/// A payment: { 1: name, 2: { 1: card, 2: amount (varint), 3: { 1: ssn } } }
fn payment(encoder: *TestEncoder, name: []const u8, card: []const u8, amount: u64, ssn: []const u8) void {
    var holder = TestEncoder{};
    holder.lenField(1, ssn);
    var details = TestEncoder{};
    details.lenField(1, card);
    details.tag(2, .varint);
    details.varint(amount);
    details.lenField(3, holder.bytes());
    encoder.lenField(1, name);
    encoder.lenField(2, details.bytes());
}

fn appendFrame(encoder: *TestEncoder, message: []const u8) void {
    encoder.raw(&grpc.writePrefix(false, @intCast(message.len)));
    encoder.raw(message);
}

/// Splits `body` into frames and decodes each message's strings, checking
/// every frame length and protobuf length on the way.
const DecodedFrames = struct {
    strings: [16][64]u8 = undefined,
    lens: [16]usize = undefined,
    count: usize = 0,
    frames: usize = 0,

    fn decode(self: *DecodedFrames, body: []const u8) !void {
        var rest = body;
        while (rest.len > 0) {
            try testing.expect(rest.len >= grpc.prefix_bytes);
            try testing.expectEqual(@as(u8, 0), rest[0]);
            const len = std.mem.readInt(u32, rest[1..5], .big);
            try testing.expect(rest.len >= grpc.prefix_bytes + len);
            var protobuf_walker = protobuf.ProtobufWalker.init(.{});
            try protobuf_walker.walk(rest[5 .. 5 + len], 0, null, self);
            rest = rest[5 + len ..];
            self.frames += 1;
        }
    }

    pub fn onValue(self: *DecodedFrames, value: *const walker.Value) !void {
        @memcpy(self.strings[self.count][0..value.bytes.len], value.bytes);
        self.lens[self.count] = value.bytes.len;
        self.count += 1;
    }

    fn string(self: *const DecodedFrames, index: usize) []const u8 {
        return self.strings[index][0..self.lens[index]];
    }
};

fn maskBody(masker: *GrpcMasker, chunks: []const []const u8, policy: *const support.TestPolicy, out: *FixedOutput) !void {
    var scanner = support.TestScanner{};
    for (chunks) |chunk| {
        if (try masker.feed(chunk, &scanner, policy, out) == .unchanged) try out.write(chunk);
    }
    try masker.finish();
}

fn sampleBody(encoder: *TestEncoder) void {
    var first = TestEncoder{};
    payment(&first, "Ada", "4111111111111111", 1250, "123-45-6789");
    var second = TestEncoder{};
    payment(&second, "Bob", "no card", 99, "none");
    appendFrame(encoder, first.bytes());
    appendFrame(encoder, second.bytes());
    appendFrame(encoder, "");
}

test "masked messages keep valid frames and protobuf lengths" {
    var body = TestEncoder{};
    sampleBody(&body);
    var storage: [1024]u8 = undefined;
    var decode_storage: [1024]u8 = undefined;
    var masker = GrpcMasker.init(&storage, &decode_storage, .{});
    var buffer: [2048]u8 = undefined;
    var out = FixedOutput{ .buffer = &buffer };
    const policy = support.TestPolicy{ .digits = .{ .redact = .{ .placeholder = "[REDACTED:CREDIT_CARD_OR_SSN]" } } };
    try maskBody(&masker, &.{body.bytes()}, &policy, &out);
    var decoded = DecodedFrames{};
    try decoded.decode(out.written());
    try testing.expectEqual(@as(usize, 3), decoded.frames);
    const expected = [_][]const u8{ "Ada", "[REDACTED:CREDIT_CARD_OR_SSN]", "[REDACTED:CREDIT_CARD_OR_SSN]", "Bob", "no card", "none" };
    try testing.expectEqual(expected.len, decoded.count);
    for (expected, 0..) |want, index| try testing.expectEqualStrings(want, decoded.string(index));
    try testing.expectEqual(@as(u32, 2), masker.stats.masked);
}

test "frames split at every offset give the same output" {
    var body = TestEncoder{};
    sampleBody(&body);
    const input = body.bytes();
    var storage: [1024]u8 = undefined;
    var decode_storage: [1024]u8 = undefined;
    var whole_buffer: [2048]u8 = undefined;
    var whole = FixedOutput{ .buffer = &whole_buffer };
    var masker = GrpcMasker.init(&storage, &decode_storage, .{});
    try maskBody(&masker, &.{input}, &.{}, &whole);
    var split: usize = 0;
    while (split <= input.len) : (split += 1) {
        var buffer: [2048]u8 = undefined;
        var out = FixedOutput{ .buffer = &buffer };
        var split_masker = GrpcMasker.init(&storage, &decode_storage, .{});
        try maskBody(&split_masker, &.{ input[0..split], input[split..] }, &.{}, &out);
        try testing.expectEqualSlices(u8, whole.written(), out.written());
    }
}

test "a chunk of whole messages without findings passes unchanged" {
    var message = TestEncoder{};
    payment(&message, "Bob", "no card", 99, "none");
    var body = TestEncoder{};
    appendFrame(&body, message.bytes());
    appendFrame(&body, message.bytes());
    var storage: [1024]u8 = undefined;
    var decode_storage: [1024]u8 = undefined;
    var masker = GrpcMasker.init(&storage, &decode_storage, .{});
    var buffer: [8]u8 = undefined;
    var out = FixedOutput{ .buffer = &buffer };
    var scanner = support.TestScanner{};
    try testing.expectEqual(Result.unchanged, try masker.feed(body.bytes(), &scanner, &support.TestPolicy{}, &out));
    try testing.expectEqual(@as(usize, 0), out.len);
}

test "compressed messages: decoded and scanned; masked ones go out uncompressed" {
    var message = TestEncoder{};
    payment(&message, "Ada", "4111111111111111", 5, "x");
    var compressed: [512]u8 = undefined;
    var stream = std.io.fixedBufferStream(&compressed);
    var input = std.io.fixedBufferStream(message.bytes());
    try std.compress.gzip.compress(input.reader(), stream.writer(), .{});
    const gz = stream.getWritten();
    var body = TestEncoder{};
    body.raw(&grpc.writePrefix(true, @intCast(gz.len)));
    body.raw(gz);
    var storage: [1024]u8 = undefined;
    var decode_storage: [1024]u8 = undefined;
    var buffer: [1024]u8 = undefined;
    var out = FixedOutput{ .buffer = &buffer };
    var masker = GrpcMasker.init(&storage, &decode_storage, .{ .message_coding = .gzip });
    try maskBody(&masker, &.{body.bytes()}, &.{}, &out);
    var decoded = DecodedFrames{};
    try decoded.decode(out.written());
    try testing.expectEqualStrings("************1111", decoded.string(1));
    // Without a grpc-encoding, a compressed message is refused, not passed unscanned.
    var refusing = GrpcMasker.init(&storage, &decode_storage, .{});
    var scanner = support.TestScanner{};
    try testing.expectError(error.CompressedMessage, refusing.feed(body.bytes(), &scanner, &support.TestPolicy{}, &out));
}

test "number fields: format-preserving keeps a varint, other actions drop the field" {
    var message = TestEncoder{};
    payment(&message, "Ada", "x", 123456789012, "y");
    var body = TestEncoder{};
    appendFrame(&body, message.bytes());
    var storage: [1024]u8 = undefined;
    var decode_storage: [1024]u8 = undefined;
    const options = Options{ .walker = .{ .scan_numbers = true } };
    var buffer: [1024]u8 = undefined;
    var out = FixedOutput{ .buffer = &buffer };
    var masker = GrpcMasker.init(&storage, &decode_storage, options);
    try maskBody(&masker, &.{body.bytes()}, &.{ .digits = .{ .format_preserving = .{ .key = support.test_key } } }, &out);
    var kept = DecodedFrames{};
    try kept.decode(out.written());
    try testing.expectEqual(@as(u32, 1), masker.stats.masked);
    var dropped_buffer: [1024]u8 = undefined;
    var dropped_out = FixedOutput{ .buffer = &dropped_buffer };
    var dropping = GrpcMasker.init(&storage, &decode_storage, options);
    try maskBody(&dropping, &.{body.bytes()}, &.{}, &dropped_out);
    try testing.expectEqual(@as(u32, 1), dropping.stats.dropped);
    // Tag and six-byte varint gone; the enclosing lengths stay one byte each.
    try testing.expectEqual(body.bytes().len - 7, dropped_out.written().len);
    var after_drop = DecodedFrames{};
    try after_drop.decode(dropped_out.written());
    try testing.expectEqual(@as(usize, 3), after_drop.count);
}
