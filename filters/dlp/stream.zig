//! One HTTP exchange through meshveil-dlp: what it decides. The lifecycle (callbacks,
//! route, buffer limit, report, refusal) is `pipeline.stream`'s.
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
const Message = Stream.Message;
const Direction = config.Direction;
const Tally = pipeline.tally.Tally;
const Finding = masking.stream_masker.Finding;
const RouteScanner = pipeline.exchange.RouteScanner;

pub const findings_header = "x-meshveil-findings";
pub const tags_header = "x-meshveil-dlp-tags";
pub const findings_property = "meshveil_dlp_findings";
/// Longest tag or findings header value written; detectors past it are left out.
const summary_bytes_max = 1024;

pub const Stream = pipeline.stream.Stream(@This());
pub const Root = main.RootContext;
pub const Processor = Detector;

// -- Headers ----------------------------------------------------------------------

/// Ours to set: a client's or an upstream's copy would speak for us.
pub fn headersRead(direction: Direction, view: header_map.View) void {
    const ours: []const []const u8 = switch (direction) {
        .request => &.{tags_header},
        .response => &.{ findings_header, tags_header },
    };
    for (ours) |name| {
        if (view.get(name) != null) host.removeHeader(host_io.headerMap(direction), name) catch {};
    }
}

/// Inline: a one-line forward, not worth a function of its own in the module.
pub inline fn headersUnreadable(stream: *Stream, direction: Direction) abi.Action {
    return unscannable(stream, direction);
}

pub fn onHeaders(stream: *Stream, direction: Direction, view: header_map.View, end_of_stream: bool) abi.Action {
    const action = scanMessageHeaders(stream, direction, view, end_of_stream);
    if (direction == .response and !stream.exchange.ended) writeFindingsHeader(stream);
    return action;
}

fn scanMessageHeaders(stream: *Stream, direction: Direction, view: header_map.View, end_of_stream: bool) abi.Action {
    const route = stream.exchange.route.?;
    const message = stream.message(direction);
    if (!message.covered) return .@"continue";
    scanHeaders(stream, direction, view);
    if (direction == .request) writeTagsHeader(stream, .request, &message.tally, null);
    if (stream.unreadBody(direction, "passed unscanned")) |refused| return refused;
    if (blockReached(route, &message.tally) or end_of_stream or message.handling != .scan) {
        return finishMessage(stream, direction);
    }
    return .@"continue";
}

/// Header values, the query string and cookies, each through its walker.
fn scanHeaders(stream: *Stream, direction: Direction, view: header_map.View) void {
    const message = stream.message(direction);
    var pairs = view.iterator();
    while (pairs.next()) |pair| {
        const name = pair.name;
        if (header_map.nameIs(name, ":path")) {
            var query = walkers.headers.QueryWalker.init(.{});
            walkHeader(stream, &query, pair.value, .query, message) catch {};
        } else if (header_map.nameIs(name, "cookie") or header_map.nameIs(name, "set-cookie")) {
            var cookies = walkers.headers.CookieWalker.init(if (name[0] == 'c') .cookie else .set_cookie);
            walkHeader(stream, &cookies, pair.value, .cookie, message) catch {};
        } else if (pipeline.exchange.scannedHeader(name)) {
            var value = walkers.headers.HeaderWalker.init(name);
            walkHeader(stream, &value, pair.value, .header, message) catch {};
        }
    }
}

fn walkHeader(stream: *Stream, walker: anytype, value: []const u8, where: pipeline.tally.Where, message: *Message) !void {
    var scanner = stream.exchange.scanner(&message.tally, where);
    var findings: [pipeline.scan.findings_max]Finding = undefined;
    var sink = pipeline.body.Sink(*RouteScanner){ .scanner = &scanner, .findings = &findings };
    try walker.feed(value, &sink);
    try walker.finish(&sink);
}

// -- Bodies -----------------------------------------------------------------------

pub fn onBody(stream: *Stream, direction: Direction, body_size: usize, end_of_stream: bool) abi.Action {
    if (stream.exchange.ended) return .@"continue";
    const message = stream.message(direction);
    if (!message.scanning()) return .@"continue";
    const route = stream.exchange.route.?;
    var hold = false;
    if (message.buffering and !end_of_stream) {
        switch (stream.buffering(direction, body_size, "scanned as it streams")) {
            .keep_buffering => hold = true,
            .refuse => return refuse(stream, direction, .too_large),
            .stream => {},
        }
    }
    // A held body grows in Envoy's buffer: only the bytes past what was fed are new
    // (`consumed` is 0 once a body passes chunk by chunk).
    const start = message.consumed;
    if (body_size > start) {
        const chunk = host_io.readBody(direction, start, body_size - start) catch |err| return bodyFailed(stream, direction, err);
        feed(stream, direction, chunk) catch |err| return bodyFailed(stream, direction, err);
    }
    message.consumed = if (hold) body_size else 0;
    if (end_of_stream or blockReached(route, &message.tally)) return finishMessage(stream, direction);
    return if (hold) .pause else .@"continue";
}

