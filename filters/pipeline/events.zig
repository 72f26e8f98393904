//! Finding events (docs/telemetry.md, type `finding`) and the matching log line: per
//! message, each detector found with its count, the rule's action, where it was (JSON
//! path, form field, header name), the route and the request id. Never the value: at
//! most a keyed fingerprint.
//!
//! A location is built from the body's own key names, which can themselves be
//! sensitive (a map keyed by e-mail address), so a location goes out only after
//! `cleanLocation`: keys that are not plain identifiers become `*`, and whatever the
//! engine still finds in the result is starred out too. The request id is the client's
//! `x-request-id`, cleaned the same way.

const std = @import("std");
const assert = std.debug.assert;
const walkers = @import("walkers");
const masking = @import("masking");
const config = @import("config.zig");
const tally_module = @import("tally.zig");
const Text = @import("text.zig").Text;

const walker = walkers.walker;
const Finding = masking.stream_masker.Finding;

pub const event_bytes_max: usize = 4096;
pub const request_id_bytes_max: usize = 64;

/// What the filter decided for one rule of a message.
pub const Outcome = enum { below_threshold, alert, tag, block, masked };

pub const Message = struct {
    module: []const u8,
    policy: *const config.Policy,
    route: *const config.Route,
    direction: config.Direction,
    request_id: []const u8,
    method: []const u8,
    time_ms: u64,
    /// True when the filter answered or ended the stream itself because of this message.
    enforced: bool,
    tally: *const tally_module.Tally,
};

/// The outcome of `rule` given its count (DLP: threshold and verdict; mask: masked).
pub fn outcomeOf(rule: *const config.Rule, count: u32) Outcome {
    if (rule.mask != null) return .masked;
    if (count < rule.threshold) return .below_threshold;
    return switch (rule.verdict) {
        .alert => .alert,
        .tag => .tag,
        .block => .block,
    };
}

/// The event JSON into `out`; `scanner` (the route's engine adapter over every
/// detector) cleans locations. Bounded: locations that do not fit are left out and the
/// event says `"truncated": true`.
pub fn findingEvent(message: Message, scanner: anytype, out: []u8) []const u8 {
    var text = Text.init(out);
    writeEvent(message, scanner, &text) catch {
        // Out of room: end the document where it is cut would make it invalid, so the
        // event is rebuilt without locations.
        text.reset();
        writeHead(message, &text) catch unreachable;
        writeCounts(message, &text) catch unreachable;
        text.writeAll("],\"truncated\":true}") catch unreachable;
    };
    return text.written();
}

fn writeEvent(message: Message, scanner: anytype, text: *Text) !void {
    try writeHead(message, text);
    const route = message.route;
    var first = true;
    for (route.rules, 0..) |*rule, index| {
        const count = message.tally.count(@intCast(index));
        if (count == 0) continue;
        if (!first) try text.writeByte(',');
        first = false;
        try writeCount(message.policy.detectors[rule.detector].id, count, outcomeOf(rule, count), text);
        try text.writeAll(",\"locations\":[");
        try writeLocations(message.tally, @intCast(index), scanner, text);
        try text.writeAll("]}");
    }
    try text.writeAll("],\"unsampled\":");
    try text.writeDecimal(message.tally.unsampled);
    try text.writeByte('}');
}

fn writeHead(message: Message, text: *Text) !void {
    try text.writeAll("{\"type\":\"finding\",\"module\":");
    try text.writeJsonString(message.module);
    try text.writeAll(",\"time_unix_ms\":");
    try text.writeDecimal(message.time_ms);
    try text.writeAll(",\"policy\":");
    try text.writeJsonString(message.policy.name);
    try text.writeAll(",\"tenant\":");
    try text.writeJsonString(message.policy.tenant);
    try text.writeAll(",\"route\":");
    try text.writeJsonString(message.route.name);
    try text.writeAll(",\"direction\":\"");
    try text.writeAll(@tagName(message.direction));
    try text.writeAll("\",\"request\":{\"id\":");
    try text.writeJsonString(message.request_id);
    try text.writeAll(",\"method\":");
    try text.writeJsonString(methodName(message.method));
    try text.writeAll("},\"enforced\":");
    try text.writeBool(message.enforced);
    try text.writeAll(",\"findings\":[");
}

/// `{"detector":"…","count":n,"action":"…"`, the start of one rule's finding.
fn writeCount(detector: []const u8, count: u32, outcome: Outcome, text: *Text) !void {
    try text.writeAll("{\"detector\":");
    try text.writeJsonString(detector);
    try text.writeAll(",\"count\":");
    try text.writeDecimal(count);
    try text.writeAll(",\"action\":\"");
    try text.writeAll(@tagName(outcome));
    try text.writeByte('"');
}

