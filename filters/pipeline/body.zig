//! The per-message body processors, built in place in a slot (slots.zig): the walkers
//! and maskers are far too large for the 384 KiB wasm stack or the per-callback arena,
//! and must outlive a callback. One processor per body format and coding:
//!
//! - `Detector` (meshveil-dlp): walks and scans, keeps nothing of the body; gzip and
//!   deflate are decoded on the way (bomb limits apply); gRPC frames are collected and
//!   each message walked by wire format.
//! - `Masker` (meshveil-mask): walks, scans and rewrites with a held-back tail; a gzip
//!   body is decoded, masked and re-encoded as gzip (Huffman-only, to keep a slot small);
//!   a gRPC message with edits is rebuilt with its lengths fixed up.
//!
//! Both are unions of pointers into the slot, dispatched with `inline else`, so every
//! variant has the same small interface.

const std = @import("std");
const assert = std.debug.assert;
const walkers = @import("walkers");
const masking = @import("masking");
const in_place = walkers.in_place;

const walker = walkers.walker;
const inflate = walkers.inflate;
const content_type = walkers.content_type;
const stream_masker = masking.stream_masker;
const Finding = stream_masker.Finding;
const findings_max = stream_masker.findings_max;
const GrpcMasker = masking.grpc_masker.GrpcMasker;

/// Decoded bytes handed to the walker per turn when a body is compressed.
const decoded_slice_bytes = 16 * 1024;
/// Largest gRPC message (after decompression) a slot holds; larger ones are refused,
/// as the policy's failure mode says.
pub const grpc_message_bytes_max = 64 * 1024;

/// Field names for a gRPC body: the config's field table and the message type of this
/// side of the method. Both null when the config has no table or the table does not
/// know the request's `:path`: fields are then named by number.
pub const GrpcSchema = struct {
    fields: ?*const walkers.protobuf.FieldTable = null,
    root_message: ?u16 = null,
};

/// What a processor is built for, decided from the route and the headers.
pub const Setup = struct {
    format: content_type.BodyFormat,
    /// The body's own coding: identity, or a container to decode.
    coding: ?inflate.Container = null,
    /// `grpc-encoding` of compressed gRPC messages.
    grpc_coding: ?inflate.Container = null,
    grpc_schema: GrpcSchema = .{},
    scan_numbers: bool = false,
    /// Hold JSON members and form pairs back so a mask may drop them whole.
    hold_members: bool = false,
    limits: inflate.Limits = .{},
};

fn jsonOptions(setup: Setup) walkers.json.Options {
    return .{ .scan_numbers = setup.scan_numbers, .hold_members = setup.hold_members, .multiple_documents = setup.format == .json_lines };
}

fn grpcOptions(setup: Setup) masking.grpc_masker.Options {
    const walker_options = walkers.protobuf.Options{
        .scan_numbers = setup.scan_numbers,
        .fields = setup.grpc_schema.fields,
        .root_message = setup.grpc_schema.root_message,
    };
    return .{ .walker = walker_options, .message_coding = setup.grpc_coding, .limits = setup.limits };
}

/// Initialises the walker of `Walker` for `setup`, in place.
fn initWalker(comptime Walker: type, target: *Walker, setup: Setup) void {
    // The JSON and SSE walkers (19 and 31 KiB, mostly scratch) are set up where they
    // live: a copy of them on every message is most of what starting a body costs,
    // and a by-value init puts them on the wasm stack.
    switch (Walker) {
        walkers.json.JsonWalker, walkers.sse.SseWalker => target.reset(jsonOptions(setup)),
        walkers.form.FormWalker => target.* = walkers.form.FormWalker.init(.{ .hold_members = setup.hold_members }),
        walkers.text.TextWalker => target.* = walkers.text.TextWalker.init("text"),
        else => @compileError("no walker setup for " ++ @typeName(Walker)),
    }
}

/// Output that drops what it is given: detection needs no output.
pub const Discard = struct {
    pub fn write(_: *Discard, _: []const u8) error{}!void {}
};

/// A handler for `stream_masker.scanValue` that only lets the scanner see the value:
/// the route scanner counts what it finds.
const CountOnly = struct {
    pub fn apply(_: *CountOnly, _: *const walker.Value, _: Finding) error{}!stream_masker.Flow {
        return .next;
    }
};

