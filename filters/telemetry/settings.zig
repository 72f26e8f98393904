//! Where and how a filter sends its events: the `telemetry` object of a filter's config
//! (filters/ueba/config.zig and the DLP config carry the same one):
//!
//! ```json
//! {"cluster": "meshveil-controlplane", "authority": "meshveil-controlplane",
//!  "path": "/v1/telemetry", "token": "<per-node credential>",
//!  "batch_events": 32, "queue_events_max": 1024, "timeout_ms": 5000,
//!  "backoff_initial_ms": 1000, "backoff_max_ms": 60000, "max_attempts": 20,
//!  "include_path": false}
//! ```
//!
//! `cluster` and `token` are required; `authority` defaults to the cluster name.

const std = @import("std");
const assert = std.debug.assert;
const limits = @import("limits.zig");

/// A bounded string kept inside `Settings`.
pub fn Text(comptime capacity: usize) type {
    return struct {
        const Self = @This();
        bytes: [capacity]u8 = undefined,
        len: usize = 0,

        pub fn slice(self: *const Self) []const u8 {
            assert(self.len <= capacity);
            return self.bytes[0..self.len];
        }

        pub fn set(self: *Self, value: []const u8) error{TooLong}!void {
            if (value.len > capacity) return error.TooLong;
            @memcpy(self.bytes[0..value.len], value);
            self.len = value.len;
        }
    };
}

pub const Settings = struct {
    cluster: Text(limits.host_bytes_max) = .{},
    authority: Text(limits.host_bytes_max) = .{},
    path: Text(limits.path_bytes_max) = .{},
    token: Text(limits.token_bytes_max) = .{},
    batch_events: u32 = 32,
    queue_events_max: u32 = 1024,
    timeout_ms: u32 = 5000,
    backoff_initial_ms: u32 = 1000,
    backoff_max_ms: u32 = 60_000,
    /// Attempts per batch before its events are dropped (and counted); 0: no limit.
    max_attempts: u32 = 20,
    include_path: bool = false,
};

const defaults: Settings = .{};

/// The JSON shape, for `std.json`; what it leaves out takes `Settings`' defaults.
pub const Json = struct {
    cluster: []const u8,
    authority: ?[]const u8 = null,
    path: []const u8 = "/v1/telemetry",
    token: []const u8,
    batch_events: u32 = defaults.batch_events,
    queue_events_max: u32 = defaults.queue_events_max,
    timeout_ms: u32 = defaults.timeout_ms,
    backoff_initial_ms: u32 = defaults.backoff_initial_ms,
    backoff_max_ms: u32 = defaults.backoff_max_ms,
    max_attempts: u32 = defaults.max_attempts,
    include_path: bool = defaults.include_path,
};

/// Checks `json` and copies it into `out`; on a problem, answers the message (naming the
/// field under `telemetry.`) and leaves `out` unspecified.
pub fn copy(json: Json, out: *Settings) ?[]const u8 {
    out.* = .{
        .batch_events = json.batch_events,
        .queue_events_max = json.queue_events_max,
        .timeout_ms = json.timeout_ms,
        .backoff_initial_ms = json.backoff_initial_ms,
        .backoff_max_ms = json.backoff_max_ms,
        .max_attempts = json.max_attempts,
        .include_path = json.include_path,
    };
    if (json.cluster.len == 0) return "telemetry.cluster: must not be empty";
    out.cluster.set(json.cluster) catch return "telemetry.cluster: longer than 253 bytes";
    out.authority.set(json.authority orelse json.cluster) catch return "telemetry.authority: longer than 253 bytes";
    if (json.path.len == 0 or json.path[0] != '/') return "telemetry.path: must start with '/'";
    out.path.set(json.path) catch return "telemetry.path: longer than 256 bytes";
    if (json.token.len == 0) return "telemetry.token: must not be empty (the collector authenticates each node)";
    for (json.token) |byte| {
        if (byte <= ' ' or byte >= 0x7f) return "telemetry.token: only visible ASCII is allowed";
    }
    out.token.set(json.token) catch return "telemetry.token: longer than 512 bytes";
    if (json.batch_events < 1 or json.batch_events > limits.batch_events_max) return "telemetry.batch_events: expected 1 to 64";
    if (json.queue_events_max < json.batch_events or json.queue_events_max > limits.queue_events_max) {
        return "telemetry.queue_events_max: expected batch_events to 1048576";
    }
    if (json.timeout_ms < 1) return "telemetry.timeout_ms: must be positive";
    if (json.backoff_initial_ms < 1 or json.backoff_max_ms < json.backoff_initial_ms) {
        return "telemetry.backoff_*: need 1 <= backoff_initial_ms <= backoff_max_ms";
    }
    return null;
}

/// What a filter config's `telemetry` member came to.
pub const Member = union(enum) {
    /// No `telemetry` member, or `null`: the filter sends nothing.
    absent,
    present: Settings,
    invalid: []const u8,
};

/// Reads the `telemetry` member of the JSON object `document` (a filter config's JSON,
/// whose other members are not this file's business). `scratch` holds the parse while it
/// runs; nothing in the answer points into it (configure time only).
pub fn member(document: []const u8, scratch: []u8) Member {
    var fba = std.heap.FixedBufferAllocator.init(scratch);
    const Document = struct { telemetry: ?Json = null };
    const parsed = std.json.parseFromSliceLeaky(Document, fba.allocator(), document, .{ .ignore_unknown_fields = true }) catch {
        return .{ .invalid = "telemetry: not a valid telemetry object" };
    };
    const json = parsed.telemetry orelse return .absent;
    var out: Settings = undefined;
    if (copy(json, &out)) |message| return .{ .invalid = message };
    return .{ .present = out };
}

const testing = std.testing;

test "a telemetry object takes its defaults and names the field it breaks" {
    var settings: Settings = undefined;
    try testing.expect(copy(.{ .cluster = "cp", .token = "t0k3n", .batch_events = 8 }, &settings) == null);
    try testing.expectEqualStrings("cp", settings.authority.slice());
    try testing.expectEqualStrings("/v1/telemetry", settings.path.slice());
    try testing.expectEqual(@as(u32, 8), settings.batch_events);
    try testing.expectEqualStrings("telemetry.token: must not be empty (the collector authenticates each node)", copy(.{ .cluster = "cp", .token = "" }, &settings).?);
    try testing.expectEqualStrings("telemetry.batch_events: expected 1 to 64", copy(.{ .cluster = "cp", .token = "t", .batch_events = 65 }, &settings).?);
    try testing.expectEqualStrings("telemetry.path: must start with '/'", copy(.{ .cluster = "cp", .token = "t", .path = "v1" }, &settings).?);
}

test "the telemetry member of a larger config is read, the rest skipped" {
    var scratch: [8192]u8 = undefined;
    const with =
        \\{"format": "x", "routes": [{"name": "a", "rules": [1, 2, {"deep": [true]}]}],
        \\ "telemetry": {"cluster": "cp", "token": "t0k3n"}}
    ;
    switch (member(with, &scratch)) {
        .present => |settings| try testing.expectEqualStrings("t0k3n", settings.token.slice()),
        else => return error.TestUnexpectedResult,
    }
    try testing.expect(member("{\"format\": \"x\"}", &scratch) == .absent);
    try testing.expect(member("{\"telemetry\": null}", &scratch) == .absent);
    try testing.expectEqualStrings("telemetry.cluster: must not be empty", member("{\"telemetry\": {\"cluster\": \"\", \"token\": \"t\"}}", &scratch).invalid);
}