/// Counts only, for an event that ran out of room.
fn writeCounts(message: Message, text: *Text) !void {
    var first = true;
    for (message.route.rules, 0..) |*rule, index| {
        const count = message.tally.count(@intCast(index));
        if (count == 0) continue;
        if (!first) try text.writeByte(',');
        first = false;
        try writeCount(message.policy.detectors[rule.detector].id, count, outcomeOf(rule, count), text);
        try text.writeByte('}');
    }
}

fn writeLocations(tally: *const tally_module.Tally, rule: u8, scanner: anytype, text: *Text) !void {
    var first = true;
    for (tally.samples[0..tally.samples_len]) |*sample| {
        if (sample.rule != rule) continue;
        if (!first) try text.writeByte(',');
        first = false;
        var clean_buffer: [tally_module.location_bytes_max]u8 = undefined;
        const location = cleanLocation(sample.where, sample.locationText(), scanner, &clean_buffer);
        try text.writeAll("{\"where\":\"");
        try text.writeAll(@tagName(sample.where));
        try text.writeAll("\",\"path\":");
        try text.writeJsonString(location);
        try text.writeAll(",\"count\":");
        try text.writeDecimal(sample.count);
        if (sample.fingerprints_len > 0) {
            try text.writeAll(",\"fingerprints\":[");
            for (sample.fingerprintList(), 0..) |print, index| {
                if (index > 0) try text.writeByte(',');
                try text.writeByte('"');
                try text.writeAll(&std.fmt.bytesToHex(print, .lower));
                try text.writeByte('"');
            }
            try text.writeByte(']');
        }
        try text.writeByte('}');
    }
}

/// Methods are a closed set; anything else (a client's invention) is reported as such.
fn methodName(method: []const u8) []const u8 {
    const known = [_][]const u8{ "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE" };
    for (known) |name| if (std.mem.eql(u8, name, method)) return name;
    return if (method.len == 0) "" else "OTHER";
}

/// A location safe to send: JSON keys and field names that are not plain identifiers
/// become `*`, and anything a detector finds in what is left is starred out.
pub fn cleanLocation(where: tally_module.Where, location: []const u8, scanner: anytype, out: *[tally_module.location_bytes_max]u8) []const u8 {
    const structural = switch (where) {
        .body => cleanPath(location, out),
        .header, .query, .cookie => if (isPlainName(location)) copy(location, out) else copy("*", out),
    };
    _ = starFindings(out[0..structural.len], scanner);
    return structural;
}

/// A request id safe to echo: `[A-Za-z0-9._:-]`, at most 64 bytes, and nothing a
/// detector finds in it; else "-".
pub fn cleanRequestId(request_id: []const u8, scanner: anytype, out: *[request_id_bytes_max]u8) []const u8 {
    if (request_id.len == 0 or request_id.len > request_id_bytes_max) return "-";
    for (request_id) |byte| {
        if (!(std.ascii.isAlphanumeric(byte) or byte == '.' or byte == '_' or byte == ':' or byte == '-')) return "-";
    }
    @memcpy(out[0..request_id.len], request_id);
    const id = out[0..request_id.len];
    return if (starFindings(id, scanner) > 0) "-" else id;
}

fn copy(text: []const u8, out: *[tally_module.location_bytes_max]u8) []const u8 {
    const len = @min(text.len, out.len);
    @memcpy(out[0..len], text[0..len]);
    return out[0..len];
}

fn isPlainName(name: []const u8) bool {
    if (name.len == 0 or name.len > 48) return false;
    for (name) |byte| {
        if (!(std.ascii.isAlphanumeric(byte) or byte == '_' or byte == '-' or byte == '.')) return false;
    }
    return true;
}

/// `$.a.b[*]` paths and `1.3.2` field paths pass; `['odd key']` segments become `['*']`.
fn cleanPath(path: []const u8, out: *[tally_module.location_bytes_max]u8) []const u8 {
    var len: usize = 0;
    var index: usize = 0;
    while (index < path.len and len < out.len) {
        if (std.mem.startsWith(u8, path[index..], "['")) {
            const close = closingQuote(path, index + 2) orelse path.len;
            const replacement = "['*']";
            if (len + replacement.len > out.len) break;
            @memcpy(out[len..][0..replacement.len], replacement);
            len += replacement.len;
            index = @min(path.len, close + 2);
            continue;
        }
        out[len] = path[index];
        len += 1;
        index += 1;
    }
    return out[0..len];
}

/// The index of the `'` that closes a quoted key starting at `start` (escapes skipped).
fn closingQuote(path: []const u8, start: usize) ?usize {
    var index = start;
    while (index < path.len) : (index += 1) {
        if (path[index] == '\\') {
            index += 1;
            continue;
        }
        if (path[index] == '\'') return index;
    }
    return null;
}

