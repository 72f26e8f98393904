//! One HTTP exchange through meshveil-dlp.
//!
//! - Request headers: pick the route (path, method, host), scan the headers, the query
//!   and cookies, and decide how the body is read. Tag rules met by now name their
//!   detectors in `x-meshveil-dlp-tags` for the services after us; a block rule met by
//!   the headers alone answers 403 at once.
//! - Bodies: streaming routes scan each chunk as it passes (a value split across chunks
//!   is joined by the walker) and block as soon as a block rule's threshold is reached;
//!   buffered routes hold the body (Envoy buffers it) until its end, so a block leaves
//!   nothing of it behind, and past `max_buffer_bytes` refuse it or go on streaming as
//!   the policy says.
//! - Response headers: the exchange's findings so far (the request's and the response
//!   headers') go in `x-meshveil-findings` for meshveil-ueba; an upstream's own copy of
//!   our headers is removed first.
//! - End of each message: rules are evaluated, the message reported (event, log line,
//!   counters); the response's end also leaves the exchange's totals in the filter
//!   state property `meshveil_dlp_findings`.

const std = @import("std");
const abi = @import("abi");
const walkers = @import("walkers");
const masking = @import("masking");
const pipeline = @import("pipeline");
const main = @import("main.zig");

const host = abi.host;
const header_map = abi.header_map;
const config = pipeline.config;
const host_io = pipeline.host_io;
const Detector = pipeline.body.Detector;
const Message = pipeline.message.Message(Detector);
const Direction = config.Direction;
const Tally = pipeline.tally.Tally;
const Finding = masking.stream_masker.Finding;
const RouteScanner = pipeline.exchange.RouteScanner;

