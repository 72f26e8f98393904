//! One HTTP exchange through meshveil-mask: what it rewrites. The lifecycle (callbacks,
//! route, buffer limit, report, refusal) is `pipeline.stream`'s.
//!
//! - Headers (each direction the route covers): header values, the query string of
//!   `:path` and cookies are masked in place; the whole map is written back once when
//!   anything changed (so repeated headers such as `set-cookie` keep their order).
//!   A body that may be rewritten loses its `content-length` here, while the headers
//!   can still change (Envoy sends a streamed body's headers before its first chunk;
//!   HTTP/1.1 then uses chunked encoding).
//! - Bodies, streaming: each chunk is masked as it passes; a value split across chunks
//!   is held back (a bounded tail) until it is whole, then masked and passed on. A gzip
//!   body is decoded, masked and re-encoded; a gRPC message is rebuilt with its lengths
//!   fixed up.
//! - Bodies, buffered: Envoy holds the body to its end, then it is masked whole (a
//!   failure then leaves nothing half-written); past `max_buffer_bytes` it is refused
//!   or streamed from there, as the policy says.
//! - A body that cannot be masked (malformed, a bomb, no free slot, a finding whose
//!   bytes had already gone) is handled by the policy's failure mode: fail closed ends
//!   the stream, fail open lets the rest through as it came, with a warning.

const std = @import("std");
const abi = @import("abi");
const masking = @import("masking");
const pipeline = @import("pipeline");
const main = @import("main.zig");

const host = abi.host;
const header_map = abi.header_map;
const config = pipeline.config;
const host_io = pipeline.host_io;
const Masker = pipeline.body.Masker;
const HeaderMasker = pipeline.body.HeaderMasker;
const Message = Stream.Message;
const Direction = config.Direction;
const FixedOutput = masking.rewriter.FixedOutput;

/// Staging for a rewritten body chunk before it goes to the host.
const staging_bytes = 32 * 1024;
/// Room a masked header value may grow by (placeholders and tokens are longer than
/// some values); past it the header cannot be masked and the failure mode applies.
const header_growth_bytes = 4096;

/// The route's mask for a detector, as the maskers ask for it.
const RoutePolicy = struct {
    route: *const config.Route,

    pub fn actionFor(self: *const RoutePolicy, detector: u16) ?masking.actions.Action {
        const rule = self.route.ruleIndex(detector) orelse return null;
        return self.route.rules[rule].mask;
    }
};

pub const Stream = pipeline.stream.Stream(@This());
pub const Root = main.RootContext;
pub const Processor = Masker;

// -- Headers ----------------------------------------------------------------------

/// Inline: a one-line forward, not worth a function of its own in the module.
pub inline fn headersUnreadable(stream: *Stream, direction: Direction) abi.Action {
    return failed(stream, direction, error.HeadersUnreadable);
}

pub fn onHeaders(stream: *Stream, direction: Direction, view: header_map.View, end_of_stream: bool) abi.Action {
    _ = end_of_stream;
    const message = stream.message(direction);
    if (!message.covered) return .@"continue";
    maskHeaders(stream, direction, view) catch |err| return failed(stream, direction, err);
    // While the headers can still change: a rewritten body's length is not known yet.
    if (message.handling == .scan and message.plan.remove_content_length) {
        host.removeHeader(host_io.headerMap(direction), "content-length") catch {};
    }
    if (stream.unreadBody(direction, "passed unmasked")) |refused| return refused;
    if (message.handling != .scan) finishReport(stream, direction);
    return .@"continue";
}

/// Masks header values, the query and cookies; writes the map back if any changed.
fn maskHeaders(stream: *Stream, direction: Direction, view: header_map.View) !void {
    if (view.count == 0) return;
    const message = stream.message(direction);
    const slot = stream.root.headerSlot() orelse return error.OutOfMemory;
    const pairs = host_io.scratch(view.count * @sizeOf(header_map.Pair)) orelse return error.OutOfMemory;
    const rewritten: []header_map.Pair = @as([*]header_map.Pair, @ptrCast(@alignCast(pairs.ptr)))[0..view.count];
    var policy = RoutePolicy{ .route = stream.exchange.route.? };
    var changed = false;
    var iterator = view.iterator();
    var index: usize = 0;
    while (iterator.next()) |pair| : (index += 1) {
        rewritten[index] = pair;
        const kind = headerKind(pair.name) orelse continue;
        const where: pipeline.tally.Where = switch (kind) {
            .value => .header,
            .query => .query,
            .cookie, .set_cookie => .cookie,
        };
        const out_buffer = host_io.scratch(pair.value.len + header_growth_bytes) orelse return error.OutOfMemory;
        var out = FixedOutput{ .buffer = out_buffer };
        var scanner = stream.exchange.scanner(&message.tally, where);
        const masker = HeaderMasker.build(slot, kind, pair.name);
        if (!try masker.mask(pair.value, &scanner, &policy, &out)) continue;
        const stats = masker.stats();
        countStats(stream, stats);
        if (stats.unmasked > 0) return error.ValueAlreadySent;
        rewritten[index].value = out.written();
        changed = true;
    }
    if (!changed) return;
    const serialized = host_io.scratch(header_map.serializedSize(rewritten)) orelse return error.OutOfMemory;
    try host.setHeaderMap(host_io.headerMap(direction), try header_map.serialize(rewritten, serialized));
}