/// Replaces every finding of `scanner` in `text` with '*'; returns how many there were.
fn starFindings(text: []u8, scanner: anytype) usize {
    if (text.len == 0) return 0;
    const value = walker.Value{
        .kind = .text,
        .encoding = .identity,
        .bytes = text,
        .path = "",
        .raw = walker.RawMap.identity(0, text.len),
        .token_start = 0,
        .token_end = text.len,
    };
    var findings: [16]Finding = undefined;
    const found = scanner.scan(&value, 0, &findings);
    for (found) |finding| @memset(text[finding.start..finding.end], '*');
    return found.len;
}

const testing = std.testing;

/// Finds runs of 6+ digits, like a detector would find account numbers.
const DigitScanner = struct {
    pub fn scan(_: *DigitScanner, value: *const walker.Value, from: u32, out: []Finding) []const Finding {
        var count: usize = 0;
        var index: usize = from;
        const bytes = value.bytes;
        while (index < bytes.len and count < out.len) {
            if (!std.ascii.isDigit(bytes[index])) {
                index += 1;
                continue;
            }
            var end = index;
            while (end < bytes.len and std.ascii.isDigit(bytes[end])) end += 1;
            if (end - index >= 6) {
                out[count] = .{ .detector = 0, .start = @intCast(index), .end = @intCast(end) };
                count += 1;
            }
            index = end;
        }
        return out[0..count];
    }
};

test "locations lose sensitive keys; request ids that carry data are dropped" {
    var scanner = DigitScanner{};
    var out: [tally_module.location_bytes_max]u8 = undefined;
    try testing.expectEqualStrings("$.users['*'].card", cleanLocation(.body, "$.users['ada@example.com'].card", &scanner, &out));
    try testing.expectEqualStrings("$.acct_**********", cleanLocation(.body, "$.acct_4111111111", &scanner, &out));
    try testing.expectEqualStrings("*", cleanLocation(.query, "a b@c", &scanner, &out));
    try testing.expectEqualStrings("authorization", cleanLocation(.header, "authorization", &scanner, &out));
    var id: [request_id_bytes_max]u8 = undefined;
    try testing.expectEqualStrings("0b1c-77aa", cleanRequestId("0b1c-77aa", &scanner, &id));
    try testing.expectEqualStrings("-", cleanRequestId("4111111111111111", &scanner, &id));
    try testing.expectEqualStrings("-", cleanRequestId("id with spaces", &scanner, &id));
}

test "an event is valid JSON with counts, actions and clean locations" {
    var rules = [_]config.Rule{
        .{ .detector = 0, .min_score = 0, .threshold = 2, .verdict = .block, .mask = null, .missing_key = "" },
        .{ .detector = 1, .min_score = 0, .threshold = 5, .verdict = .tag, .mask = null, .missing_key = "" },
    };
    const route = config.Route{ .name = "cards", .paths = &.{"/**"}, .methods = &.{}, .hosts = &.{}, .request = true, .response = true, .content_types = &.{"text/*"}, .body = .{}, .scan_numbers = false, .rules = &rules, .rule_of = &.{ 0, 1 } };
    const detectors = [_]config.Detector{ .{ .id = "credit-card", .entity = "CREDIT_CARD" }, .{ .id = "email-address", .entity = "EMAIL_ADDRESS" } };
    var routes = [_]config.Route{route};
    const policy = config.Policy{ .name = "p", .tenant = "t", .failure = .fail_closed, .detectors = &detectors, .fingerprint_key = null, .routes = &routes, .tables = "" };
    var tally = tally_module.Tally{};
    tally.add(0, .body, "$.cards[0].number", "4111111111111111", "0123456789abcdef0123456789abcdef");
    tally.add(0, .body, "$.cards[1].number", "4111111111111111", "0123456789abcdef0123456789abcdef");
    tally.add(1, .body, "$['ada@example.com']", "ada@example.com", null);
    var scanner = DigitScanner{};
    var buffer: [event_bytes_max]u8 = undefined;
    const event = findingEvent(.{ .module = "meshveil-dlp", .policy = &policy, .route = &routes[0], .direction = .response, .request_id = "r-1", .method = "GET", .time_ms = 5, .enforced = true, .tally = &tally }, &scanner, &buffer);
    const parsed = try std.json.parseFromSlice(std.json.Value, testing.allocator, event, .{});
    defer parsed.deinit();
    const findings = parsed.value.object.get("findings").?.array.items;
    try testing.expectEqual(@as(usize, 2), findings.len);
    try testing.expectEqualStrings("block", findings[0].object.get("action").?.string);
    try testing.expectEqualStrings("below_threshold", findings[1].object.get("action").?.string);
    try testing.expect(std.mem.indexOf(u8, event, "ada@example.com") == null);
    try testing.expect(std.mem.indexOf(u8, event, "4111111111111111") == null);
    try testing.expect(std.mem.indexOf(u8, event, "$.cards[*].number") != null);
}