pub const findings_header = "x-meshveil-findings";
pub const tags_header = "x-meshveil-dlp-tags";
pub const findings_property = "meshveil_dlp_findings";
/// Longest tag or findings header value written; detectors past it are left out.
const summary_bytes_max = 1024;

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
        const view = host_io.readHeaders(.request) orelse return self.unscannable(.request);
        // Ours to set: a client's copy would speak for us.
        if (view.get(tags_header) != null) host.removeHeader(.http_request_headers, tags_header) catch {};
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
        if (self.exchange.ended or self.exchange.loaded == null) return .@"continue";
        const view = host_io.readHeaders(.response) orelse return self.unscannable(.response);
        // An upstream's copy of our headers would speak for us.
        for ([_][]const u8{ findings_header, tags_header }) |ours| {
            if (view.get(ours) != null) host.removeHeader(.http_response_headers, ours) catch {};
        }
        if (self.exchange.route == null) return .@"continue";
        const action = self.onHeaders(.response, view, host_io.HeaderFacts.of(view), end_of_stream);
        if (!self.exchange.ended) self.writeFindingsHeader();
        return action;
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
        self.scanHeaders(direction, view);
        if (direction == .request) self.writeTagsHeader(.request, &message.tally, null);
        switch (message.handling) {
            .none, .scan => {},
            .pass_and_alert => {
                self.root.count(.passed_unscanned);
                host.logFmt(.warn, main.module_name ++ ": route {s} {s} body passed unscanned, as the policy allows (a coding or type no walker reads)", .{ route.name, @tagName(direction) });
            },
            .refuse => {
                host.logFmt(.warn, main.module_name ++ ": route {s} {s} body refused: its content-encoding is not one the policy lets through", .{ route.name, @tagName(direction) });
                return self.refuse(direction, .unscannable);
            },
        }
        if (blockReached(route, &message.tally) or end_of_stream or message.handling != .scan) {
            return self.finishMessage(direction);
        }
        return .@"continue";
    }

    /// Header values, the query string and cookies, each through its walker.
    fn scanHeaders(self: *Stream, direction: Direction, view: header_map.View) void {
        const message = &self.messages[@intFromEnum(direction)];
        var pairs = view.iterator();
        while (pairs.next()) |pair| {
            const name = pair.name;
            if (std.mem.eql(u8, name, ":path")) {
                var query = walkers.headers.QueryWalker.init(.{});
                self.walkHeader(&query, pair.value, .query, message) catch {};
            } else if (std.mem.eql(u8, name, "cookie") or std.mem.eql(u8, name, "set-cookie")) {
                var cookies = walkers.headers.CookieWalker.init(if (name[0] == 'c') .cookie else .set_cookie);
                self.walkHeader(&cookies, pair.value, .cookie, message) catch {};
            } else if (pipeline.exchange.scannedHeader(name)) {
                var value = walkers.headers.HeaderWalker.init(name);
                self.walkHeader(&value, pair.value, .header, message) catch {};
            }
        }
    }

    fn walkHeader(self: *Stream, walker: anytype, value: []const u8, where: pipeline.tally.Where, message: *Message) !void {
        var scanner = self.exchange.scanner(&message.tally, where);
        var findings: [pipeline.scan.findings_max]Finding = undefined;
        var sink = pipeline.body.Sink(*RouteScanner){ .scanner = &scanner, .findings = &findings };
        try walker.feed(value, &sink);
        try walker.finish(&sink);
    }

    // -- Bodies -------------------------------------------------------------------

    fn onBody(self: *Stream, direction: Direction, body_size: usize, end_of_stream: bool) abi.Action {
        if (self.exchange.ended) return .@"continue";
        const message = &self.messages[@intFromEnum(direction)];
        if (!message.scanning()) return .@"continue";
        const route = self.exchange.route.?;
        var hold = false;
        if (message.buffering and !end_of_stream) {
            switch (pipeline.message.onBuffered(route, body_size)) {
                .keep_buffering => hold = true,
                .block => {
                    host.logFmt(.warn, main.module_name ++ ": route {s} {s} body over the {d}-byte buffer limit: refused", .{ route.name, @tagName(direction), route.body.max_buffer_bytes });
                    return self.refuse(direction, .too_large);
                },
                .switch_to_streaming => {
                    host.logFmt(.warn, main.module_name ++ ": route {s} {s} body over the {d}-byte buffer limit: scanned as it streams", .{ route.name, @tagName(direction), route.body.max_buffer_bytes });
                    message.buffering = false;
                },
            }
        }
        // A held body grows in Envoy's buffer: only the bytes past what was fed are new
        // (`consumed` is 0 once a body passes chunk by chunk).
        const start = message.consumed;
        if (body_size > start) {
            const chunk = host_io.readBody(direction, start, body_size - start) catch |err| return self.bodyFailed(direction, err);
            self.feed(direction, chunk) catch |err| return self.bodyFailed(direction, err);
        }
        message.consumed = if (hold) body_size else 0;
        if (end_of_stream or blockReached(route, &message.tally)) return self.finishMessage(direction);
        return if (hold) .pause else .@"continue";
    }

    fn onTrailers(self: *Stream, direction: Direction) abi.Action {
        if (self.exchange.ended) return .@"continue";
        const message = &self.messages[@intFromEnum(direction)];
        if (!message.covered or message.done) return .@"continue";
        return self.finishMessage(direction);
    }

    fn feed(self: *Stream, direction: Direction, chunk: []const u8) !void {
        const message = &self.messages[@intFromEnum(direction)];
        const detector = message.processorIn(&self.root.pool, std.heap.wasm_allocator) orelse {
            self.root.count(.slots_exhausted);
            return error.NoFreeSlot;
        };
        var scanner = self.exchange.scanner(&message.tally, .body);
        try detector.feed(chunk, &scanner);
    }

    // -- Decisions ----------------------------------------------------------------

    /// Ends the message: the walker's last values, the rules, the report; a block rule
    /// met ends the stream.
    fn finishMessage(self: *Stream, direction: Direction) abi.Action {
        const message = &self.messages[@intFromEnum(direction)];
        const route = self.exchange.route.?;
        if (message.processor) |detector| {
            var scanner = self.exchange.scanner(&message.tally, .body);
            detector.finish(&scanner) catch |err| {
                // A body cut short or malformed at its end: what was counted still counts.
                if (!blockReached(route, &message.tally)) return self.bodyFailed(direction, err);
            };
        }
        message.close(&self.root.pool);
        const blocked = blockReached(route, &message.tally);
        self.root.reporter.message(.{
            .loaded = self.exchange.loaded.?,
            .route = route,
            .direction = direction,
            .request_id = self.exchange.requestId(),
            .method = self.exchange.methodName(),
            .enforced = blocked,
        }, &message.tally);
        if (direction == .response) self.leaveTotals();
        if (blocked) return self.refuse(direction, .blocked);
        return .@"continue";
    }

    fn bodyFailed(self: *Stream, direction: Direction, err: anyerror) abi.Action {
        const route = self.exchange.route.?;
        host.logFmt(.warn, main.module_name ++ ": route {s} {s} body could not be scanned: {s}", .{ route.name, @tagName(direction), @errorName(err) });
        return self.unscannable(direction);
    }

    /// The policy's failure mode for a message that cannot be scanned.
    fn unscannable(self: *Stream, direction: Direction) abi.Action {
        const message = &self.messages[@intFromEnum(direction)];
        message.close(&self.root.pool);
        self.root.count(.unscannable);
        if (self.exchange.loaded == null or self.exchange.failure() == .fail_open) return .@"continue";
        return self.refuse(direction, .unscannable);
    }

    fn refuse(self: *Stream, direction: Direction, refusal: host_io.Refusal) abi.Action {
        if (refusal == .blocked) self.root.count(.blocked);
        self.exchange.refuse(main.module_name, direction, refusal);
        for (&self.messages) |*message| message.close(&self.root.pool);
        return .pause;
    }

    // -- Tags ---------------------------------------------------------------------

    /// `x-meshveil-findings: credit-card=12, email-address=3` on the response headers:
    /// what the request and the response headers held.
    fn writeFindingsHeader(self: *Stream) void {
        var buffer: [summary_bytes_max]u8 = undefined;
        const summary = self.totals(&buffer);
        if (summary.len > 0) host.replaceHeader(.http_response_headers, findings_header, summary) catch {};
        self.writeTagsHeader(.response, &self.messages[0].tally, &self.messages[1].tally);
    }

    /// Detectors whose tag rules are met, in `x-meshveil-dlp-tags` of `direction`'s headers.
    fn writeTagsHeader(self: *Stream, direction: Direction, first: *const Tally, second: ?*const Tally) void {
        const route = self.exchange.route.?;
        var buffer: [summary_bytes_max]u8 = undefined;
        var len: usize = 0;
        for (route.rules, 0..) |*rule, index| {
            if (rule.verdict != .tag) continue;
            const count = first.count(@intCast(index)) + if (second) |tally| tally.count(@intCast(index)) else 0;
            if (count < rule.threshold) continue;
            const id = self.exchange.loaded.?.policy.detectors[rule.detector].id;
            const separator = if (len == 0) "" else ",";
            if (len + separator.len + id.len > buffer.len) break;
            for ([_][]const u8{ separator, id }) |part| {
                @memcpy(buffer[len..][0..part.len], part);
                len += part.len;
            }
        }
        if (len > 0) host.replaceHeader(host_io.headerMap(direction), tags_header, buffer[0..len]) catch {};
    }

    /// The exchange's totals, for the filters and the access log after us.
    fn leaveTotals(self: *Stream) void {
        var buffer: [summary_bytes_max]u8 = undefined;
        const summary = self.totals(&buffer);
        if (summary.len == 0) return;
        host.setProperty(&.{findings_property}, summary) catch {};
    }

    /// `detector=count` pairs over both messages, comma-separated.
    fn totals(self: *Stream, buffer: *[summary_bytes_max]u8) []const u8 {
        const route = self.exchange.route orelse return buffer[0..0];
        var stream = std.io.fixedBufferStream(buffer);
        const writer = stream.writer();
        var first = true;
        for (route.rules, 0..) |rule, index| {
            const count = self.messages[0].tally.count(@intCast(index)) + self.messages[1].tally.count(@intCast(index));
            if (count == 0) continue;
            const id = self.exchange.loaded.?.policy.detectors[rule.detector].id;
            const start = stream.pos;
            writer.print("{s}{s}={d}", .{ if (first) "" else ", ", id, count }) catch {
                // Out of room: the partial pair is left out.
                stream.pos = start;
                break;
            };
            first = false;
        }
        return stream.getWritten();
    }
};

/// Whether a block rule of the route has reached its threshold in `tally`.
fn blockReached(route: *const config.Route, tally: *const Tally) bool {
    for (route.rules, 0..) |rule, index| {
        if (rule.verdict == .block and tally.count(@intCast(index)) >= rule.threshold) return true;
    }
    return false;
}
