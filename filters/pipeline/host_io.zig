//! The host side of the body pipeline, shared by meshveil-dlp and meshveil-mask: the
//! request facts read from headers, reading a body window, writing a rewritten body
//! back, local replies, and Envoy stats defined on first use. Thin wrappers over
//! `abi.host`; the decisions live in the pure files beside this one.

const std = @import("std");
const assert = std.debug.assert;
const abi = @import("abi");
const config = @import("config.zig");

const host = abi.host;
const header_map = abi.header_map;

/// The request and response facts the filters act on, borrowed from one header map.
pub const HeaderFacts = struct {
    method: []const u8 = "",
    target: []const u8 = "",
    authority: []const u8 = "",
    content_type: []const u8 = "",
    content_encoding: []const u8 = "",
    grpc_encoding: []const u8 = "",
    request_id: []const u8 = "",
    status: []const u8 = "",

    pub fn of(view: header_map.View) HeaderFacts {
        var facts = HeaderFacts{};
        var pairs = view.iterator();
        while (pairs.next()) |pair| {
            const name = pair.name;
            const is = header_map.nameIs;
            if (is(name, ":method")) facts.method = pair.value;
            if (is(name, ":path")) facts.target = pair.value;
            if (is(name, ":authority")) facts.authority = pair.value;
            if (is(name, ":status")) facts.status = pair.value;
            if (is(name, "content-type")) facts.content_type = pair.value;
            if (is(name, "content-encoding")) facts.content_encoding = pair.value;
            if (is(name, "grpc-encoding")) facts.grpc_encoding = pair.value;
            if (is(name, "x-request-id")) facts.request_id = pair.value;
        }
        return facts;
    }
};

pub fn headerMap(direction: config.Direction) abi.MapType {
    return switch (direction) {
        .request => .http_request_headers,
        .response => .http_response_headers,
    };
}

pub fn bodyBuffer(direction: config.Direction) abi.BufferType {
    return switch (direction) {
        .request => .http_request_body,
        .response => .http_response_body,
    };
}

pub fn readHeaders(direction: config.Direction) ?header_map.View {
    return host.getHeaderMap(headerMap(direction)) catch |err| {
        host.logFmt(.err, "meshveil: reading {s} headers failed: {s}", .{ @tagName(direction), @errorName(err) });
        return null;
    };
}

/// Bytes `[start, start + len)` of the body buffer, in the per-callback arena.
pub fn readBody(direction: config.Direction, start: usize, len: usize) abi.host.HostError![]const u8 {
    if (len == 0) return "";
    return host.getBufferBytes(bodyBuffer(direction), start, len);
}

/// Scratch memory valid until the callback returns (the dispatcher's arena).
pub fn scratch(len: usize) ?[]u8 {
    const bytes = abi.memory.allocate(len) orelse return null;
    return bytes[0..len];
}

/// Writes a rewritten body over the host's buffer: the first write replaces the whole
/// buffer, later ones append; writes are staged so a body costs few host calls.
pub const BodyWriter = struct {
    buffer: abi.BufferType,
    /// Size of the host's buffer before the first write (what the first write replaces).
    original_len: usize,
    staging: []u8,
    staged: usize = 0,
    written: usize = 0,
    started: bool = false,

    pub fn write(self: *BodyWriter, bytes: []const u8) abi.host.HostError!void {
        if (self.staged + bytes.len <= self.staging.len) {
            @memcpy(self.staging[self.staged..][0..bytes.len], bytes);
            self.staged += bytes.len;
            return;
        }
        try self.flush();
        if (bytes.len <= self.staging.len) {
            @memcpy(self.staging[0..bytes.len], bytes);
            self.staged = bytes.len;
            return;
        }
        try self.put(bytes);
    }

    /// Forgets what is staged; only before anything went to the host.
    pub fn discard(self: *BodyWriter) void {
        std.debug.assert(!self.started);
        self.staged = 0;
    }

    /// Sends what is staged; a body that ends up empty still replaces the buffer.
    pub fn finish(self: *BodyWriter) abi.host.HostError!void {
        try self.flush();
        if (!self.started) try self.put("");
    }

    fn flush(self: *BodyWriter) abi.host.HostError!void {
        if (self.staged == 0) return;
        try self.put(self.staging[0..self.staged]);
        self.staged = 0;
    }

    fn put(self: *BodyWriter, bytes: []const u8) abi.host.HostError!void {
        if (!self.started) {
            // Envoy's buffer: start 0 with a size of at least the buffer replaces it all
            // (an empty buffer takes the prepend form, which is the same).
            try host.setBufferBytes(self.buffer, 0, self.original_len, bytes);
            self.started = true;
        } else {
            // A start at or past the end appends.
            try host.setBufferBytes(self.buffer, self.written, 0, bytes);
        }
        self.written += bytes.len;
    }
};

