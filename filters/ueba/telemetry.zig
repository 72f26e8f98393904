//! meshveil-ueba's anomaly events leave through the sender the filters share
//! (filters/telemetry/: batches, retries with backoff, idempotent ids, counted drops),
//! from a queue per state namespace, with its stats under `meshveil.telemetry.*`.

const std = @import("std");
const shared = @import("telemetry");
const limits = @import("limits.zig");

pub const options = shared.Options{
    .module_name = "meshveil-ueba",
    .metric_prefix = "meshveil.telemetry",
    .event_bytes_max = limits.event_bytes_max,
};
pub const Env = shared.host_env.HostEnv(options);
pub const Pipeline = shared.Pipeline(Env, options);
pub const event_id_len = shared.sender.event_id_len;
pub const calloutStatus = shared.host_env.calloutStatus;

/// Longest queue name or depth key `QueueNames` builds.
const name_bytes_max = shared.limits.queue_name_bytes_max;

/// The queue of one state namespace and its shared depth counter.
pub const QueueNames = struct {
    queue_buffer: [name_bytes_max]u8 = undefined,
    queue_len: usize = 0,
    depth_buffer: [name_bytes_max]u8 = undefined,
    depth_len: usize = 0,

    pub fn init(namespace: []const u8) QueueNames {
        var names = QueueNames{};
        // A namespace is at most name_bytes_max (64) bytes: both names fit.
        names.queue_len = (std.fmt.bufPrint(&names.queue_buffer, "meshveil.telemetry.v1/{s}", .{namespace}) catch unreachable).len;
        names.depth_len = (std.fmt.bufPrint(&names.depth_buffer, "meshveil.telemetry.v1/{s}/depth", .{namespace}) catch unreachable).len;
        return names;
    }

    pub fn queue(self: *const QueueNames) []const u8 {
        return self.queue_buffer[0..self.queue_len];
    }

    pub fn depth(self: *const QueueNames) []const u8 {
        return self.depth_buffer[0..self.depth_len];
    }
};
