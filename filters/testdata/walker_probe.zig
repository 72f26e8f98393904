//! The walker probe: a test module that runs the body walkers and masking
//! inside wasm32, so Python tests can check what they produce against
//! independent decoders (json, urllib, gzip, google.protobuf) on generated
//! input. It is a proxy-Wasm plugin that does nothing (so it validates like
//! every module), plus these exports:
//!
//!     walker_probe_input(len) -> address   room for `len` input bytes (0: too long)
//!     walker_probe_run(format, len, chunk_len, flags) -> n
//!         masks input[0..len], fed in chunks of `chunk_len` bytes; n >= 0 is the
//!         output length, n < 0 means an error whose name is the first -n
//!         output bytes
//!     walker_probe_output() -> address
//!     walker_probe_stat(index) -> count    findings, masked, dropped, unmasked
//!
//! Scanning uses the masking tests' stand-in scanner (digit runs of 9+ digits,
//! the word "secret", e-mail addresses under an "email" key), not the engine:
//! this checks walkers and mask operations, not detectors.

const std = @import("std");
const abi = @import("abi");
const walkers = @import("walkers");
const masking = @import("masking");

pub const panic = abi.panic;

const support = masking.test_support;
const StreamMasker = masking.stream_masker.StreamMasker;
const Stats = masking.stream_masker.Stats;

const Format = enum(u32) { json = 1, json_lines = 2, form = 3, text = 4, event_stream = 5, grpc = 6, query = 7, cookie = 8 };

/// Flags: bits 0-2 the digits detector's action, then options.
const action_mask: u32 = 0b111;
const flag_scan_numbers: u32 = 1 << 3;
const flag_hold_members: u32 = 1 << 4;
const flag_gzip_body: u32 = 1 << 5;
const flag_decode_only: u32 = 1 << 6;
const flag_gzip_messages: u32 = 1 << 7;
const flag_lz77: u32 = 1 << 8;

const input_capacity = 4 * 1024 * 1024;
const output_capacity = 8 * 1024 * 1024;
const grpc_message_capacity = 1024 * 1024;

const allocator = std.heap.wasm_allocator;
// Allocated once and kept: the probe runs thousands of times per test session.
var input: ?[]u8 = null;
var output: ?[]u8 = null;
var grpc_frames: ?[]u8 = null;
var grpc_decoded: ?[]u8 = null;
var stats: Stats = .{};

const Output = masking.rewriter.FixedOutput;

export fn walker_probe_input(len: u32) u32 {
    if (len > input_capacity) return 0;
    const buffer = input orelse (allocator.alloc(u8, input_capacity) catch return 0);
    input = buffer;
    return @intFromPtr(buffer.ptr);
}

export fn walker_probe_output() u32 {
    const buffer = output orelse return 0;
    return @intFromPtr(buffer.ptr);
}

export fn walker_probe_stat(index: u32) u32 {
    return switch (index) {
        0 => stats.findings,
        1 => stats.masked,
        2 => stats.dropped,
        3 => stats.unmasked,
        else => 0,
    };
}

export fn walker_probe_run(format: u32, len: u32, chunk_len: u32, flags: u32) i32 {
    const in = input orelse return -1;
    const buffer = output orelse (allocator.alloc(u8, output_capacity) catch return -1);
    output = buffer;
    var out = Output{ .buffer = buffer };
    stats = .{};
    run(std.meta.intToEnum(Format, format) catch return fail(&out, "UnknownFormat"), in[0..@min(len, in.len)], @max(chunk_len, 1), flags, &out) catch |err| {
        return fail(&out, @errorName(err));
    };
    return @intCast(out.len);
}

fn fail(out: *Output, name: []const u8) i32 {
    out.len = 0;
    out.write(name) catch return -1;
    return -@as(i32, @intCast(name.len));
}

fn policyFor(flags: u32) support.TestPolicy {
    var policy = support.TestPolicy{};
    policy.digits = switch (flags & action_mask) {
        0 => .{ .partial = .{} },
        1 => .{ .redact = .{ .placeholder = "[REDACTED:DIGITS]" } },
        2 => .{ .hash_token = .{ .key = support.test_key } },
        3 => .{ .format_preserving = .{ .key = support.test_key, .keep_last = 4 } },
        4 => .drop,
        else => null,
    };
    return policy;
}