// -- Bodies -----------------------------------------------------------------------

pub fn onBody(stream: *Stream, direction: Direction, body_size: usize, end_of_stream: bool) abi.Action {
    if (stream.exchange.ended) return .@"continue";
    const message = stream.message(direction);
    if (!message.scanning()) return .@"continue";
    if (message.buffering and !end_of_stream) {
        switch (stream.buffering(direction, body_size, "masked as it streams; fields to drop may pass masked in place")) {
            // Envoy holds it; it is masked whole at its end.
            .keep_buffering => return .pause,
            .refuse => return stream.refuse(direction, .too_large),
            .stream => {},
        }
    }
    maskChunk(stream, direction, body_size, end_of_stream) catch |err| return failed(stream, direction, err);
    if (end_of_stream) finishReport(stream, direction);
    return .@"continue";
}

/// Masks the body buffer as it is now (one chunk streaming, the whole body when
/// buffered) and writes the result over it.
fn maskChunk(stream: *Stream, direction: Direction, body_size: usize, end_of_stream: bool) !void {
    const message = stream.message(direction);
    const chunk = try host_io.readBody(direction, 0, body_size);
    const masker = try stream.processor(direction);
    const staging = host_io.scratch(staging_bytes) orelse return error.OutOfMemory;
    var writer = host_io.BodyWriter{ .buffer = host_io.bodyBuffer(direction), .original_len = body_size, .staging = staging };
    var scanner = stream.exchange.scanner(&message.tally, .body);
    var policy = RoutePolicy{ .route = stream.exchange.route.? };
    const result = masker.feed(chunk, &scanner, &policy, &writer) catch |err| blk: {
        if (stream.exchange.failure() != .fail_open) return err;
        if (!continuesUnscanned(stream, direction, message, masker, &writer, err)) {
            try resumeAsItCame(message, masker, chunk, &writer, &writer);
            return err;
        }
        try masker.continueUnscanned(&scanner, &policy, &writer);
        break :blk .rewritten;
    };
    var rewritten = result == .rewritten;
    if (end_of_stream) {
        var late = LateWriter{ .writer = &writer, .chunk = if (rewritten) null else chunk };
        masker.finish(&scanner, &policy, &late) catch |err| {
            if (stream.exchange.failure() != .fail_open) return err;
            // A chunk that passed unchanged goes out first, then what was held.
            try late.write("");
            if (!continuesUnscanned(stream, direction, message, masker, &writer, err)) {
                try resumeAsItCame(message, masker, chunk, &writer, &late);
                return err;
            }
            try masker.continueUnscanned(&scanner, &policy, &late);
            try masker.finish(&scanner, &policy, &late);
        };
        rewritten = rewritten or late.wrote;
    }
    if (rewritten) try writer.finish();
    message.passed_some = true;
    const stats = masker.stats();
    if (stats.unmasked > message.unmasked_reported) {
        message.unmasked_reported = stats.unmasked;
        return error.ValueAlreadySent;
    }
}

/// Fail open for a gzip body whose re-encoded start already went on (raw bytes
/// cannot follow it) and whose decoding is sound: the rest is decoded and
/// re-encoded unscanned, the message stays open, and this warns once.
fn continuesUnscanned(stream: *Stream, direction: Direction, message: *const Message, masker: Masker, writer: *const host_io.BodyWriter, err: anyerror) bool {
    if (!masker.canContinueUnscanned()) return false;
    if (!message.passed_some and !writer.started) return false; // the body can still pass whole, as it came
    stream.root.frame.count(.unscannable, 1);
    host.logFmt(.warn, main.module_name ++ ": route {s} {s} could not be masked ({s}); the policy fails open: the rest passes unscanned, decoded and re-encoded", .{ stream.exchange.route.?.name, @tagName(direction), @errorName(err) });
    return true;
}

