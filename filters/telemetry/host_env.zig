//! The sender's environment on a real proxy-Wasm host (`sender.Pipeline`'s `Env`): the
//! clock, shared data and queues, `proxy_http_call`, and the sender's Envoy stats.

const std = @import("std");
const assert = std.debug.assert;
const abi = @import("abi");
const sender = @import("sender.zig");
const limits = @import("limits.zig");

const host = abi.host;
const metric_count = @typeInfo(sender.Metric).@"enum".fields.len;

pub fn HostEnv(comptime options: sender.Options) type {
    return struct {
        const Self = @This();

        metric_ids: [metric_count]?u32 = .{null} ** metric_count,

        /// Defines the sender's stats (configure time).
        pub fn define(self: *Self) void {
            inline for (0..metric_count) |index| {
                const metric: sender.Metric = @enumFromInt(index);
                const kind: abi.types.MetricType = if (metric.isGauge()) .gauge else .counter;
                self.metric_ids[index] = host.defineMetric(kind, metric.name(options.metric_prefix)) catch null;
            }
        }

        pub fn nowMs(_: *Self) u64 {
            const nanos = host.currentTimeNanoseconds() catch 0;
            return nanos / std.time.ns_per_ms;
        }

        pub fn sharedGet(_: *Self, key: []const u8) sender.StoreError!?sender.SharedValue {
            const found = host.getSharedData(key) catch return error.StoreFailed;
            const shared = found orelse return null;
            return .{ .value = shared.value, .cas = shared.cas };
        }

        pub fn sharedSet(_: *Self, key: []const u8, value: []const u8, cas: u32) sender.StoreError!void {
            host.setSharedData(key, value, cas) catch |err| return switch (err) {
                error.CasMismatch => error.CasMismatch,
                else => error.StoreFailed,
            };
        }

        pub fn registerQueue(_: *Self, name: []const u8) ?u32 {
            return host.registerSharedQueue(name) catch null;
        }

        pub fn enqueue(_: *Self, queue: u32, bytes: []const u8) bool {
            host.enqueueSharedQueue(queue, bytes) catch return false;
            return true;
        }

        pub fn dequeue(_: *Self, queue: u32) ?[]const u8 {
            return host.dequeueSharedQueue(queue) catch null;
        }

        pub fn httpCall(_: *Self, request: sender.HttpRequest) ?u32 {
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
                host.logFmt(.warn, options.module_name ++ ": telemetry call to cluster \"{s}\" refused by the host: {s}", .{ request.upstream, @errorName(err) });
                return null;
            };
        }

        pub fn count(self: *Self, metric: sender.Metric, delta: u64) void {
            if (delta == 0) return;
            const id = self.metric_ids[@intFromEnum(metric)] orelse return;
            host.incrementMetric(id, @intCast(@min(delta, std.math.maxInt(i64)))) catch {};
        }

        pub fn gauge(self: *Self, metric: sender.Metric, value: u64) void {
            const id = self.metric_ids[@intFromEnum(metric)] orelse return;
            host.recordMetric(id, value) catch {};
        }

        pub fn warn(_: *Self, message: []const u8) void {
            host.log(.warn, message);
        }
    };
}

/// Unique per VM, node, plugin and start: the prefix of every event id a VM's sender
/// issues. A shared counter (`sequence_key`) tells apart VMs that start at the same
/// instant.
pub fn vmNonce(sequence_key: []const u8, plugin: []const u8, context_id: u32) [8]u8 {
    var sequence: u64 = 0;
    var attempt: u32 = 0;
    while (attempt < limits.cas_attempts_max) : (attempt += 1) {
        const read = host.getSharedData(sequence_key) catch break;
        const current: u64 = if (read) |shared| (if (shared.value.len == 8) std.mem.readInt(u64, shared.value[0..8], .little) else 0) else 0;
        var bytes: [8]u8 = undefined;
        std.mem.writeInt(u64, &bytes, current + 1, .little);
        host.setSharedData(sequence_key, &bytes, if (read) |shared| shared.cas else 0) catch continue;
        sequence = current + 1;
        break;
    }
    var hasher = std.crypto.hash.sha2.Sha256.init(.{});
    hasher.update(host.getProperty(&.{ "node", "id" }) catch null orelse "");
    hasher.update(plugin);
    hasher.update(std.mem.asBytes(&sequence));
    const now = host.currentTimeNanoseconds() catch 0;
    hasher.update(std.mem.asBytes(&now));
    hasher.update(std.mem.asBytes(&context_id));
    var digest: [32]u8 = undefined;
    hasher.final(&digest);
    return digest[0..8].*;
}

/// The `:status` of a callout's answer; 0 when the call failed without one.
pub fn calloutStatus(headers_count: u32) u32 {
    if (headers_count == 0) return 0;
    const status = host.getHeader(.http_call_response_headers, ":status") catch return 0;
    return std.fmt.parseUnsigned(u32, status orelse return 0, 10) catch 0;
}