fn run(format: Format, in: []const u8, chunk_len: u32, flags: u32, out: *Output) !void {
    const policy = policyFor(flags);
    const json_options = walkers.json.Options{
        .scan_numbers = flags & flag_scan_numbers != 0,
        .hold_members = flags & flag_hold_members != 0,
        .multiple_documents = format == .json_lines,
    };
    const whole = in.len + 1;
    switch (format) {
        .json, .json_lines => try maskStream(walkers.json.JsonWalker, json_options, in, chunk_len, flags, &policy, out),
        .form => try maskStream(walkers.form.FormWalker, json_options, in, chunk_len, flags, &policy, out),
        .text => try maskStream(walkers.text.TextWalker, json_options, in, chunk_len, flags, &policy, out),
        .event_stream => try maskStream(walkers.sse.SseWalker, json_options, in, chunk_len, flags, &policy, out),
        .query => try maskStream(walkers.headers.QueryWalker, json_options, in, @intCast(whole), flags, &policy, out),
        .cookie => try maskStream(walkers.headers.CookieWalker, json_options, in, @intCast(whole), flags, &policy, out),
        .grpc => try maskGrpc(in, chunk_len, flags, &policy, out),
    }
}

/// Sets up the masker's walker where it lives: the JSON and SSE walkers are too big
/// to build on the wasm stack and copy in.
fn initWalker(comptime Walker: type, target: *Walker, json_options: walkers.json.Options) void {
    switch (Walker) {
        walkers.json.JsonWalker, walkers.sse.SseWalker => target.reset(json_options),
        walkers.form.FormWalker => target.* = walkers.form.FormWalker.init(.{ .hold_members = json_options.hold_members }),
        walkers.text.TextWalker => target.* = walkers.text.TextWalker.init("text"),
        walkers.headers.QueryWalker => target.* = walkers.headers.QueryWalker.init(.{}),
        walkers.headers.CookieWalker => target.* = walkers.headers.CookieWalker.init(.cookie),
        else => @compileError("no probe setup for " ++ @typeName(Walker)),
    }
}

fn maskStream(comptime Walker: type, json_options: walkers.json.Options, in: []const u8, chunk_len: u32, flags: u32, policy: *const support.TestPolicy, out: *Output) !void {
    const Masker = StreamMasker(Walker);
    const masker = try allocator.create(Masker);
    defer allocator.destroy(masker);
    // In place: the masker is 100+ KiB, and `Masker.init` would build it in a stack frame.
    walkers.in_place.initDefaults(masker);
    initWalker(Walker, &masker.walker, json_options);
    var scanner = support.TestScanner{};
    if (flags & flag_gzip_body != 0) {
        if (flags & flag_lz77 != 0) return maskGzip(.lz77, masker, in, chunk_len, flags, policy, out);
        return maskGzip(.huffman, masker, in, chunk_len, flags, policy, out);
    }
    var offset: usize = 0;
    while (offset < in.len) : (offset += chunk_len) {
        const chunk = in[offset..@min(offset + chunk_len, in.len)];
        if (try masker.feed(chunk, &scanner, policy, out) == .unchanged) try out.write(chunk);
    }
    _ = try masker.finish(&scanner, policy, out);
    stats = masker.stats;
}

fn maskGzip(comptime strategy: masking.gzip_encoder.Strategy, masker: anytype, in: []const u8, chunk_len: u32, flags: u32, policy: *const support.TestPolicy, out: *Output) !void {
    const Decoded = masking.decoded_body.DecodedBodyMasker(@TypeOf(masker.*), strategy);
    const decoded = try allocator.create(Decoded);
    defer allocator.destroy(decoded);
    decoded.init(.gzip, .{}, masker, flags & flag_decode_only == 0);
    var scanner = support.TestScanner{};
    var offset: usize = 0;
    while (offset < in.len) : (offset += chunk_len) {
        try decoded.feed(in[offset..@min(offset + chunk_len, in.len)], &scanner, policy, out);
    }
    try decoded.finish(&scanner, policy, out);
    stats = masker.stats;
}

fn maskGrpc(in: []const u8, chunk_len: u32, flags: u32, policy: *const support.TestPolicy, out: *Output) !void {
    const frame_storage = grpc_frames orelse try allocator.alloc(u8, grpc_message_capacity);
    grpc_frames = frame_storage;
    const decode_storage = grpc_decoded orelse try allocator.alloc(u8, grpc_message_capacity);
    grpc_decoded = decode_storage;
    const Masker = masking.grpc_masker.GrpcMasker;
    const masker = try allocator.create(Masker);
    defer allocator.destroy(masker);
    masker.reset(frame_storage, decode_storage, .{
        .walker = .{ .scan_numbers = flags & flag_scan_numbers != 0 },
        .message_coding = if (flags & flag_gzip_messages != 0) .gzip else null,
    });
    var scanner = support.TestScanner{};
    var offset: usize = 0;
    while (offset < in.len) : (offset += chunk_len) {
        const chunk = in[offset..@min(offset + chunk_len, in.len)];
        if (try masker.feed(chunk, &scanner, policy, out) == .unchanged) try out.write(chunk);
    }
    try masker.finish();
    stats = masker.stats;
}

const ProbeRoot = struct {
    context_id: u32,

    pub fn init(context_id: u32) ProbeRoot {
        return .{ .context_id = context_id };
    }
};

comptime {
    abi.exportPlugin(struct {
        pub const Root = ProbeRoot;
    });
}