// ---------------------------------------------------------------- detection

fn Detect(comptime Walker: type) type {
    return struct {
        const Self = @This();

        walker: Walker,
        findings: [findings_max]Finding,

        fn init(self: *Self, setup: Setup) void {
            initWalker(Walker, &self.walker, setup);
        }

        pub fn feed(self: *Self, chunk: []const u8, scanner: anytype) !void {
            var sink = Sink(@TypeOf(scanner)){ .findings = &self.findings, .scanner = scanner };
            try self.walker.feed(chunk, &sink);
        }

        pub fn finish(self: *Self, scanner: anytype) !void {
            var sink = Sink(@TypeOf(scanner)){ .findings = &self.findings, .scanner = scanner };
            try self.walker.finish(&sink);
        }
    };
}

/// Hands each value a walker reports to the scanner (which counts what it finds).
pub fn Sink(comptime Scanner: type) type {
    return struct {
        findings: *[findings_max]Finding,
        scanner: Scanner,

        pub fn onValue(self: *@This(), value: *const walker.Value) !void {
            var handler = CountOnly{};
            try stream_masker.scanValue(self.scanner, value, self.findings, &handler);
        }
    };
}

fn DetectDecoded(comptime Walker: type) type {
    return struct {
        const Self = @This();

        inflate: inflate.Inflate,
        decoded: [decoded_slice_bytes]u8,
        inner: Detect(Walker),

        fn init(self: *Self, setup: Setup) void {
            self.inflate.reset(setup.coding.?, setup.limits);
            self.inner.init(setup);
        }

        pub fn feed(self: *Self, chunk: []const u8, scanner: anytype) !void {
            var input = chunk;
            // Every turn consumes input or produces output, or the loop ends.
            while (true) {
                const progress = try self.inflate.decode(input, &self.decoded);
                input = input[progress.consumed..];
                if (progress.produced > 0) try self.inner.feed(self.decoded[0..progress.produced], scanner);
                if (progress.consumed == 0 and progress.produced == 0) break;
            }
        }

        pub fn finish(self: *Self, scanner: anytype) !void {
            try self.inflate.finish();
            try self.inner.finish(scanner);
        }
    };
}

const DetectGrpc = struct {
    masker: GrpcMasker,
    frames: [grpc_message_bytes_max]u8,
    decoded: [grpc_message_bytes_max]u8,

    fn init(self: *DetectGrpc, setup: Setup) void {
        initGrpc(&self.masker, &self.frames, &self.decoded, setup);
    }

    pub fn feed(self: *DetectGrpc, chunk: []const u8, scanner: anytype) !void {
        var out = Discard{};
        _ = try self.masker.feed(chunk, scanner, &detect_only, &out);
    }

    pub fn finish(self: *DetectGrpc, scanner: anytype) !void {
        _ = scanner;
        try self.masker.finish();
    }
};

/// A mask policy with no action: gRPC detection runs the masker without rewriting.
const DetectOnlyPolicy = struct {
    pub fn actionFor(_: *const DetectOnlyPolicy, _: u16) ?masking.actions.Action {
        return null;
    }
};
const detect_only = DetectOnlyPolicy{};

fn initGrpc(masker: *GrpcMasker, frames: []u8, decoded: []u8, setup: Setup) void {
    masker.reset(frames, decoded, grpcOptions(setup));
}

pub const Detector = union(enum) {
    json: *Detect(walkers.json.JsonWalker),
    form: *Detect(walkers.form.FormWalker),
    text: *Detect(walkers.text.TextWalker),
    sse: *Detect(walkers.sse.SseWalker),
    json_decoded: *DetectDecoded(walkers.json.JsonWalker),
    form_decoded: *DetectDecoded(walkers.form.FormWalker),
    text_decoded: *DetectDecoded(walkers.text.TextWalker),
    sse_decoded: *DetectDecoded(walkers.sse.SseWalker),
    grpc: *DetectGrpc,

    pub const slot_bytes = slotBytes(Detector);

    /// Builds the detector for `setup` at the start of `slot`.
    pub fn build(slot: []align(16) u8, setup: Setup) Detector {
        return buildIn(Detector, slot, setup);
    }

    pub fn feed(self: Detector, chunk: []const u8, scanner: anytype) !void {
        switch (self) {
            inline else => |processor| try processor.feed(chunk, scanner),
        }
    }

    pub fn finish(self: Detector, scanner: anytype) !void {
        switch (self) {
            inline else => |processor| try processor.finish(scanner),
        }
    }
};