pub fn onTrailers(stream: *Stream, direction: Direction) abi.Action {
    if (stream.exchange.ended) return .@"continue";
    const message = stream.message(direction);
    if (!message.scanning()) return .@"continue";
    // Trailers end the body, but it can no longer be written: the masker must be
    // holding nothing back (gRPC holds only unfinished frames, which would be an error).
    const masker = message.processor orelse {
        finishReport(stream, direction);
        return .@"continue";
    };
    var scanner = stream.exchange.scanner(&message.tally, .body);
    var policy = RoutePolicy{ .route = stream.exchange.route.? };
    var refused = RefusingOutput{};
    masker.finish(&scanner, &policy, &refused) catch |err| return failed(stream, direction, err);
    if (refused.wrote) return failed(stream, direction, error.TailAfterBody);
    finishReport(stream, direction);
    return .@"continue";
}

// -- Ends -------------------------------------------------------------------------

/// The message is done: counters, the log line, the slot back to the pool.
fn finishReport(stream: *Stream, direction: Direction) void {
    if (stream.message(direction).processor) |masker| countStats(stream, masker.stats());
    stream.report(direction, false);
}

fn countStats(stream: *Stream, stats: masking.stream_masker.Stats) void {
    stream.root.frame.count(.masked, stats.masked);
    stream.root.frame.count(.dropped, stats.dropped);
    stream.root.frame.count(.unmasked, stats.unmasked);
}

/// The policy's failure mode for a message that cannot be masked.
fn failed(stream: *Stream, direction: Direction, err: anyerror) abi.Action {
    const route_name = if (stream.exchange.route) |route| route.name else "-";
    stream.root.frame.count(.unscannable, 1);
    stream.message(direction).close(&stream.root.frame.pool);
    if (err == error.NotResumable) {
        host.logFmt(.warn, main.module_name ++ ": route {s} {s} could not be masked, and its rewritten start cannot be continued as it came: fails closed", .{ route_name, @tagName(direction) });
        return stream.refuse(direction, .unscannable);
    }
    if (stream.exchange.loaded == null or stream.exchange.failure() == .fail_open) {
        host.logFmt(.warn, main.module_name ++ ": route {s} {s} could not be masked ({s}); the policy fails open: the rest passes as it came", .{ route_name, @tagName(direction), @errorName(err) });
        return .@"continue";
    }
    host.logFmt(.warn, main.module_name ++ ": route {s} {s} could not be masked ({s}); the policy fails closed", .{ route_name, @tagName(direction), @errorName(err) });
    return stream.refuse(direction, .unscannable);
}

/// Fail open after `feed` or `finish` failed: the bytes not yet passed on go on as they
/// came, so the rest of the body (later chunks pass untouched) arrives intact from
/// where masking stopped: the held-back tail and the rest of the chunk, for gRPC from
/// the frame that failed on, so framing stays whole. A re-encoded (gzip) body can
/// only be given up whole: before any of it went on, the chunk (the whole body when
/// buffered) passes as it came; after, raw bytes would corrupt what the client has,
/// so `error.NotResumable` makes it fail closed. `out` writes after what the
/// chunk's processing wrote (the writer itself, or the late writer at the end).
fn resumeAsItCame(message: *const Message, masker: Masker, chunk: []const u8, writer: *host_io.BodyWriter, out: anytype) !void {
    if (masker.unsent()) |parts| {
        for (parts) |part| if (part.len > 0) try out.write(part);
    } else if (!message.passed_some and !writer.started) {
        writer.discard();
        try writer.write(chunk);
    } else return error.NotResumable;
    try writer.finish();
}

fn headerKind(name: []const u8) ?HeaderMasker.Kind {
    if (header_map.nameIs(name, ":path")) return .query;
    if (header_map.nameIs(name, "cookie")) return .cookie;
    if (header_map.nameIs(name, "set-cookie")) return .set_cookie;
    if (pipeline.exchange.scannedHeader(name)) return .value;
    return null;
}

/// Output for `finish` at the end of a chunk that passed unchanged: the first write
/// puts the chunk itself out first, so the held-back tail follows it.
const LateWriter = struct {
    writer: *host_io.BodyWriter,
    chunk: ?[]const u8,
    wrote: bool = false,

    pub fn write(self: *LateWriter, bytes: []const u8) !void {
        if (!self.wrote) {
            if (self.chunk) |chunk| try self.writer.write(chunk);
            self.wrote = true;
        }
        try self.writer.write(bytes);
    }
};

/// Output after the body has ended (trailers): any write means bytes were held back.
const RefusingOutput = struct {
    wrote: bool = false,

    pub fn write(self: *RefusingOutput, bytes: []const u8) error{}!void {
        if (bytes.len > 0) self.wrote = true;
    }
};