pub fn onTrailers(stream: *Stream, direction: Direction) abi.Action {
    if (stream.exchange.ended) return .@"continue";
    const message = stream.message(direction);
    if (!message.covered or message.done) return .@"continue";
    return finishMessage(stream, direction);
}

fn feed(stream: *Stream, direction: Direction, chunk: []const u8) !void {
    const detector = try stream.processor(direction);
    var scanner = stream.exchange.scanner(&stream.message(direction).tally, .body);
    try detector.feed(chunk, &scanner);
}

// -- Decisions --------------------------------------------------------------------

/// Ends the message: the walker's last values, the rules, the report; a block rule
/// met ends the stream.
fn finishMessage(stream: *Stream, direction: Direction) abi.Action {
    const message = stream.message(direction);
    const route = stream.exchange.route.?;
    if (message.processor) |detector| {
        var scanner = stream.exchange.scanner(&message.tally, .body);
        detector.finish(&scanner) catch |err| {
            // A body cut short or malformed at its end: what was counted still counts.
            if (!blockReached(route, &message.tally)) return bodyFailed(stream, direction, err);
        };
    }
    const blocked = blockReached(route, &message.tally);
    stream.report(direction, blocked);
    if (direction == .response) leaveTotals(stream);
    if (blocked) return refuse(stream, direction, .blocked);
    return .@"continue";
}

fn bodyFailed(stream: *Stream, direction: Direction, err: anyerror) abi.Action {
    const route = stream.exchange.route.?;
    host.logFmt(.warn, main.module_name ++ ": route {s} {s} body could not be scanned: {s}", .{ route.name, @tagName(direction), @errorName(err) });
    return unscannable(stream, direction);
}

/// The policy's failure mode for a message that cannot be scanned.
fn unscannable(stream: *Stream, direction: Direction) abi.Action {
    stream.message(direction).close(&stream.root.frame.pool);
    stream.root.frame.count(.unscannable, 1);
    if (stream.exchange.loaded == null or stream.exchange.failure() == .fail_open) return .@"continue";
    return refuse(stream, direction, .unscannable);
}

fn refuse(stream: *Stream, direction: Direction, refusal: host_io.Refusal) abi.Action {
    if (refusal == .blocked) stream.root.frame.count(.blocked, 1);
    return stream.refuse(direction, refusal);
}

// -- Tags -------------------------------------------------------------------------

/// `x-meshveil-findings: credit-card=12, email-address=3` on the response headers:
/// what the request and the response headers held.
fn writeFindingsHeader(stream: *Stream) void {
    var buffer: [summary_bytes_max]u8 = undefined;
    const summary = totals(stream, &buffer);
    if (summary.len > 0) host.replaceHeader(.http_response_headers, findings_header, summary) catch {};
    writeTagsHeader(stream, .response, &stream.messages[0].tally, &stream.messages[1].tally);
}

/// Detectors whose tag rules are met, in `x-meshveil-dlp-tags` of `direction`'s headers.
fn writeTagsHeader(stream: *Stream, direction: Direction, first: *const Tally, second: ?*const Tally) void {
    const route = stream.exchange.route.?;
    var buffer: [summary_bytes_max]u8 = undefined;
    var len: usize = 0;
    for (route.rules, 0..) |*rule, index| {
        if (rule.verdict != .tag) continue;
        const count = first.count(@intCast(index)) + if (second) |tally| tally.count(@intCast(index)) else 0;
        if (count < rule.threshold) continue;
        const id = stream.exchange.loaded.?.policy.detectors[rule.detector].id;
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
fn leaveTotals(stream: *Stream) void {
    var buffer: [summary_bytes_max]u8 = undefined;
    const summary = totals(stream, &buffer);
    if (summary.len == 0) return;
    host.setProperty(&.{findings_property}, summary) catch {};
}

/// `detector=count` pairs over both messages, comma-separated.
fn totals(stream: *Stream, buffer: *[summary_bytes_max]u8) []const u8 {
    const route = stream.exchange.route orelse return buffer[0..0];
    var text = pipeline.text.Text.init(buffer);
    var first = true;
    for (route.rules, 0..) |rule, index| {
        const count = stream.messages[0].tally.count(@intCast(index)) + stream.messages[1].tally.count(@intCast(index));
        if (count == 0) continue;
        const id = stream.exchange.loaded.?.policy.detectors[rule.detector].id;
        const start = text.len;
        writePair(&text, if (first) "" else ", ", id, count) catch {
            // Out of room: the partial pair is left out.
            text.len = start;
            break;
        };
        first = false;
    }
    return text.written();
}

fn writePair(text: *pipeline.text.Text, separator: []const u8, id: []const u8, count: u32) !void {
    try text.writeAll(separator);
    try text.writeAll(id);
    try text.writeByte('=');
    try text.writeDecimal(count);
}

/// Whether a block rule of the route has reached its threshold in `tally`.
fn blockReached(route: *const config.Route, tally: *const Tally) bool {
    for (route.rules, 0..) |rule, index| {
        if (rule.verdict == .block and tally.count(@intCast(index)) >= rule.threshold) return true;
    }
    return false;
}