// ---------------------------------------------------------------- masking

fn Mask(comptime Walker: type) type {
    return struct {
        const Self = @This();

        masker: stream_masker.StreamMasker(Walker),

        fn init(self: *Self, setup: Setup) void {
            in_place.initDefaults(&self.masker);
            initWalker(Walker, &self.masker.walker, setup);
        }

        pub fn feed(self: *Self, chunk: []const u8, scanner: anytype, policy: anytype, out: anytype) !stream_masker.Result {
            return self.masker.feed(chunk, scanner, policy, out);
        }

        pub fn finish(self: *Self, scanner: anytype, policy: anytype, out: anytype) !void {
            _ = try self.masker.finish(scanner, policy, out);
        }

        pub fn stats(self: *const Self) stream_masker.Stats {
            return self.masker.stats;
        }
    };
}

fn MaskDecoded(comptime Walker: type) type {
    const Inner = stream_masker.StreamMasker(Walker);
    return struct {
        const Self = @This();

        outer: masking.decoded_body.DecodedBodyMasker(Inner, .huffman),
        inner: Inner,

        fn init(self: *Self, setup: Setup) void {
            in_place.initDefaults(&self.inner);
            initWalker(Walker, &self.inner.walker, setup);
            self.outer.init(setup.coding.?, setup.limits, &self.inner, true);
        }

        /// Always rewrites: the output is a new gzip stream.
        pub fn feed(self: *Self, chunk: []const u8, scanner: anytype, policy: anytype, out: anytype) !stream_masker.Result {
            try self.outer.feed(chunk, scanner, policy, out);
            return .rewritten;
        }

        pub fn finish(self: *Self, scanner: anytype, policy: anytype, out: anytype) !void {
            try self.outer.finish(scanner, policy, out);
        }

        pub fn stats(self: *const Self) stream_masker.Stats {
            return self.inner.stats;
        }
    };
}

const MaskGrpc = struct {
    masker: GrpcMasker,
    frames: [grpc_message_bytes_max]u8,
    decoded: [grpc_message_bytes_max]u8,

    fn init(self: *MaskGrpc, setup: Setup) void {
        initGrpc(&self.masker, &self.frames, &self.decoded, setup);
    }

    pub fn feed(self: *MaskGrpc, chunk: []const u8, scanner: anytype, policy: anytype, out: anytype) !stream_masker.Result {
        return self.masker.feed(chunk, scanner, policy, out);
    }

    pub fn finish(self: *MaskGrpc, scanner: anytype, policy: anytype, out: anytype) !void {
        _ = scanner;
        _ = policy;
        _ = out;
        try self.masker.finish();
    }

    pub fn stats(self: *const MaskGrpc) stream_masker.Stats {
        return self.masker.stats;
    }
};

