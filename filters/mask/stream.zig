//! One HTTP exchange through meshveil-mask.
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
const Message = pipeline.message.Message(Masker);
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

pub const Stream = struct {
    root: *main.RootContext,
    exchange: pipeline.exchange.Exchange = .{},
    messages: [2]Message = .{ .{}, .{} },

    pub fn init(root: *main.RootContext, context_id: u32) Stream {
        _ = context_id;
        return .{ .root = root };
    }

    // -- Callbacks ----------------------------------------------------------------

    pub fn onRequestHeaders(self: *Stream, headers_count: u32, end_of_stream: bool) abi.Action {
        _ = headers_count;
        if (!self.exchange.hold(&self.root.configs)) return .@"continue";
        const view = host_io.readHeaders(.request) orelse return self.failed(.request, error.HeadersUnreadable);
        const facts = host_io.HeaderFacts.of(view);
        _ = self.exchange.begin(facts) orelse return .@"continue";
        return self.onHeaders(.request, view, facts, end_of_stream);
    }

    pub fn onRequestBody(self: *Stream, body_size: usize, end_of_stream: bool) abi.Action {
        return self.onBody(.request, body_size, end_of_stream);
    }

    pub fn onRequestTrailers(self: *Stream, trailers_count: u32) abi.Action {
        _ = trailers_count;
        return self.onTrailers(.request);
    }

    pub fn onResponseHeaders(self: *Stream, headers_count: u32, end_of_stream: bool) abi.Action {
        _ = headers_count;
        if (self.exchange.ended or self.exchange.route == null) return .@"continue";
        const view = host_io.readHeaders(.response) orelse return self.failed(.response, error.HeadersUnreadable);
        return self.onHeaders(.response, view, host_io.HeaderFacts.of(view), end_of_stream);
    }

    pub fn onResponseBody(self: *Stream, body_size: usize, end_of_stream: bool) abi.Action {
        return self.onBody(.response, body_size, end_of_stream);
    }

    pub fn onResponseTrailers(self: *Stream, trailers_count: u32) abi.Action {
        _ = trailers_count;
        return self.onTrailers(.response);
    }

    pub fn onDelete(self: *Stream) void {
        for (&self.messages) |*message| message.release(&self.root.pool);
        self.exchange.end(&self.root.configs);
    }

    // -- Headers ------------------------------------------------------------------

    fn onHeaders(self: *Stream, direction: Direction, view: header_map.View, facts: host_io.HeaderFacts, end_of_stream: bool) abi.Action {
        const route = self.exchange.route.?;
        const message = &self.messages[@intFromEnum(direction)];
        message.begin(route, direction, facts.content_type, facts.content_encoding, facts.grpc_encoding, end_of_stream);
        if (!message.covered) return .@"continue";
        self.maskHeaders(direction, view) catch |err| return self.failed(direction, err);
        switch (message.handling) {
            .none => {},
            .scan => if (message.plan.remove_content_length) {
                host.removeHeader(host_io.headerMap(direction), "content-length") catch {};
            },
            .pass_and_alert => {
                self.root.count(.passed_unscanned, 1);
                host.logFmt(.warn, main.module_name ++ ": route {s} {s} body passed unmasked, as the policy allows (a coding or type no walker reads)", .{ route.name, @tagName(direction) });
            },
            .refuse => {
                host.logFmt(.warn, main.module_name ++ ": route {s} {s} body refused: its content-encoding is not one the policy lets through", .{ route.name, @tagName(direction) });
                return self.refuse(direction, .unscannable);
            },
        }
        if (message.handling != .scan) self.finishReport(direction);
        return .@"continue";
    }

    /// Masks header values, the query and cookies; writes the map back if any changed.
    fn maskHeaders(self: *Stream, direction: Direction, view: header_map.View) !void {
        if (view.count == 0) return;
        const message = &self.messages[@intFromEnum(direction)];
        const slot = self.root.headerSlot() orelse return error.OutOfMemory;
        const pairs = host_io.scratch(view.count * @sizeOf(header_map.Pair)) orelse return error.OutOfMemory;
        const rewritten: []header_map.Pair = @as([*]header_map.Pair, @ptrCast(@alignCast(pairs.ptr)))[0..view.count];
        var policy = RoutePolicy{ .route = self.exchange.route.? };
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
            var scanner = self.exchange.scanner(&message.tally, where);
            const masker = HeaderMasker.build(slot, kind, pair.name);
            if (!try masker.mask(pair.value, &scanner, &policy, &out)) continue;
            const stats = masker.stats();
            self.countStats(stats);
            if (stats.unmasked > 0) return error.ValueAlreadySent;
            rewritten[index].value = out.written();
            changed = true;
        }
        if (!changed) return;
        const serialized = host_io.scratch(header_map.serializedSize(rewritten)) orelse return error.OutOfMemory;
        try host.setHeaderMap(host_io.headerMap(direction), try header_map.serialize(rewritten, serialized));
    }

    // -- Bodies -------------------------------------------------------------------

    fn onBody(self: *Stream, direction: Direction, body_size: usize, end_of_stream: bool) abi.Action {
        if (self.exchange.ended) return .@"continue";
        const message = &self.messages[@intFromEnum(direction)];
        if (!message.scanning()) return .@"continue";
        const route = self.exchange.route.?;
        if (message.buffering and !end_of_stream) {
            switch (pipeline.message.onBuffered(route, body_size)) {
                // Envoy holds it; it is masked whole at its end.
                .keep_buffering => return .pause,
                .block => {
                    host.logFmt(.warn, main.module_name ++ ": route {s} {s} body over the {d}-byte buffer limit: refused", .{ route.name, @tagName(direction), route.body.max_buffer_bytes });
                    return self.refuse(direction, .too_large);
                },
                .switch_to_streaming => {
                    host.logFmt(.warn, main.module_name ++ ": route {s} {s} body over the {d}-byte buffer limit: masked as it streams; fields to drop may pass masked in place", .{ route.name, @tagName(direction), route.body.max_buffer_bytes });
                    message.buffering = false;
                },
            }
        }
        self.maskChunk(direction, body_size, end_of_stream) catch |err| return self.failed(direction, err);
        if (end_of_stream) self.finishReport(direction);
        return .@"continue";
    }

    /// Masks the body buffer as it is now (one chunk streaming, the whole body when
    /// buffered) and writes the result over it.
    fn maskChunk(self: *Stream, direction: Direction, body_size: usize, end_of_stream: bool) !void {
        const message = &self.messages[@intFromEnum(direction)];
        const chunk = try host_io.readBody(direction, 0, body_size);
        const masker = message.processorIn(&self.root.pool, std.heap.wasm_allocator) orelse {
            self.root.count(.slots_exhausted, 1);
            return error.NoFreeSlot;
        };
        const staging = host_io.scratch(staging_bytes) orelse return error.OutOfMemory;
        var writer = host_io.BodyWriter{ .buffer = host_io.bodyBuffer(direction), .original_len = body_size, .staging = staging };
        var scanner = self.exchange.scanner(&message.tally, .body);
        var policy = RoutePolicy{ .route = self.exchange.route.? };
        const result = masker.feed(chunk, &scanner, &policy, &writer) catch |err| {
            // Fail open: what was not sent yet goes on as it came.
            if (self.exchange.failure() == .fail_open) {
                if (masker.unsent()) |parts| for (parts) |part| try writer.write(part);
                try writer.finish();
            }
            return err;
        };
        var rewritten = result == .rewritten;
        if (end_of_stream) {
            var late = LateWriter{ .writer = &writer, .chunk = if (rewritten) null else chunk };
            try masker.finish(&scanner, &policy, &late);
            rewritten = rewritten or late.wrote;
        }
        if (rewritten) try writer.finish();
        const stats = masker.stats();
        if (stats.unmasked > message.unmasked_reported) {
            message.unmasked_reported = stats.unmasked;
            return error.ValueAlreadySent;
        }
    }

    fn onTrailers(self: *Stream, direction: Direction) abi.Action {
        if (self.exchange.ended) return .@"continue";
        const message = &self.messages[@intFromEnum(direction)];
        if (!message.scanning()) return .@"continue";
        // Trailers end the body, but it can no longer be written: the masker must be
        // holding nothing back (gRPC holds only unfinished frames, which would be an error).
        const masker = message.processor orelse {
            self.finishReport(direction);
            return .@"continue";
        };
        var scanner = self.exchange.scanner(&message.tally, .body);
        var policy = RoutePolicy{ .route = self.exchange.route.? };
        var refused = RefusingOutput{};
        masker.finish(&scanner, &policy, &refused) catch |err| return self.failed(direction, err);
        if (refused.wrote) return self.failed(direction, error.TailAfterBody);
        self.finishReport(direction);
        return .@"continue";
    }

    // -- Ends ---------------------------------------------------------------------

    /// The message is done: counters, the log line, the slot back to the pool.
    fn finishReport(self: *Stream, direction: Direction) void {
        const message = &self.messages[@intFromEnum(direction)];
        if (message.processor) |masker| self.countStats(masker.stats());
        message.close(&self.root.pool);
        self.root.reporter.message(.{
            .loaded = self.exchange.loaded.?,
            .route = self.exchange.route.?,
            .direction = direction,
            .request_id = self.exchange.requestId(),
            .method = self.exchange.methodName(),
            .enforced = false,
        }, &message.tally);
    }

    fn countStats(self: *Stream, stats: masking.stream_masker.Stats) void {
        self.root.count(.masked, stats.masked);
        self.root.count(.dropped, stats.dropped);
        self.root.count(.unmasked, stats.unmasked);
    }

    /// The policy's failure mode for a message that cannot be masked.
    fn failed(self: *Stream, direction: Direction, err: anyerror) abi.Action {
        const message = &self.messages[@intFromEnum(direction)];
        const route_name = if (self.exchange.route) |route| route.name else "-";
        self.root.count(.unscannable, 1);
        message.close(&self.root.pool);
        if (self.exchange.loaded == null or self.exchange.failure() == .fail_open) {
            host.logFmt(.warn, main.module_name ++ ": route {s} {s} could not be masked ({s}); the policy fails open: the rest passes as it came", .{ route_name, @tagName(direction), @errorName(err) });
            return .@"continue";
        }
        host.logFmt(.warn, main.module_name ++ ": route {s} {s} could not be masked ({s}); the policy fails closed", .{ route_name, @tagName(direction), @errorName(err) });
        return self.refuse(direction, .unscannable);
    }

    fn refuse(self: *Stream, direction: Direction, refusal: host_io.Refusal) abi.Action {
        self.exchange.refuse(main.module_name, direction, refusal);
        for (&self.messages) |*message| message.close(&self.root.pool);
        return .pause;
    }
};

fn headerKind(name: []const u8) ?HeaderMasker.Kind {
    if (std.mem.eql(u8, name, ":path")) return .query;
    if (std.mem.eql(u8, name, "cookie")) return .cookie;
    if (std.mem.eql(u8, name, "set-cookie")) return .set_cookie;
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
