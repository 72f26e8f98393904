//! The filter logic's view of the host: shared data as a CAS store, request facts
//! (headers and properties), the telemetry pipeline's environment, and the filter's
//! Envoy stats. The only file of the UEBA logic that calls `abi.host`.

const std = @import("std");
const assert = std.debug.assert;
const abi = @import("abi");
const state = @import("state.zig");
const telemetry = @import("telemetry.zig");

const host = abi.host;

/// Shared data with proxy-Wasm semantics (`state.SlotTable`'s `Store`).
pub const SharedStore = struct {
    pub fn get(_: *SharedStore, key: []const u8) state.StoreError!?state.SharedValue {
        const found = host.getSharedData(key) catch return error.StoreFailed;
        const shared = found orelse return null;
        return .{ .value = shared.value, .cas = shared.cas };
    }

    pub fn set(_: *SharedStore, key: []const u8, value: []const u8, cas: u32) state.StoreError!void {
        host.setSharedData(key, value, cas) catch |err| return switch (err) {
            error.CasMismatch => error.CasMismatch,
            else => error.StoreFailed,
        };
    }
};

/// Request headers and properties, as `entity.identify` reads them. Valid in the request
/// headers callback only (Envoy forgets the request headers once they are passed on).
pub const RequestFacts = struct {
    pub fn header(_: *const RequestFacts, name: []const u8) ?[]const u8 {
        return host.getHeader(.http_request_headers, name) catch null;
    }

    pub fn property(_: *const RequestFacts, path: []const []const u8) ?[]const u8 {
        return host.getProperty(path) catch null;
    }
};

pub fn nowNanoseconds() u64 {
    // A host without a clock leaves every window at the epoch; nothing breaks, nothing learns.
    return host.currentTimeNanoseconds() catch 0;
}

/// The UEBA filter's own stats, next to the telemetry pipeline's.
pub const Metric = enum(u8) {
    exchanges,
    unidentified,
    anomalies,
    tagged,
    throttled,
    blocked,
    refused_by_penalty,
    rule_hits,
    evictions,
    expired,
    state_update_failures,
    events_too_large,

    pub fn name(self: Metric) []const u8 {
        return switch (self) {
            .exchanges => "meshveil.ueba.exchanges",
            .unidentified => "meshveil.ueba.unidentified",
            .anomalies => "meshveil.ueba.anomalies",
            .tagged => "meshveil.ueba.actions.tag",
            .throttled => "meshveil.ueba.actions.throttle",
            .blocked => "meshveil.ueba.actions.block",
            .refused_by_penalty => "meshveil.ueba.refused_by_penalty",
            .rule_hits => "meshveil.ueba.rule_hits",
            .evictions => "meshveil.ueba.state.evictions",
            .expired => "meshveil.ueba.state.expired",
            .state_update_failures => "meshveil.ueba.state.update_failures",
            .events_too_large => "meshveil.ueba.events_too_large",
        };
    }
};

const ueba_metrics = @typeInfo(Metric).@"enum".fields.len;
const telemetry_metrics = @typeInfo(telemetry.Metric).@"enum".fields.len;

/// Metric ids of one root context, defined at configure time.
pub const Metrics = struct {
    ueba: [ueba_metrics]?u32 = .{null} ** ueba_metrics,
    telemetry: [telemetry_metrics]?u32 = .{null} ** telemetry_metrics,

    pub fn define(self: *Metrics) void {
        inline for (0..ueba_metrics) |index| {
            self.ueba[index] = host.defineMetric(.counter, @as(Metric, @enumFromInt(index)).name()) catch null;
        }
        inline for (0..telemetry_metrics) |index| {
            const metric: telemetry.Metric = @enumFromInt(index);
            self.telemetry[index] = host.defineMetric(if (metric.isGauge()) .gauge else .counter, metric.name()) catch null;
        }
    }

    pub fn count(self: *const Metrics, metric: Metric, delta: u64) void {
        if (delta == 0) return;
        const id = self.ueba[@intFromEnum(metric)] orelse return;
        host.incrementMetric(id, @intCast(@min(delta, std.math.maxInt(i64)))) catch {};
    }
};

/// The telemetry pipeline's environment (`telemetry.Pipeline`'s `Env`).
pub const TelemetryEnv = struct {
    metrics: *const Metrics,
    store: SharedStore = .{},

    pub fn nowMs(_: *TelemetryEnv) u64 {
        return nowNanoseconds() / std.time.ns_per_ms;
    }

    pub fn sharedGet(self: *TelemetryEnv, key: []const u8) state.StoreError!?state.SharedValue {
        return self.store.get(key);
    }

    pub fn sharedSet(self: *TelemetryEnv, key: []const u8, value: []const u8, cas: u32) state.StoreError!void {
        return self.store.set(key, value, cas);
    }

    pub fn registerQueue(_: *TelemetryEnv, name: []const u8) ?u32 {
        return host.registerSharedQueue(name) catch null;
    }

    pub fn enqueue(_: *TelemetryEnv, queue: u32, bytes: []const u8) bool {
        host.enqueueSharedQueue(queue, bytes) catch return false;
        return true;
    }

    pub fn dequeue(_: *TelemetryEnv, queue: u32) ?[]const u8 {
        return host.dequeueSharedQueue(queue) catch null;
    }

    pub fn httpCall(_: *TelemetryEnv, request: telemetry.HttpRequest) ?u32 {
        const pairs_max = 16;
        assert(request.headers.len <= pairs_max);
        var pairs: [pairs_max]abi.header_map.Pair = undefined;
        for (request.headers, 0..) |header, index| pairs[index] = .{ .name = header.name, .value = header.value };
        var serialized: [4096]u8 = undefined;
        const headers = abi.header_map.serialize(pairs[0..request.headers.len], &serialized) catch return null;
        return host.httpCall(.{
            .upstream = request.upstream,
            .headers = headers,
            .body = request.body,
            .timeout_milliseconds = request.timeout_ms,
        }) catch |err| {
            host.logFmt(.warn, "meshveil-ueba: telemetry call to cluster \"{s}\" refused by the host: {s}", .{ request.upstream, @errorName(err) });
            return null;
        };
    }

    pub fn count(self: *TelemetryEnv, metric: telemetry.Metric, delta: u64) void {
        if (delta == 0) return;
        const id = self.metrics.telemetry[@intFromEnum(metric)] orelse return;
        host.incrementMetric(id, @intCast(@min(delta, std.math.maxInt(i64)))) catch {};
    }

    pub fn gauge(self: *TelemetryEnv, metric: telemetry.Metric, value: u64) void {
        const id = self.metrics.telemetry[@intFromEnum(metric)] orelse return;
        host.recordMetric(id, value) catch {};
    }

    pub fn warn(_: *TelemetryEnv, message: []const u8) void {
        host.log(.warn, message);
    }
};

/// The `:status` of a callout's answer; 0 when the call failed without one.
pub fn calloutStatus(headers_count: u32) u32 {
    if (headers_count == 0) return 0;
    const status = host.getHeader(.http_call_response_headers, ":status") catch return 0;
    return std.fmt.parseUnsigned(u32, status orelse return 0, 10) catch 0;
}