pub const Masker = union(enum) {
    json: *Mask(walkers.json.JsonWalker),
    form: *Mask(walkers.form.FormWalker),
    text: *Mask(walkers.text.TextWalker),
    sse: *Mask(walkers.sse.SseWalker),
    json_decoded: *MaskDecoded(walkers.json.JsonWalker),
    form_decoded: *MaskDecoded(walkers.form.FormWalker),
    text_decoded: *MaskDecoded(walkers.text.TextWalker),
    sse_decoded: *MaskDecoded(walkers.sse.SseWalker),
    grpc: *MaskGrpc,

    pub const slot_bytes = slotBytes(Masker);

    pub fn build(slot: []align(16) u8, setup: Setup) Masker {
        return buildIn(Masker, slot, setup);
    }

    /// `.unchanged`: the chunk passes as it came and nothing was written to `out`.
    pub fn feed(self: Masker, chunk: []const u8, scanner: anytype, policy: anytype, out: anytype) !stream_masker.Result {
        switch (self) {
            inline else => |processor| return processor.feed(chunk, scanner, policy, out),
        }
    }

    pub fn finish(self: Masker, scanner: anytype, policy: anytype, out: anytype) !void {
        switch (self) {
            inline else => |processor| try processor.finish(scanner, policy, out),
        }
    }

    pub fn stats(self: Masker) stream_masker.Stats {
        switch (self) {
            inline else => |processor| return processor.stats(),
        }
    }

    /// After a failed `feed`, the raw bytes not yet passed on, in order (the held-back
    /// tail, then the unread rest of the chunk; for gRPC the unfinished frame's bytes
    /// from earlier chunks, then the chunk from that frame on), so a fail-open policy
    /// can let them through as they came. Null when the output so far cannot be
    /// continued with raw bytes: a re-encoded (gzip) body, or half a gRPC frame out.
    pub fn unsent(self: Masker) ?[3][]const u8 {
        switch (self) {
            inline .json, .form, .text, .sse => |processor| {
                const rewriter = &processor.masker.rewriter;
                return .{ rewriter.tail[0..rewriter.tail_len], rewriter.chunk, "" };
            },
            .grpc => |processor| return processor.masker.unsent(),
            else => return null,
        }
    }

    /// After a failed `feed` or `finish` of a gzip body whose decoding is sound but
    /// whose masking failed: true when `continueUnscanned` can carry on.
    pub fn canContinueUnscanned(self: Masker) bool {
        switch (self) {
            inline .json_decoded, .form_decoded, .text_decoded, .sse_decoded => |processor| {
                return processor.outer.inner_failed and !processor.outer.passthrough;
            },
            else => return false,
        }
    }

    /// Fail open for a gzip body: the rest is decoded and re-encoded unscanned (what
    /// the masker held back first), so the stream the client has stays valid.
    pub fn continueUnscanned(self: Masker, scanner: anytype, policy: anytype, out: anytype) !void {
        switch (self) {
            inline .json_decoded, .form_decoded, .text_decoded, .sse_decoded => |processor| {
                const rewriter = &processor.inner.rewriter;
                const held = [3][]const u8{ rewriter.tail[0..rewriter.tail_len], rewriter.chunk, "" };
                try processor.outer.continueUnscanned(held, scanner, policy, out);
            },
            else => unreachable, // canContinueUnscanned said no
        }
    }
};

// ---------------------------------------------------------------- headers

/// Masks one header value (whole, a query string, or cookie pairs); built anew for each
/// value in the root's header slot, used and done within one callback.
pub const HeaderMasker = union(enum) {
    value: *stream_masker.StreamMasker(walkers.headers.HeaderWalker),
    query: *stream_masker.StreamMasker(walkers.headers.QueryWalker),
    cookie: *stream_masker.StreamMasker(walkers.headers.CookieWalker),

    pub const slot_bytes = slotBytes(HeaderMasker);
    pub const Kind = enum { value, query, cookie, set_cookie };

    /// `name` must outlive the masker (it is the value's path and context).
    pub fn build(slot: []align(16) u8, kind: Kind, name: []const u8) HeaderMasker {
        assert(slot.len >= slot_bytes);
        switch (kind) {
            .value => return .{ .value = buildMasker(walkers.headers.HeaderWalker, slot, walkers.headers.HeaderWalker.init(name)) },
            .query => return .{ .query = buildMasker(walkers.headers.QueryWalker, slot, walkers.headers.QueryWalker.init(.{})) },
            .cookie, .set_cookie => {
                const header: walkers.headers.CookieHeader = if (kind == .cookie) .cookie else .set_cookie;
                return .{ .cookie = buildMasker(walkers.headers.CookieWalker, slot, walkers.headers.CookieWalker.init(header)) };
            },
        }
    }

    fn buildMasker(comptime Walker: type, slot: []align(16) u8, header_walker: Walker) *stream_masker.StreamMasker(Walker) {
        const masker: *stream_masker.StreamMasker(Walker) = @ptrCast(@alignCast(slot.ptr));
        in_place.initDefaults(masker);
        masker.walker = header_walker;
        return masker;
    }

    /// The value, masked, into `out`; false when nothing in it was masked.
    pub fn mask(self: HeaderMasker, value: []const u8, scanner: anytype, policy: anytype, out: anytype) !bool {
        switch (self) {
            inline else => |masker| {
                if (try masker.feed(value, scanner, policy, out) == .unchanged) try out.write(value);
                _ = try masker.finish(scanner, policy, out);
                return masker.stats.masked + masker.stats.dropped > 0;
            },
        }
    }

    pub fn stats(self: HeaderMasker) stream_masker.Stats {
        switch (self) {
            inline else => |masker| return masker.stats,
        }
    }
};