/// gRPC's PERMISSION_DENIED, for blocked gRPC calls.
const grpc_permission_denied: i32 = 7;
const grpc_unavailable: i32 = 14;

pub const Refusal = enum {
    /// A rule's threshold was reached.
    blocked,
    /// The body could not be scanned and the policy fails closed.
    unscannable,
    /// The body went past the route's buffer limit and the policy refuses it.
    too_large,
};

/// Answers the stream ourselves. The body names the request id and the reason, never
/// what was found.
pub fn refuse(comptime module_name: []const u8, refusal: Refusal, request_id: []const u8, grpc: bool, direction: config.Direction) void {
    const status: u32 = switch (refusal) {
        .blocked => 403,
        .unscannable => 503,
        .too_large => if (direction == .request) 413 else 502,
    };
    const details = switch (refusal) {
        inline else => |which| module_name ++ "_" ++ @tagName(which),
    };
    var body_buffer: [256]u8 = undefined;
    const reason = switch (refusal) {
        .blocked => "blocked by data protection policy",
        .unscannable => "could not be checked by data protection policy",
        .too_large => "too large for data protection policy",
    };
    const body = if (grpc) "" else std.fmt.bufPrint(&body_buffer, "{{\"error\":\"{s}\",\"request_id\":\"{s}\"}}\n", .{ reason, request_id }) catch "";
    var headers_buffer: [256]u8 = undefined;
    const pairs = [_]header_map.Pair{
        .{ .name = "content-type", .value = if (grpc) "application/grpc" else "application/json" },
        .{ .name = "x-meshveil-request-id", .value = request_id },
    };
    const headers = header_map.serialize(&pairs, &headers_buffer) catch unreachable;
    const grpc_status: i32 = if (!grpc) -1 else if (refusal == .blocked) grpc_permission_denied else grpc_unavailable;
    host.sendLocalResponse(.{ .status_code = status, .details = details, .body = body, .headers = headers, .grpc_status = grpc_status }) catch |err| {
        host.logFmt(.err, module_name ++ ": local reply failed: {s}", .{@errorName(err)});
    };
}

/// A counter or gauge id, defined on first use and kept.
pub fn metric(slot: *?u32, metric_type: abi.MetricType, name: []const u8) ?u32 {
    if (slot.* == null) slot.* = host.defineMetric(metric_type, name) catch null;
    return slot.*;
}

pub fn increment(slot: *?u32, name: []const u8, delta: u64) void {
    if (delta == 0) return;
    const id = metric(slot, .counter, name) orelse return;
    host.incrementMetric(id, @intCast(@min(delta, std.math.maxInt(i64)))) catch {};
}

pub const RuleMetric = struct {
    filter: []const u8,
    route: []const u8,
    detector: []const u8,
    direction: config.Direction,
    what: []const u8,
};

/// Adds `delta` to `meshveil.<filter>.route.<route>.detector.<detector>.<direction>.<what>`
/// (Envoy's `stats_tags` regexes, README, lift route, detector and direction out as
/// tags); the name is formatted only the first time, when the counter is defined.
pub fn incrementRule(slot: *?u32, name: RuleMetric, delta: u64) void {
    if (delta == 0) return;
    if (slot.* == null) {
        var buffer: [256]u8 = undefined;
        const text = std.fmt.bufPrint(&buffer, "meshveil.{s}.route.{s}.detector.{s}.{s}.{s}", .{
            name.filter, name.route, name.detector, @tagName(name.direction), name.what,
        }) catch return;
        slot.* = host.defineMetric(.counter, text) catch return;
    }
    host.incrementMetric(slot.*.?, @intCast(@min(delta, std.math.maxInt(i64)))) catch {};
}

pub fn nowMilliseconds() u64 {
    const nanoseconds = host.currentTimeNanoseconds() catch return 0;
    return nanoseconds / std.time.ns_per_ms;
}
