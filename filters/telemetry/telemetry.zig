//! The filters' shared telemetry sender: settings (the `telemetry` object of a filter's
//! config), the batching pipeline, and its binding to a proxy-Wasm host.

pub const limits = @import("limits.zig");
pub const settings = @import("settings.zig");
pub const sender = @import("sender.zig");
pub const shared_store = @import("shared_store.zig");
/// Only for filters: these call the host (the native tests never reach them).
pub const host_env = @import("host_env.zig");
pub const QueueSender = @import("queue_sender.zig").QueueSender;

pub const Settings = settings.Settings;
pub const Options = sender.Options;
pub const Pipeline = sender.Pipeline;
pub const Metric = sender.Metric;

test {
    _ = settings;
    _ = sender;
}
