//! Anomaly events as JSON, the shape docs/telemetry.md defines (type "anomaly"): who
//! (keyed hashes; a raw value only for kinds the policy reveals), which request, the score
//! and action, and every contributing feature with the baseline it was measured against.
//! Written into a caller's fixed buffer; an event that does not fit is refused whole,
//! never cut.

const std = @import("std");
const assert = std.debug.assert;
const config = @import("config.zig");
const entity = @import("entity.zig");
const scoring = @import("scoring.zig");
const features = @import("features.zig");
const limits = @import("limits.zig");
const Fixed3 = @import("decimal.zig").Fixed3;

/// What the request adds to an event; all optional, all read from the host by the caller.
pub const RequestFacts = struct {
    request_id: []const u8 = "",
    method: []const u8 = "",
    /// Only when the policy's telemetry `include_path` is set.
    path: ?[]const u8 = null,
    route: []const u8 = "",
    endpoint: ?u64 = null,
    status: u32 = 0,
};

pub const Anomaly = struct {
    event_id: []const u8,
    time_ms: u64,
    plugin: []const u8,
    settings: *const config.Settings,
    identity: *const entity.Identity,
    group: ?*const entity.Identity,
    request: RequestFacts,
    verdict: *const scoring.Verdict,
    /// Whether the filter answered the request itself (throttle or block) or only reported.
    enforced: bool,
    window: *const features.Window,
};

pub const Error = error{EventTooLarge};

pub fn writeAnomaly(event: *const Anomaly, out: []u8) Error![]const u8 {
    var stream = std.io.fixedBufferStream(out);
    writeJson(event, stream.writer()) catch return error.EventTooLarge;
    assert(stream.pos <= out.len);
    return stream.getWritten();
}

fn writeJson(event: *const Anomaly, writer: anytype) !void {
    var json = std.json.writeStream(writer, .{});
    try json.beginObject();
    try field(&json, "event_id", event.event_id);
    try field(&json, "type", "anomaly");
    try field(&json, "time_unix_ms", event.time_ms);
    try field(&json, "module", "meshveil-ueba");
    try field(&json, "plugin", event.plugin);
    try json.objectField("entity");
    try writeIdentity(&json, event.identity);
    try json.objectField("group");
    if (event.group) |group| try writeIdentity(&json, group) else try json.write(null);
    try writeRequest(&json, &event.request);
    try json.objectField("score");
    try json.print("{}", .{Fixed3{ .value = event.verdict.score }});
    try field(&json, "action", @tagName(event.verdict.action));
    try field(&json, "enforced", event.enforced);
    try json.objectField("reasons");
    try json.beginArray();
    for (event.verdict.reasonList()) |*reason| try writeReason(&json, event.settings, reason);
    try json.endArray();
    try writeWindow(&json, event.settings, event.window);
    try json.endObject();
}

fn field(json: anytype, name: []const u8, value: anytype) !void {
    try json.objectField(name);
    try json.write(value);
}

fn writeIdentity(json: anytype, identity: *const entity.Identity) !void {
    try json.beginObject();
    try field(json, "kind", @tagName(identity.kind));
    try field(json, "id", &identity.hex());
    try field(json, "verified", identity.kind.verified());
    if (identity.revealed_len > 0) try field(json, "value", identity.revealedValue());
    try json.endObject();
}

fn writeRequest(json: anytype, request: *const RequestFacts) !void {
    try json.objectField("request");
    try json.beginObject();
    try field(json, "id", request.request_id);
    try field(json, "method", request.method);
    try json.objectField("endpoint");
    if (request.endpoint) |endpoint| {
        try json.write(&std.fmt.bytesToHex(std.mem.toBytes(endpoint), .lower));
    } else try json.write(null);
    if (request.path) |path| try field(json, "path", path);
    try field(json, "route", request.route);
    try field(json, "status", request.status);
    try json.endObject();
}

