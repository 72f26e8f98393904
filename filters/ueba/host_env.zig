//! The filter logic's view of the host: shared data as a CAS store, request facts
//! (headers and properties) and the filter's Envoy stats. The only file of the UEBA
//! logic that calls `abi.host` (the telemetry sender has its own, filters/telemetry/).

const std = @import("std");
const assert = std.debug.assert;
const abi = @import("abi");
const state = @import("state.zig");

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

/// The UEBA filter's own stats (the telemetry sender defines its own).
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
    /// Findings the DLP filter made in bodies, counted when the stream ended.
    body_findings,

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
            .body_findings => "meshveil.ueba.body_findings",
        };
    }
};

const ueba_metrics = @typeInfo(Metric).@"enum".fields.len;

/// Metric ids of one root context, defined at configure time.
pub const Metrics = struct {
    ueba: [ueba_metrics]?u32 = .{null} ** ueba_metrics,

    pub fn define(self: *Metrics) void {
        inline for (0..ueba_metrics) |index| {
            self.ueba[index] = host.defineMetric(.counter, @as(Metric, @enumFromInt(index)).name()) catch null;
        }
    }

    pub fn count(self: *const Metrics, metric: Metric, delta: u64) void {
        if (delta == 0) return;
        const id = self.ueba[@intFromEnum(metric)] orelse return;
        host.incrementMetric(id, @intCast(@min(delta, std.math.maxInt(i64)))) catch {};
    }
};