// ---------------------------------------------------------------- layout

/// The largest variant of a processor union: the bytes one slot needs.
fn slotBytes(comptime Union: type) usize {
    var largest: usize = 0;
    for (@typeInfo(Union).@"union".fields) |field| {
        const Payload = @typeInfo(field.type).pointer.child;
        largest = @max(largest, @sizeOf(Payload));
    }
    return std.mem.alignForward(usize, largest, 64 * 1024);
}

/// The variant `setup` calls for, built at the start of `slot`.
fn buildIn(comptime Union: type, slot: []align(16) u8, setup: Setup) Union {
    assert(slot.len >= Union.slot_bytes);
    const decoded = setup.coding != null;
    const tag: std.meta.Tag(Union) = switch (setup.format) {
        .json, .json_lines => if (decoded) .json_decoded else .json,
        .form => if (decoded) .form_decoded else .form,
        .text => if (decoded) .text_decoded else .text,
        .event_stream => if (decoded) .sse_decoded else .sse,
        .grpc => .grpc,
        .other => unreachable, // the body plan passes or refuses what no walker reads
    };
    switch (tag) {
        inline else => |variant| {
            const Payload = @typeInfo(@FieldType(Union, @tagName(variant))).pointer.child;
            comptime assert(@alignOf(Payload) <= 16);
            const payload: *Payload = @ptrCast(@alignCast(slot.ptr));
            payload.init(setup);
            return @unionInit(Union, @tagName(variant), payload);
        },
    }
}

// ---------------------------------------------------------------- tests

const testing = std.testing;
const support = masking.test_support;
const FixedOutput = masking.rewriter.FixedOutput;

fn testSlot(comptime Union: type) ![]align(16) u8 {
    const slot = try testing.allocator.alignedAlloc(u8, 16, Union.slot_bytes);
    // Garbage where the processor does not write: it must not read it.
    @memset(slot, 0xAA);
    return slot;
}

test "a masker built in a dirty slot masks like a fresh one, across chunks" {
    const slot = try testSlot(Masker);
    defer testing.allocator.free(slot);
    const body = "{\"card\": \"4111 1111 1111 1111\", \"note\": \"a secret\"}";
    for (1..body.len) |cut| {
        const masker = Masker.build(slot, .{ .format = .json });
        var buffer: [256]u8 = undefined;
        var out = FixedOutput{ .buffer = &buffer };
        var scanner = support.TestScanner{};
        const policy = support.TestPolicy{};
        for ([_][]const u8{ body[0..cut], body[cut..] }) |chunk| {
            if (try masker.feed(chunk, &scanner, &policy, &out) == .unchanged) try out.write(chunk);
        }
        try masker.finish(&scanner, &policy, &out);
        try testing.expectEqualStrings("{\"card\": \"**** **** **** 1111\", \"note\": \"a [REDACTED:SECRET]\"}", out.written());
    }
}

test "a detector counts through gzip" {
    const slot = try testSlot(Detector);
    defer testing.allocator.free(slot);
    var list = std.ArrayList(u8).init(testing.allocator);
    defer list.deinit();
    var input = std.io.fixedBufferStream("{\"a\": \"123456789\", \"b\": [\"987654321\"]}");
    try std.compress.gzip.compress(input.reader(), list.writer(), .{});
    const detector = Detector.build(slot, .{ .format = .json, .coding = .gzip });
    var scanner = CountingScanner{};
    for (list.items) |byte| try detector.feed(&.{byte}, &scanner);
    try detector.finish(&scanner);
    try testing.expectEqual(@as(u32, 2), scanner.findings);
}

/// Counts the stand-in scanner's findings, as the route scanner does.
const CountingScanner = struct {
    inner: support.TestScanner = .{},
    findings: u32 = 0,

    pub fn scan(self: *CountingScanner, value: *const walker.Value, from: u32, out: []Finding) []const Finding {
        const found = self.inner.scan(value, from, out);
        for (found) |finding| self.findings += @intFromBool(value.owns(finding.end));
        return found;
    }
};

test "slots fit every variant" {
    try testing.expect(Masker.slot_bytes >= @sizeOf(MaskDecoded(walkers.sse.SseWalker)));
    try testing.expect(Detector.slot_bytes >= @sizeOf(DetectGrpc));
}