fn writeReason(json: anytype, settings: *const config.Settings, reason: *const scoring.Reason) !void {
    try json.beginObject();
    switch (reason.*) {
        .zscore => |z| {
            try field(json, "kind", "zscore");
            try field(json, "feature", @tagName(z.feature));
            try number(json, "value", z.value);
            try number(json, "z", z.z);
            try json.objectField("baseline");
            try json.beginObject();
            try field(json, "scope", @tagName(z.scope));
            try number(json, "mean", z.mean);
            try number(json, "stddev", z.stddev);
            try field(json, "windows", z.windows);
            try json.endObject();
        },
        .hour => |hour| {
            try field(json, "kind", "hour_of_day");
            try field(json, "hour_utc", hour.hour);
            try number(json, "share", hour.share);
            try number(json, "z", hour.z);
        },
        .rule => |hit| {
            const rule = &settings.ruleList()[hit.index];
            try field(json, "kind", "rule");
            try field(json, "rule", rule.name.slice());
            try field(json, "feature", @tagName(rule.feature));
            if (rule.detector.len > 0) try field(json, "detector", rule.detector.slice());
            try number(json, "value", hit.value);
            try field(json, "threshold", rule.threshold);
            try field(json, "window_seconds", rule.window_seconds);
            try field(json, "action", @tagName(rule.action));
        },
    }
    try json.endObject();
}

fn writeWindow(json: anytype, settings: *const config.Settings, window: *const features.Window) !void {
    try json.objectField("window");
    try json.beginObject();
    try field(json, "start_unix_s", window.start_s);
    try field(json, "seconds", settings.window_seconds);
    try field(json, "requests", window.requests);
    try field(json, "response_bytes", window.response_bytes);
    try field(json, "findings", window.findings);
    try field(json, "errors", window.errors);
    try number(json, "endpoints", window.distinctEndpoints());
    try json.endObject();
}

/// Numbers with three decimals: exact enough for analysts, stable across platforms.
fn number(json: anytype, name: []const u8, value: f64) !void {
    try json.objectField(name);
    if (std.math.isFinite(value)) try json.print("{}", .{Fixed3{ .value = value }}) else try json.write(null);
}

const testing = std.testing;
var test_scratch: [limits.config_scratch_bytes]u8 = undefined;

test "an anomaly event carries hashes, reasons and baselines, and parses as JSON" {
    var settings: config.Settings = undefined;
    var problem = config.Problem{};
    try config.parse(
        \\{"identity_key": "000102030405060708090a0b0c0d0e0f", "entity_sources": [{"source": "bearer_jwt"}],
        \\ "rules": [{"name": "cards", "feature": "findings", "detector": "credit_card",
        \\            "threshold": 500, "window_seconds": 3600, "action": "block"}]}
    , &test_scratch, &settings, &problem);
    const identity = entity.Identity{ .kind = .bearer_jwt, .id = .{0xab} ** 16 };
    var verdict = scoring.Verdict{ .score = 41.5, .action = .block };
    verdict.reasons[0] = .{ .zscore = .{ .feature = .findings, .value = 102, .scope = .entity, .mean = 20, .stddev = 2, .windows = 4, .z = 41 } };
    verdict.reasons[1] = .{ .rule = .{ .index = 0, .value = 612.25 } };
    verdict.reasons_len = 2;
    const window = features.Window{ .start_s = 300, .requests = 2, .findings = 102 };
    const event = Anomaly{
        .event_id = "00aa-1",
        .time_ms = 301_000,
        .plugin = "ueba",
        .settings = &settings,
        .identity = &identity,
        .group = null,
        .request = .{ .request_id = "r-1", .method = "GET", .endpoint = 7, .status = 200 },
        .verdict = &verdict,
        .enforced = true,
        .window = &window,
    };
    var buffer: [limits.event_bytes_max]u8 = undefined;
    const json = try writeAnomaly(&event, &buffer);
    const parsed = try std.json.parseFromSlice(std.json.Value, testing.allocator, json, .{});
    defer parsed.deinit();
    const root = parsed.value.object;
    try testing.expectEqualStrings("anomaly", root.get("type").?.string);
    try testing.expectEqualStrings("abababababababababababababababab", root.get("entity").?.object.get("id").?.string);
    try testing.expectEqual(false, root.get("entity").?.object.get("verified").?.bool);
    try testing.expect(root.get("entity").?.object.get("value") == null);
    const reasons = root.get("reasons").?.array.items;
    try testing.expectEqualStrings("entity", reasons[0].object.get("baseline").?.object.get("scope").?.string);
    try testing.expectEqualStrings("cards", reasons[1].object.get("rule").?.string);
    try testing.expectEqual(@as(i64, 500), reasons[1].object.get("threshold").?.integer);
    try testing.expect(root.get("request").?.object.get("path") == null);
    // Too small a buffer refuses the event rather than cutting it.
    var small: [64]u8 = undefined;
    try testing.expectError(error.EventTooLarge, writeAnomaly(&event, &small));
}
